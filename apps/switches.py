"""Knows which switches of the metro tree are connected, by name.

The one place that maps a datapath to a switch of the topology file; it
tells the other apps with `EventSwitchUp` / `EventSwitchDown`.
"""

from __future__ import annotations

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.ofproto import ofproto_v1_3

from apps.context import MetroshareContext
from apps.events import EventSwitchDown, EventSwitchUp


class SwitchRegistry(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}
    _EVENTS = [EventSwitchUp, EventSwitchDown]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metroshare: MetroshareContext = kwargs["metroshare"]

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def state_change_handler(self, ev) -> None:
        datapath = ev.datapath
        if datapath.id is None:
            return  # closed before the features reply: never was a switch of ours
        switch = self.metroshare.topology.switch_by_dpid(datapath.id)
        if switch is None:
            if ev.state == MAIN_DISPATCHER:
                self.logger.warning("unknown switch dpid %#x connected: not in the topology file",
                                    datapath.id)
            return
        if ev.state == MAIN_DISPATCHER:
            self.metroshare.connected[switch.name] = datapath
            self.logger.info("switch %s (dpid %#x, %s) connected", switch.name, switch.dpid,
                             switch.role)
            self.send_event_to_observers(EventSwitchUp(switch, datapath))
            return
        if self.metroshare.connected.get(switch.name) is datapath:
            del self.metroshare.connected[switch.name]
            self.logger.warning("switch %s (dpid %#x) disconnected", switch.name, switch.dpid)
        self.send_event_to_observers(EventSwitchDown(switch, datapath))
