"""Compile live services into the exact rules of each switch of the metro tree.

Pure and deterministic: the same topology and intents always give the same
SwitchTables, so reconciliation can compare what a switch holds with what it
should hold as plain sets. docs/flows.md explains the pipeline and proves the
rule counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from flows.diff import flow_identity
from flows.intent import (
    MULTIPOINT,
    POINT_TO_MULTIPOINT,
    POINT_TO_POINT,
    MemberIntent,
    ServiceIntent,
)
from flows.pipeline import (
    CLASSIFY,
    ETH_TYPE_LLDP,
    ETH_TYPES_INNER_TAG,
    FORWARD,
    LLDP_MAC,
    PRIORITY_ACCEPT,
    PRIORITY_FLOOD,
    PRIORITY_GUARD,
    PRIORITY_PROBE,
    PRIORITY_UNICAST,
    PROBE_INTERVAL_S,
    TABLES,
    TO_ROOT,
    Table,
)
from flows.rules import (
    COOKIE_INFRA,
    COOKIE_LLDP,
    OFPP_CONTROLLER,
    VLAN_PRIORITY_TAGGED,
    VLAN_UNTAGGED,
    Action,
    Flow,
    Group,
    Meter,
    SwitchTables,
    service_cookie,
    vlan_tag,
)
from topology.model import PortRef, Subtree, Topology

MAX_METER_ID = 0xFFFF0000  # OFPM_MAX
BURST_SECONDS = 0.1        # a meter's burst: this much traffic at the full rate
# Meter ids: a member's meter is its member id, 1..MAX_METER_ID - 1; the one id
# above them is reserved for the packet-in cap every switch with a fiber port has.
PROBE_METER_ID = MAX_METER_ID
PROBE_HEADROOM = 4         # the packet-in cap admits this many times the probes due


@dataclass(frozen=True)
class _Plan:
    """A service that needs rules, with the part of the tree it spans."""

    intent: ServiceIntent
    subtree: Subtree
    root: MemberIntent | None  # point-to-multipoint only

    @property
    def cookie(self) -> int:
        return service_cookie(self.intent.service_id)

    @property
    def tag(self) -> int:
        return vlan_tag(self.intent.vlan)


def compile_network(
    topology: Topology, intents: Iterable[ServiceIntent]
) -> dict[str, SwitchTables]:
    """The desired tables of every switch, for the services in `intents`."""
    reaching: dict[str, list[_Plan]] = {name: [] for name in topology.switches}
    for plan in _plans(topology, intents):
        for name in plan.subtree.ports:
            reaching[name].append(plan)
    return {name: _compile(topology, reaching[name], name) for name in sorted(topology.switches)}


def compile_switch(
    topology: Topology, intents: Iterable[ServiceIntent], switch_name: str
) -> SwitchTables:
    """The desired tables of one switch (what reconciliation compares against)."""
    if switch_name not in topology.switches:
        raise ValueError(f"switch {switch_name} is not in the topology")
    return _compile(topology, _plans(topology, intents), switch_name)


def compile_service(topology: Topology, intent: ServiceIntent) -> dict[str, SwitchTables]:
    """One service's own rules on each switch it reaches, infrastructure excluded.

    A switch's tables are the union of these contributions and
    `infrastructure`, so a change to one service recompiles that service only
    (the installer keeps the contributions). Checks the service alone; clashes
    with other services are the caller's to check (`compile_network` does).
    """
    plan = _plan(topology, intent)
    if plan is None:
        return {}
    out = {}
    for switch in sorted(plan.subtree.ports):
        flows, group, meters = _service_rules(plan, switch)
        keyed = {flow_identity(f): f for f in flows}
        if len(keyed) != len(flows):
            raise ValueError(f"service {intent.service_id} has two rules with one match "
                             f"on {switch}")
        out[switch] = SwitchTables(frozenset(flows), frozenset((group,)), frozenset(meters))
    return out


def infrastructure(topology: Topology, switch: str) -> SwitchTables:
    """The rules `switch` holds whatever the services: each table's miss (drop),
    the double-tag guards and, on each fiber port, the LLDP probe rule — an
    untagged LLDP frame to the controller, through the probe meter. Member
    frames are tagged by `classify` before they reach a fiber port, so no
    customer frame matches it.

    The guards drop, on any port, a frame whose outer tag carries another tag:
    a customer's QinQ frame never enters a service (its outer VID could be a
    member's customer VLAN or a priority tag), and no service frame on a fiber
    carries two tags.
    """
    flows = {table.miss() for table in TABLES}
    flows.update(CLASSIFY.flow(PRIORITY_GUARD, COOKIE_INFRA, eth_type=eth_type)
                 for eth_type in ETH_TYPES_INNER_TAG)
    fiber = sorted(topology.trunk_ports(switch))
    if not fiber:
        return SwitchTables(frozenset(flows), frozenset(), frozenset())
    meter = probe_meter(len(fiber))
    flows.update(CLASSIFY.flow(
        PRIORITY_PROBE, COOKIE_LLDP, actions=(("output", OFPP_CONTROLLER),),
        meter=meter.meter_id,
        in_port=port, vlan_vid=VLAN_UNTAGGED, eth_type=ETH_TYPE_LLDP, eth_dst=LLDP_MAC,
    ) for port in fiber)
    return SwitchTables(frozenset(flows), frozenset(), frozenset((meter,)))


def probe_meter(fiber_ports: int) -> Meter:
    """The packet-in cap of a switch with `fiber_ports` fiber ports, in packets.

    Each neighbour sends one probe per PROBE_INTERVAL_S (and one when it
    connects); the cap admits PROBE_HEADROOM times that and drops the rest.
    """
    rate = math.ceil(PROBE_HEADROOM * fiber_ports / PROBE_INTERVAL_S)
    return Meter(PROBE_METER_ID, rate, PROBE_HEADROOM * fiber_ports, pktps=True)


def meter_for(intent: ServiceIntent, member: MemberIntent) -> Meter:
    """The ingress policer of a member: the service bandwidth as a DROP band."""
    rate_kbps = intent.bandwidth_mbps * 1000
    return Meter(member.member_id, rate_kbps, max(int(rate_kbps * BURST_SECONDS), 64))


# -- validation and planning -------------------------------------------------


def _plans(topology: Topology, intents: Iterable[ServiceIntent]) -> list[_Plan]:
    """Validate the intents together and plan those with something to install."""
    plans = []
    seen_services: set[int] = set()
    seen_vlans: dict[int, int] = {}
    seen_members: set[int] = set()
    for intent in sorted(intents, key=lambda i: i.service_id):
        sid = intent.service_id
        if sid in seen_services:
            raise ValueError(f"service {sid} is given twice")
        seen_services.add(sid)
        if intent.vlan in seen_vlans:
            raise ValueError(
                f"services {seen_vlans[intent.vlan]} and {sid} share VLAN {intent.vlan}"
            )
        seen_vlans[intent.vlan] = sid
        for m in intent.members:
            if m.member_id in seen_members:
                raise ValueError(f"member {m.member_id} is given twice (service {sid})")
            seen_members.add(m.member_id)
        plan = _plan(topology, intent)
        if plan is not None:
            plans.append(plan)
    return plans


def _plan(topology: Topology, intent: ServiceIntent) -> _Plan | None:
    sid, members = intent.service_id, intent.members
    vlan_tag(intent.vlan)  # validates the range
    service_cookie(sid)
    if intent.type not in (POINT_TO_POINT, POINT_TO_MULTIPOINT, MULTIPOINT):
        raise ValueError(f"service {sid} has unknown type {intent.type!r}")
    if intent.bandwidth_mbps < 1:
        raise ValueError(f"service {sid} has bandwidth {intent.bandwidth_mbps} Mb/s")
    if intent.type == POINT_TO_POINT and len(members) > 2:
        raise ValueError(f"point-to-point service {sid} has {len(members)} members")
    macs = [m.mac for m in members]
    if len(set(macs)) != len(macs):
        raise ValueError(f"service {sid} has two members with the same MAC")
    ce_vlans: dict[PortRef, int | None] = {}
    for m in members:
        if not 1 <= m.member_id < PROBE_METER_ID:
            raise ValueError(f"member {m.member_id} of service {sid}: id unusable as meter id")
        if m.ce_vlan is not None and not 1 <= m.ce_vlan <= 4094:
            raise ValueError(f"member {m.member_id} of service {sid}: customer VLAN "
                             f"{m.ce_vlan} is outside 1..4094")
        # A switch never sends a frame back out of its ingress port, and a port
        # gets one copy of a flood: one customer VLAN per port and service.
        if ce_vlans.setdefault(m.edge_port, m.ce_vlan) != m.ce_vlan:
            raise ValueError(f"service {sid} has members on {m.edge_port} with different "
                             f"customer VLANs")
    if len(members) < 2:
        return None
    root = None
    if intent.type == POINT_TO_MULTIPOINT:
        roots = [m for m in members if m.role == "root"]
        if len(roots) > 1:
            raise ValueError(f"point-to-multipoint service {sid} has {len(roots)} roots")
        if not roots:
            return None  # leaves alone may reach nobody
        root = roots[0]
    return _Plan(intent, topology.subtree(m.edge_port for m in members), root)


# -- rules of one switch -------------------------------------------------------


def _compile(topology: Topology, plans: list[_Plan], switch: str) -> SwitchTables:
    infra = infrastructure(topology, switch)
    flows: dict[tuple, Flow] = {flow_identity(f): f for f in infra.flows}
    groups: dict[int, Group] = {}
    meters: dict[int, Meter] = {m.meter_id: m for m in infra.meters}
    for plan in plans:
        if switch not in plan.subtree.ports:  # compile_switch passes every plan
            continue
        plan_flows, group, plan_meters = _service_rules(plan, switch)
        for flow in plan_flows:
            if flow_identity(flow) in flows:
                raise ValueError(
                    f"service {plan.intent.service_id} clashes on {switch} with "
                    f"another rule matching {dict(flow.match)} in table {flow.table}"
                )
            flows[flow_identity(flow)] = flow
        groups[group.group_id] = group
        meters.update((m.meter_id, m) for m in plan_meters)
    return SwitchTables(frozenset(flows.values()), frozenset(groups.values()),
                        frozenset(meters.values()))


def _service_rules(plan: _Plan, switch: str) -> tuple[list[Flow], Group, list[Meter]]:
    """Classify, forward and flood rules of one service on one switch."""
    intent, subtree, cookie, tag = plan.intent, plan.subtree, plan.cookie, plan.tag
    ce_vlans = {m.edge_port.port: m.ce_vlan for m in intent.members
                if m.edge_port.switch == switch}

    def out(port: int) -> tuple[Action, ...]:
        """Output to a port, giving a member's port its own tag back: none (pop)
        or its customer VLAN (set_field keeps the PCP bits)."""
        if port not in ce_vlans:
            return (("output", port),)
        if ce_vlans[port] is None:
            return (("pop_vlan",), ("output", port))
        return (("set_vlan_vid", ce_vlans[port]), ("output", port))

    ports = subtree.ports[switch]
    if plan.root is None:
        up = None
        flood_ports = ports
        steered = intent.members
    else:
        # Orient the tree at the root: frames entering through `up` come from
        # the root, frames entering any other port come from a leaf.
        up = subtree.next_port(switch, plan.root.edge_port)
        flood_ports = ports - {up}
        steered = tuple(m for m in intent.members
                        if m is not plan.root and subtree.next_port(switch, m.edge_port) != up)

    def after(port: int) -> Table:
        """Where a frame from a fiber port goes: away from the root or towards it."""
        return FORWARD if up is None or port == up else TO_ROOT

    flows, meters = [], []
    for m in intent.members:
        if m.edge_port.switch != switch:
            continue
        meter = meter_for(intent, m)
        meters.append(meter)
        retag = ("set_vlan_vid", intent.vlan)
        if m.ce_vlan is None:
            # Untagged frames get the service tag; priority-tagged ones (VID 0)
            # count as untagged and keep their PCP in the service tag.
            admitted = [(VLAN_UNTAGGED, (("push_vlan",), retag)),
                        (VLAN_PRIORITY_TAGGED, (retag,))]
        else:
            admitted = [(vlan_tag(m.ce_vlan), (retag,))]
        flows.extend(CLASSIFY.flow(
            PRIORITY_ACCEPT, cookie, actions=actions,
            goto=FORWARD if plan.root in (None, m) else TO_ROOT,
            meter=meter.meter_id,
            in_port=m.edge_port.port, vlan_vid=vid, eth_src=m.mac,
        ) for vid, actions in admitted)
    for port in sorted(subtree.trunk_ports(switch)):
        flows.append(CLASSIFY.flow(
            PRIORITY_ACCEPT, cookie, goto=after(port), in_port=port, vlan_vid=tag))

    group = Group(intent.vlan, tuple(out(p) for p in sorted(flood_ports)))
    flows.append(FORWARD.flow(PRIORITY_FLOOD, cookie, actions=(("group", group.group_id),),
                              vlan_vid=tag))
    # Where a flooded frame has only one way out besides its ingress, flooding
    # already is unicast forwarding: steer by destination only at branches.
    ways_out = len(flood_ports) - (1 if up is None else 0)
    if ways_out >= 2:
        for m in steered:
            flows.append(FORWARD.flow(
                PRIORITY_UNICAST, cookie,
                actions=out(subtree.next_port(switch, m.edge_port)),
                vlan_vid=tag, eth_dst=m.mac,
            ))
    if up is not None:
        flows.append(TO_ROOT.flow(PRIORITY_FLOOD, cookie, actions=out(up), vlan_vid=tag))
    return flows, group, meters
