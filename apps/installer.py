"""The ethernet provisioner: compiled tables onto the switches, confirmed.

`Installer.apply` is what the service core calls (`EthernetProvisioner`);
`Installer.reconcile` is what a switch connection triggers. Both end in
`_converge`: compile the desired tables of some switches, plan the change
from what each switch holds, send every plan back to back, then wait for
one barrier per switch. What a switch holds is remembered after each
confirmed change, so provisioning sends only the diff without a readback;
after an error or a reconnect the switch's tables are read back first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from ryu.lib import hub

from apps import readback
from apps.channel import Channel, ChannelError
from apps.lldp import lldp_flows
from controller.provisioning import INSTALLED, ProvisionResult
from flows.compiler import compile_switch
from flows.diff import plan
from flows.intent import ServiceIntent
from flows.rules import SwitchTables
from northbound import metrics
from topology.model import Topology

LOG = logging.getLogger("metroshare.provisioning")
BARRIER_TIMEOUT_S = 3.0   # a connected switch that answers nothing in this time has failed
READBACK_TIMEOUT_S = 3.0
# Changes by others that remove nothing (an added flow, an altered action) send
# no event; the provisioning app reads back and reconciles every switch this often.
AUDIT_INTERVAL_S = 30.0


class Installer:
    """Keeps the switches equal to the compiled state of the live services."""

    def __init__(self, topology: Topology, channel: Channel,
                 desired_intents: Callable[[], Iterable[ServiceIntent]]) -> None:
        self.topology = topology
        self.channel = channel
        self.datapaths: dict[str, object] = {}          # connected switches by name
        self._desired_intents = desired_intents
        self._intents: dict[int, ServiceIntent] | None = None
        self._confirmed: dict[str, SwitchTables] = {}  # last state a barrier confirmed
        self._target: dict[str, set[tuple]] = {}       # flow keys last sent, per switch
        self._spans: dict[int, tuple[ServiceIntent, frozenset[str]]] = {}  # by service id
        self._lock = hub.Semaphore(1)                  # one change at a time: diffs stay true

    # -- the core's EthernetProvisioner ---------------------------------------

    def apply(self, intent: ServiceIntent) -> ProvisionResult:
        """Make the switches hold exactly `intent` for its service; blocks until confirmed."""
        started = time.monotonic()
        try:
            return self._apply(intent)
        finally:
            metrics.observe("provisioning_seconds", time.monotonic() - started)

    def _apply(self, intent: ServiceIntent) -> ProvisionResult:
        with self._lock:
            intents = self._live_intents()
            old = intents.get(intent.service_id)
            if intent.members:
                intents[intent.service_id] = intent
            else:
                intents.pop(intent.service_id, None)
                self._spans.pop(intent.service_id, None)
            try:
                affected = set(self._span(old) | self._span(intent))
                before = {s: self._desired(s, [old] if old else []) for s in affected}
                statuses, errors = self._converge(affected, list(intents.values()))
            except ValueError as exc:  # the compiler refused the combination of services
                if old is None:
                    intents.pop(intent.service_id, None)
                else:
                    intents[intent.service_id] = old
                return ProvisionResult(ok=False, error=str(exc))
        for switch in sorted(affected - self.datapaths.keys()):
            after = self._desired(switch, [intent])
            if after.flows - before[switch].flows:
                errors.append(f"switch {switch} is not connected")
        ok = not errors
        return ProvisionResult(ok=ok, switches=statuses, error=None if ok else "; ".join(errors))

    # -- switch connections ----------------------------------------------------

    def switch_connected(self, name: str, datapath) -> None:
        self.datapaths[name] = datapath
        self._confirmed.pop(name, None)  # what it holds now is unknown: read it back

    def switch_disconnected(self, name: str, datapath) -> None:
        if self.datapaths.get(name) is datapath:
            del self.datapaths[name]
            self._confirmed.pop(name, None)

    def lost(self, name: str, table: int, priority: int, match: tuple) -> bool:
        """True when someone else removed a flow the switch should hold: read it back."""
        return (table, priority, match) in self._target.get(name, ())

    def reconcile(self, name: str) -> str | None:
        """Make one switch equal to the compiled state; None on success, else the error."""
        with self._lock:
            self._confirmed.pop(name, None)  # always from what the switch reports
            try:
                _, errors = self._converge({name}, list(self._live_intents().values()))
            except ValueError as exc:  # the compiler refused the stored services
                return f"cannot compile the desired state: {exc}"
        return "; ".join(errors) or None

    # -- the work ---------------------------------------------------------------

    def _live_intents(self) -> dict[int, ServiceIntent]:
        """What is installed, as this provisioner made it; seeded once from the core.

        Seeded once, not re-read on every reconnect: an accepted member is not
        yet in the core's `desired_intents()` while its `apply` is running.
        """
        if self._intents is None:
            self._intents = {i.service_id: i for i in self._desired_intents()}
        return self._intents

    def _span(self, intent: ServiceIntent | None) -> frozenset[str]:
        """The switches a service has rules on (cached: every change asks for it)."""
        if intent is None or len(intent.members) < 2:
            return frozenset()
        cached = self._spans.get(intent.service_id)
        if cached is None or cached[0] != intent:
            ports = (m.edge_port for m in intent.members)
            cached = self._spans[intent.service_id] = (intent,
                                                       self.topology.subtree(ports).switches)
        return cached[1]

    def _desired(self, switch: str, intents: list[ServiceIntent]) -> SwitchTables:
        """The compiled tables of `switch`, from the services that reach it only."""
        local = [i for i in intents if switch in self._span(i)]
        compiled = compile_switch(self.topology, local, switch)
        return SwitchTables(compiled.flows | lldp_flows(self.topology, switch),
                            compiled.groups, compiled.meters)

    def _converge(self, switches: Iterable[str],
                  intents: list[ServiceIntent]) -> tuple[dict[str, str], list[str]]:
        """Send each connected switch its diff, then wait for every barrier."""
        statuses: dict[str, str] = {}
        errors: list[str] = []
        sent = []
        wanted = {s: self._desired(s, intents) for s in switches}  # compile all before sending
        for switch, desired in sorted(wanted.items()):
            datapath = self.datapaths.get(switch)
            if datapath is None:
                statuses[switch] = "failed: switch not connected"
                continue
            try:
                actual = self._confirmed.get(switch) or self._read(datapath)
            except ChannelError as exc:
                statuses[switch] = f"failed: {exc}"
                errors.append(f"{switch}: {exc}")
                continue
            ops = plan(actual, desired)
            self._target[switch] = {(f.table, f.priority, f.match) for f in desired.flows}
            if not ops:
                self._confirmed[switch] = desired
                statuses[switch] = INSTALLED
                continue
            LOG.info("switch %s: sending %s", switch, _summary(ops))
            barrier_xid, waiter = self.channel.send_batch(datapath, ops)
            metrics.inc("flow_mods_sent", sum(op.kind.startswith("flow") for op in ops))
            sent.append((switch, datapath.id, barrier_xid, waiter, len(ops), desired))
        deadline = time.monotonic() + BARRIER_TIMEOUT_S
        for switch, dpid, barrier_xid, waiter, count, desired in sent:
            remaining = max(deadline - time.monotonic(), 0.01)
            failures = self.channel.wait_batch(dpid, barrier_xid, waiter, count, remaining)
            if failures:
                self._confirmed.pop(switch, None)
                statuses[switch] = f"failed: {failures[0]}"
                errors.append(f"{switch}: {failures[0]}")
                LOG.error("switch %s refused changes: %s", switch, "; ".join(failures))
            else:
                self._confirmed[switch] = desired
                statuses[switch] = INSTALLED
                LOG.debug("switch %s: %d changes confirmed", switch, count)
        return statuses, errors

    def _read(self, datapath) -> SwitchTables:
        """The flow, group and meter tables the switch reports."""
        ofp, parser = datapath.ofproto, datapath.ofproto_parser
        flows = self.channel.request(datapath, parser.OFPFlowStatsRequest(
            datapath, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY),
            READBACK_TIMEOUT_S)
        groups = self.channel.request(datapath, parser.OFPGroupDescStatsRequest(datapath),
                                      READBACK_TIMEOUT_S)
        meters = self.channel.request(datapath, parser.OFPMeterConfigStatsRequest(
            datapath, meter_id=ofp.OFPM_ALL), READBACK_TIMEOUT_S)
        return readback.tables_value(flows, groups, meters)


def _summary(ops: list) -> str:
    counts: dict[str, int] = {}
    for op in ops:
        counts[op.kind] = counts.get(op.kind, 0) + 1
    return ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
