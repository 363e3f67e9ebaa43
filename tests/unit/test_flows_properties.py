"""Connectivity and isolation, proved by walking frames through compiled tables.

On random trees with random mixes of services, every interface sends to every
other interface (members or not), to broadcast, multicast and unknown MACs —
untagged, priority-tagged and with each customer VLAN its port holds — and
also sends foreign-tagged, double-tagged and spoofed frames; the frames that
leave the network must be exactly the ones the service semantics of CONTRACT
§3 allow, each with its receiver's own tag. tests/unit/test_flows_evpl.py runs
the same checks on ports shared by several services.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.compiler import compile_network, compile_switch
from flows.diff import flow_identity
from flows.intent import POINT_TO_MULTIPOINT, MemberIntent, ServiceIntent
from flows.rules import Flow, SwitchTables, match, service_cookie, service_of_cookie
from flows.simulator import Frame, NetworkSimulator
from tests.unit.test_flows_compiler import expected_counts
from tests.unit.test_flows_diff import check_plan
from tests.unit.test_flows_trees import networks
from topology.model import Host, PortRef, Topology

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
UNKNOWN = "02:ff:ff:ff:ff:ff"
PCP = 5  # the 802.1p bits of every tagged frame the tests send
Membership = tuple[PortRef, str, int | None]  # edge port, MAC, customer VLAN


def live(services: list[ServiceIntent]) -> dict[Membership, tuple[ServiceIntent, MemberIntent]]:
    """(port, MAC, customer VLAN) -> (service, member) for services that pass frames."""
    return {(m.edge_port, m.mac, m.ce_vlan): (s, m)
            for s in services if len(s.members) >= 2 for m in s.members}


def allowed(service: ServiceIntent, sender: MemberIntent, dst: str) -> dict[PortRef, int | None]:
    """Where the contract lets a frame from `sender` to `dst` arrive, with the
    receiver's customer VLAN there (None: untagged)."""
    others = [m for m in service.members if m is not sender]
    if service.type == POINT_TO_MULTIPOINT:
        if sender.role == "leaf":
            # A leaf's only peer is the root: all its frames go there, none to leaves.
            return {m.edge_port: m.ce_vlan for m in others if m.role == "root"}
        others = [m for m in others if m.role == "leaf"]
    known = [m for m in others if m.mac == dst]
    return {m.edge_port: m.ce_vlan for m in (known or others)}


def sends(members: dict[Membership, object], host: Host) -> list[tuple[Frame, int | None]]:
    """The tags `host` sends with, to `dst` filled in later: untagged,
    priority-tagged, and each customer VLAN one of its memberships holds
    (with the customer VLAN that selects the membership)."""
    held = sorted(ce for port, mac, ce in members
                  if (port, mac) == (host.edge_port, host.mac) and ce is not None)
    return [(Frame(host.mac, ""), None), (Frame(host.mac, "", (0,), pcps=(PCP,)), None)] + [
        (Frame(host.mac, "", (ce,), pcps=(PCP,)), ce) for ce in held]


def received(sent: Frame, ce_vlan: int | None) -> Frame:
    """`sent` as a receiver with customer VLAN `ce_vlan` must get it: its own tag,
    the sender's PCP bits (0 for an untagged frame)."""
    if ce_vlan is None:
        return replace(sent, vlans=(), pcps=())
    return replace(sent, vlans=(ce_vlan,), pcps=sent.pcps or (0,))


def simulate(
    network: tuple[Topology, list[ServiceIntent]],
) -> tuple[list[ServiceIntent], NetworkSimulator, list[Host]]:
    """The services, the compiled network ready for frames, and every interface."""
    topology, services = network
    sim = NetworkSimulator(topology, compile_network(topology, services))
    return services, sim, sorted(topology.hosts.values(), key=lambda h: h.name)


def fibers_towards(topology: Topology, src: PortRef, receivers: set[PortRef]) -> set[PortRef]:
    """The fiber ports a frame must leave by to reach `receivers` from `src`."""
    return {PortRef(hop.switch, hop.out_port)
            for dst in receivers for hop in topology.path(src, dst)[:-1]}


def wrong_deliveries(services: list[ServiceIntent], sim: NetworkSimulator,
                     hosts: list[Host]) -> Iterator[str]:
    """Every frame between interfaces that arrives where the contract says it must not,
    fails to arrive where it must, arrives twice, with another tag than the
    receiver's own or other PCP bits, or policed wrongly, or crosses a fiber
    off the tree paths to its receivers."""
    members = live(services)
    for host in hosts:
        for template, ce_vlan in sends(members, host):
            membership = members.get((host.edge_port, host.mac, ce_vlan))
            for dst in [h.mac for h in hosts if h is not host] + [BROADCAST, MULTICAST, UNKNOWN]:
                sent = replace(template, eth_dst=dst)
                trace = sim.trace(host.edge_port, sent)
                deliveries = trace.deliveries
                ports = [d.port for d in deliveries]
                if membership is None:
                    if deliveries or trace.crossings:
                        yield f"non-member {host.name} sent {sent}, reached {ports}"
                    continue
                service, sender = membership
                receivers = allowed(service, sender, dst)
                if len(ports) != len(set(ports)) or set(ports) != set(receivers):
                    yield f"{host.name} sent {sent}, reached {ports}"
                crossings = trace.crossings
                if (len(crossings) != len(set(crossings))
                        or set(crossings) != fibers_towards(sim.topology, host.edge_port,
                                                            set(receivers))):
                    yield f"{host.name} sent {sent}, crossed {crossings}"
                for d in deliveries:
                    if (d.frame != received(sent, receivers.get(d.port))
                            or d.meters != (sender.member_id,)):
                        yield f"{host.name} sent {sent}, left as {d}"


def foreign_frames(services: list[ServiceIntent], host: Host,
                   hosts: list[Host]) -> Iterator[Frame]:
    """Frames from `host`'s port that no membership may admit: a VID no membership
    of that port and MAC holds (VLAN hopping, provider VLANs), two tags (QinQ, also
    over a priority tag or a held VID; an inner 802.1ad tag shows as payload type
    0x88a8 under one tag), and another interface's or an unknown source MAC."""
    held = {m.ce_vlan for s in services for m in s.members
            if (m.edge_port, m.mac) == (host.edge_port, host.mac)}
    vids = {0, 1, 4094} | {s.vlan for s in services} | {m.ce_vlan for s in services
                                                        for m in s.members} - {None}
    for vid in sorted(vids - held):
        if vid:
            yield Frame(host.mac, BROADCAST, (vid,), pcps=(PCP,))
    for vid in sorted(vids | held - {None}):
        for inner in (vid, 1):
            yield Frame(host.mac, BROADCAST, (vid, inner), pcps=(PCP, PCP))
        yield Frame(host.mac, BROADCAST, (vid,), 0x88A8, (PCP,))
    for other in hosts:  # another customer's MAC, or a MAC on the wrong port
        if other is not host:
            for ce_vlan in held | {None}:
                yield Frame(other.mac, BROADCAST, () if ce_vlan is None else (ce_vlan,))
    yield Frame(UNKNOWN, BROADCAST)


@SETTINGS
@given(networks())
def test_every_pair_gets_exactly_what_the_service_allows(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    assert list(wrong_deliveries(*simulate(network))) == []


@settings(max_examples=25, deadline=None)
@given(networks(max_switches=6))
def test_every_rule_is_needed(network: tuple[Topology, list[ServiceIntent]]) -> None:
    """Minimality: without any one service rule, some frame goes wrong."""
    topology, services = network
    tables = compile_network(topology, services)
    hosts = sorted(topology.hosts.values(), key=lambda h: h.name)
    for name, switch in tables.items():
        for flow in switch.flows:
            if service_of_cookie(flow.cookie) is None:
                continue
            fewer = {**tables, name: replace(switch, flows=switch.flows - {flow})}
            sim = NetworkSimulator(topology, fewer)
            assert next(wrong_deliveries(services, sim, hosts), None), f"{name}: {flow}"


@SETTINGS
@given(networks())
def test_foreign_tagged_double_tagged_and_spoofed_frames_reach_nobody(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    services, sim, hosts = simulate(network)
    for host in hosts:
        for frame in foreign_frames(services, host, hosts):
            trace = sim.trace(host.edge_port, frame)
            assert (trace.deliveries, trace.crossings) == ([], []), (host.name, frame)


@SETTINGS
@given(networks())
def test_rule_counts_cookies_and_order_free_compilation(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    topology, services = network
    tables = compile_network(topology, services)
    for name in topology.switches:
        assert compile_switch(topology, services, name) == tables[name]
    reordered = [replace(s, members=s.members[::-1]) for s in reversed(services)]
    assert compile_network(topology, reordered) == tables
    for s in services:
        flows = [f for t in tables.values() for f in t.flows
                 if f.cookie == service_cookie(s.service_id)]
        groups = [g for t in tables.values() for g in t.groups if g.group_id == s.vlan]
        meters = [m for t in tables.values() for m in t.meters
                  if m.meter_id in {x.member_id for x in s.members}]
        got = (len(flows), len(groups), len(meters))
        if len(s.members) < 2:
            assert got == (0, 0, 0)
        else:
            assert got == expected_counts(topology, s)


@SETTINGS
@given(networks(), networks())
def test_plan_turns_any_tables_into_the_desired_ones(
    before: tuple[Topology, list[ServiceIntent]],
    after: tuple[Topology, list[ServiceIntent]],
) -> None:
    (t1, s1), (t2, s2) = before, after
    old = next(iter(compile_network(t1, s1).values()))
    new = next(iter(compile_network(t2, s2).values()))
    check_plan(old, new)


@SETTINGS
@given(networks(), st.data())
def test_plan_repairs_any_mix_of_right_stale_altered_and_foreign_entries(
    network: tuple[Topology, list[ServiceIntent]], data: st.DataObject,
) -> None:
    """A switch read back after tampering or a half-applied change: some of the
    desired entries, some left from other states, some altered, some foreign."""
    topology, services = network
    compiled = sorted(compile_network(topology, services).items())
    new = data.draw(st.sampled_from(compiled))[1]
    others = [t for _, t in compiled]
    flows = sorted({f for t in others for f in t.flows})
    groups = sorted({g for t in others for g in t.groups})
    meters = sorted({m for t in others for m in t.meters})
    altered = [replace(f, actions=(("output", 99),)) for f in sorted(new.flows)[:3]] \
        + [replace(f, cookie=f.cookie + 1) for f in sorted(new.flows)[3:6]] \
        + [Flow(0, 5, match(in_port=1), actions=(("output", 2),), cookie=0)]
    picked_flows = data.draw(st.lists(st.sampled_from(flows + altered)))
    picked_groups = data.draw(st.lists(st.sampled_from(groups))) if groups else []
    picked_meters = data.draw(st.lists(st.sampled_from(meters))) if meters else []
    # A switch holds one entry per identity: the last one picked wins.
    actual = SwitchTables(
        frozenset({flow_identity(f): f for f in picked_flows}.values()),
        frozenset({g.group_id: replace(g, buckets=g.buckets[:data.draw(st.integers(0, 2))])
                   for g in picked_groups}.values()),
        frozenset({m.meter_id: replace(m, rate_kbps=data.draw(st.sampled_from(
            [m.rate_kbps, 1]))) for m in picked_meters}.values()),
    )
    check_plan(actual, new)
