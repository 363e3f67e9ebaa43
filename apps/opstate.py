"""Operational state: switches and fiber links up or down, and the LLDP link check.

Switch connections and port status go to the service core, which turns
them into `degraded`/`active` services and the topology view. LLDP probes
(apps.lldp) check every fiber link against the topology file; each mismatch
and each link that stops answering is logged once when it appears.
"""

from __future__ import annotations

import time

from ryu.base import app_manager
from ryu.controller import ofp_event
from ryu.controller.handler import MAIN_DISPATCHER, set_ev_cls
from ryu.lib import hub
from ryu.ofproto import ofproto_v1_3

from apps import lldp, ofwire
from apps.context import MetroshareContext
from apps.events import EventLeadership, EventSwitchDown, EventSwitchUp
from flows import pipeline
from topology.model import PortRef

# The packet-in cap of each switch (flows.compiler.probe_meter) is sized from it.
PROBE_INTERVAL_S = pipeline.PROBE_INTERVAL_S
SILENT_AFTER_S = 3 * PROBE_INTERVAL_S  # a fiber link with no probe this long is reported


def port_is_up(port) -> bool:
    """An OFPPort that exists, is not administratively down and has a link."""
    return port is not None and not (port.config & ofproto_v1_3.OFPPC_PORT_DOWN) \
        and not (port.state & ofproto_v1_3.OFPPS_LINK_DOWN)


class OperationalState(app_manager.RyuApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]
    _CONTEXTS = {"metroshare": MetroshareContext}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        context: MetroshareContext = kwargs["metroshare"]
        self.core = context.core
        self.switch_of = context.switch_of  # None for a connection that is not the switch's
        self.topology = context.topology
        self.metroshare = context  # several controllers: only the leader probes
        self.datapaths: dict[str, object] = {}
        self.last_probe: dict[PortRef, float] = {}  # fiber port -> when a correct probe arrived
        self.problems: dict[PortRef, str] = {}      # mismatches logged and not yet cleared
        self.stopping = hub.Event()
        self.threads.append(hub.spawn(self._probe_loop))

    def stop(self) -> None:
        self.stopping.set()  # wakes the probe loop now: Ryu joins it before exiting
        super().stop()

    @set_ev_cls(EventSwitchUp)
    def switch_up_handler(self, ev: EventSwitchUp) -> None:
        name, datapath = ev.switch.name, ev.datapath
        self.datapaths[name] = datapath
        self._switch_is_up(name, datapath)

    @set_ev_cls(EventLeadership)
    def leadership_handler(self, ev: EventLeadership) -> None:
        """A new leader starts from what it sees itself; a standby forgets its probes."""
        self.last_probe.clear()
        if ev.leader:
            self.core.reset_network_status()
            for name, datapath in list(self.datapaths.items()):
                self._switch_is_up(name, datapath, probe=False)  # after the MASTER claim

    def _switch_is_up(self, name: str, datapath, probe: bool = True) -> None:
        self.core.set_switch_connected(name, True)
        for port in self.topology.trunk_ports(name):
            self.last_probe.pop(PortRef(name, port), None)
            self.core.set_link_up(PortRef(name, port), port_is_up(datapath.ports.get(port)))
        if probe:
            self._probe(name, datapath)

    @property
    def leads(self) -> bool:
        return self.metroshare.leads

    @set_ev_cls(EventSwitchDown)
    def switch_down_handler(self, ev: EventSwitchDown) -> None:
        if self.datapaths.get(ev.switch.name) is ev.datapath:
            del self.datapaths[ev.switch.name]
            self.core.set_switch_connected(ev.switch.name, False)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def port_status_handler(self, ev) -> None:
        msg = ev.msg
        switch = self.switch_of(msg.datapath)
        if switch is None:
            return
        ref = PortRef(switch.name, msg.desc.port_no)
        if self.topology.link_at(ref) is None:
            return  # a customer port: its state is the customer's business
        up = msg.reason != msg.datapath.ofproto.OFPPR_DELETE and port_is_up(msg.desc)
        self.logger.info("fiber port %s is %s", ref, "up" if up else "down")
        self.core.set_link_up(ref, up)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in_handler(self, ev) -> None:
        msg = ev.msg
        switch = self.switch_of(msg.datapath)
        sender = lldp.parse_probe(bytes(msg.data))
        if switch is None or sender is None:
            return
        at = PortRef(switch.name, msg.match["in_port"])
        problem = lldp.check(self.topology, at, *sender)
        if problem is None:
            self.last_probe[at] = time.monotonic()
            self._clear(at)
        else:
            self._report(at, problem)

    def _probe_loop(self) -> None:
        """Every interval: probe out of every fiber port, then report silent links."""
        while True:
            for name, datapath in list(self.datapaths.items()):
                self._probe(name, datapath)
            if self.stopping.wait(PROBE_INTERVAL_S):
                return
            if not self.leads:
                continue
            now = time.monotonic()
            for name in list(self.datapaths):
                for port in self.topology.trunk_ports(name):
                    ref = PortRef(name, port)
                    seen = self.last_probe.setdefault(ref, now)
                    if now - seen > SILENT_AFTER_S:
                        self._report(ref, f"no LLDP from the far end of fiber port {ref} "
                                          f"for over {SILENT_AFTER_S:g} s")

    def _probe(self, name: str, datapath) -> None:
        """Probe out of the fiber ports the switch has (a missing one stays silent:
        reported). Only the leader may send packets (a SLAVE's are refused)."""
        if not self.leads:
            return
        for port in self.topology.trunk_ports(name):
            if port in datapath.ports:
                datapath.send(ofwire.packet_out(port, lldp.probe(datapath.id, port), 0))

    def _report(self, at: PortRef, problem: str) -> None:
        if self.problems.get(at) != problem:
            self.problems[at] = problem
            self.logger.warning("LLDP check: %s", problem)

    def _clear(self, at: PortRef) -> None:
        if self.problems.pop(at, None) is not None:
            self.logger.info("LLDP check: fiber port %s now matches the topology", at)
