"""The desired tables of every switch, kept as one contribution per service.

A switch's tables are the union of the contributions of the services that
reach it plus the infrastructure rules. Keeping the contributions means a
change recompiles only the service it touches and its diff is computed over
that service's rules alone, so an acceptance costs the same with 4,000 live
services as with 10. Clashes between services (a VLAN, a meter, a flow
identity) are checked against indexes, not by recompiling the switch.
Pure: the installer in `apps/` drives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flows.compiler import compile_service, infrastructure
from flows.diff import flow_identity
from flows.intent import ServiceIntent
from flows.rules import Flow, SwitchTables, service_cookie
from topology.model import Topology

INFRA = -1  # owner of the infrastructure rules in the flow index


@dataclass(frozen=True, slots=True)
class Change:
    """What one service change does to one switch: its contribution before and after."""

    service_id: int
    old: SwitchTables | None
    new: SwitchTables | None

    @property
    def adds(self) -> bool:
        """True when the switch must gain a rule (a removal alone adds nothing)."""
        before = self.old.flows if self.old else frozenset()
        return bool(self.new and self.new.flows - before)


def union(parts: Iterable[SwitchTables | None]) -> SwitchTables:
    """One table set holding every rule of `parts` (None: no contribution)."""
    flows: set[Flow] = set()
    groups: set = set()
    meters: set = set()
    for part in parts:
        if part is not None:
            flows |= part.flows
            groups |= part.groups
            meters |= part.meters
    return SwitchTables(frozenset(flows), frozenset(groups), frozenset(meters))


class NetworkState:
    """Live service intents and, per switch, their compiled contributions."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.intents: dict[int, ServiceIntent] = {}
        # What each switch holds whatever the services (table-miss, probe rules).
        self._infra = {s: infrastructure(topology, s) for s in topology.switches}
        self._parts: dict[str, dict[int, SwitchTables]] = {s: {} for s in topology.switches}
        self._flows: dict[str, dict[tuple, int]] = {
            s: {flow_identity(f): INFRA for f in t.flows} for s, t in self._infra.items()}
        self._vlans: dict[int, int] = {}   # VLAN -> service id
        # meter id (member id) -> service id; the infrastructure's ids are reserved
        self._meters: dict[int, int] = {m.meter_id: INFRA for t in self._infra.values()
                                        for m in t.meters}
        self._span: dict[int, frozenset[str]] = {}

    def set(self, intent: ServiceIntent) -> list[tuple[str, Change]]:
        """Make `intent` the desired state of its service; the switches it changes.

        An intent with fewer than two members removes the service's rules.
        Raises ValueError, changing nothing, when the service is invalid or
        clashes with another service.
        """
        sid = intent.service_id
        new = compile_service(self.topology, intent)
        self._check(sid, intent, new)
        old = {s: self._parts[s][sid] for s in self._span.get(sid, ())}
        self._forget(sid, old)
        if new:
            self.intents[sid] = intent
            self._vlans[intent.vlan] = sid
            self._span[sid] = frozenset(new)
            for switch, part in new.items():
                self._parts[switch][sid] = part
                self._flows[switch].update((flow_identity(f), sid) for f in part.flows)
                self._meters.update((m.meter_id, sid) for m in part.meters)
        return [(s, Change(sid, old.get(s), new.get(s)))
                for s in sorted(old.keys() | new.keys()) if old.get(s) != new.get(s)]

    def _check(self, sid: int, intent: ServiceIntent, new: dict[str, SwitchTables]) -> None:
        if not new:
            return
        holder = self._vlans.get(intent.vlan, sid)
        if holder != sid:
            raise ValueError(f"services {holder} and {sid} share VLAN {intent.vlan}")
        for switch, part in new.items():
            index = self._flows[switch]
            for flow in part.flows:
                holder = index.get(flow_identity(flow), sid)
                if holder != sid:
                    raise ValueError(f"service {sid} clashes on {switch} with "
                                     f"{'the infrastructure' if holder == INFRA else holder}"
                                     f": both match {dict(flow.match)} in table {flow.table}")
            for meter in part.meters:
                holder = self._meters.get(meter.meter_id, sid)
                if holder == INFRA:
                    raise ValueError(f"member {meter.meter_id} of service {sid}: meter id "
                                     f"reserved for the infrastructure")
                if holder != sid:
                    raise ValueError(f"member {meter.meter_id} is in services {holder} "
                                     f"and {sid}")

    def _forget(self, sid: int, old: dict[str, SwitchTables]) -> None:
        intent = self.intents.pop(sid, None)
        if intent is not None and self._vlans.get(intent.vlan) == sid:
            del self._vlans[intent.vlan]
        self._span.pop(sid, None)
        for switch, part in old.items():
            del self._parts[switch][sid]
            index = self._flows[switch]
            for flow in part.flows:
                index.pop(flow_identity(flow), None)
            for meter in part.meters:
                if self._meters.get(meter.meter_id) == sid:
                    del self._meters[meter.meter_id]

    def switches_of(self, sid: int) -> frozenset[str]:
        """The switches service `sid` has rules on."""
        return self._span.get(sid, frozenset())

    def part(self, switch: str, sid: int) -> SwitchTables | None:
        """What service `sid` wants on `switch` now (None: nothing)."""
        return self._parts[switch].get(sid)

    def parts(self, switch: str) -> dict[int, SwitchTables]:
        """Every service's contribution on `switch` (a copy: a snapshot)."""
        return dict(self._parts[switch])

    def tables(self, switch: str, parts: dict[int, SwitchTables] | None = None) -> SwitchTables:
        """The complete desired tables of `switch` (of `parts` when given)."""
        whole = union((parts if parts is not None else self._parts[switch]).values())
        infra = self._infra[switch]
        return SwitchTables(whole.flows | infra.flows, whole.groups | infra.groups,
                            whole.meters | infra.meters)

    def holds(self, switch: str, key: tuple, cookie: int) -> bool:
        """True when `switch` should hold a flow of identity `key` with `cookie`."""
        owner = self._flows.get(switch, {}).get(key)
        if owner is None:
            return False
        if owner == INFRA:
            return any(flow_identity(f) == key and f.cookie == cookie
                       for f in self._infra[switch].flows)
        return service_cookie(owner) == cookie
