"""Knows which switches of the metro tree are connected, by name.

The one place that maps a datapath to a switch of the topology file; it
tells the other apps with `EventSwitchUp` / `EventSwitchDown`. A second
connection that claims the dpid of a connected switch is adopted only if the
connection we hold no longer answers an echo: otherwise it is an impostor (or
a confused switch) and is closed, so the live switch keeps its rules.
"""

from __future__ import annotations

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps.context import MetroshareContext
from apps.events import EventSwitchDown, EventSwitchUp

ECHO_TIMEOUT_S = 3.0  # the held connection must answer an echo within this to keep the dpid



class SwitchRegistry(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}
    _EVENTS = [EventSwitchUp, EventSwitchDown]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.metroshare: MetroshareContext = kwargs["metroshare"]
        self.unannounced: set = set()  # connections never announced up: no Down event either
        self.echo_waits: dict[tuple[object, int], hub.Event] = {}  # (datapath, xid) -> answered

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
            held = self.metroshare.connected.get(switch.name)
            if held is None or held is datapath or held.state == DEAD_DISPATCHER:
                self._adopt(switch, datapath)
            else:
                self.unannounced.add(datapath)
                hub.spawn(self._settle_claim, switch, held, datapath)
            return
        self._wake_echo_waits(datapath)
        if datapath in self.unannounced:
            self.unannounced.discard(datapath)
            return
        if self.metroshare.connected.get(switch.name) is datapath:
            del self.metroshare.connected[switch.name]
            self.logger.warning("switch %s (dpid %#x) disconnected", switch.name, switch.dpid)
        self.send_event_to_observers(EventSwitchDown(switch, datapath))

    def _adopt(self, switch, datapath) -> None:
        self.unannounced.discard(datapath)
        self.metroshare.connected[switch.name] = datapath
        self.logger.info("switch %s (dpid %#x, %s) connected", switch.name, switch.dpid,
                         switch.role)
        self.send_event_to_observers(EventSwitchUp(switch, datapath))

    def _settle_claim(self, switch, held, newcomer) -> None:
        """A second connection claims `switch`: keep the one we hold if it answers an
        echo (the newcomer is closed and logged), else the newcomer replaces it."""
        if self._answers_echo(held) and self.metroshare.connected.get(switch.name) is held:
            self.logger.warning(
                "refused a second connection claiming switch %s (dpid %#x) from %s: the switch "
                "is connected from %s and answers echo; closing the newcomer", switch.name,
                switch.dpid, _peer(newcomer), _peer(held))
            newcomer.close()
            return
        if newcomer.state == DEAD_DISPATCHER:
            return  # gone while we asked; its DEAD event already cleaned up
        self.logger.warning("switch %s (dpid %#x): the connection from %s no longer answers; "
                            "the new one from %s replaces it", switch.name, switch.dpid,
                            _peer(held), _peer(newcomer))
        self._adopt(switch, newcomer)
        if held.state != DEAD_DISPATCHER:
            held.close()

    def _answers_echo(self, datapath) -> bool:
        parser = datapath.ofproto_parser
        request = parser.OFPEchoRequest(datapath, data=b"metroshare: who holds this dpid?")
        datapath.set_xid(request)
        answered = hub.Event()
        key = (datapath, request.xid)
        self.echo_waits[key] = answered
        try:
            if not datapath.send_msg(request):
                return False
            answered.wait(ECHO_TIMEOUT_S)
            return answered.is_set() and datapath.state != DEAD_DISPATCHER
        finally:
            self.echo_waits.pop(key, None)

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def echo_reply_handler(self, ev) -> None:
        answered = self.echo_waits.get((ev.msg.datapath, ev.msg.xid))
        if answered is not None:
            answered.set()

    def _wake_echo_waits(self, datapath) -> None:
        """A connection that died cannot answer: stop waiting for it at once."""
        for (waiting_on, _xid), answered in list(self.echo_waits.items()):
            if waiting_on is datapath:
                answered.set()


def _peer(datapath) -> str:
    address = getattr(datapath, "address", None)
    return f"{address[0]}:{address[1]}" if address else "?"
