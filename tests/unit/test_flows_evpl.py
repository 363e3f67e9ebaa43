"""EVPL / EVP-LAN: services multiplexed on shared interfaces by customer VLAN.

Exact compiler output for a tagged, a translated and a mixed interface, the
rule counts of docs/flows.md, and — on random trees where interfaces mix
untagged and tagged memberships of several services — reachability with the
receiver's own tag and PCP, isolation, and that no foreign-tagged or
double-tagged frame leaks.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from flows.compiler import compile_network, compile_switch, infrastructure
from flows.desired import NetworkState
from flows.intent import (
    MULTIPOINT,
    POINT_TO_MULTIPOINT,
    POINT_TO_POINT,
    MemberIntent,
    ServiceIntent,
)
from flows.pipeline import PRIORITY_ACCEPT, PRIORITY_GUARD
from flows.rules import (
    COOKIE_INFRA,
    Flow,
    Group,
    SwitchTables,
    match,
    service_cookie,
    service_of_cookie,
)
from flows.simulator import Frame, NetworkSimulator
from tests.unit.test_flows_compiler import expected_counts
from tests.unit.test_flows_properties import foreign_frames, simulate, wrong_deliveries
from tests.unit.test_flows_trees import build_tree, evpl_networks
from topology.model import Host, Topology

BROADCAST = "ff:ff:ff:ff:ff:ff"
SETTINGS = settings(max_examples=80, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def member(member_id: int, host: Host, ce_vlan: int | None = None,
           role: str = "peer") -> MemberIntent:
    return MemberIntent(member_id, f"party{member_id}", host.name, host.edge_port, host.mac,
                        role, ce_vlan)


def svc(service_id: int, vlan: int, kind: str, *members: MemberIntent) -> ServiceIntent:
    return ServiceIntent(service_id, vlan, kind, 50, members)


def own(tables: SwitchTables, service_id: int) -> set[Flow]:
    return {f for f in tables.flows if f.cookie == service_cookie(service_id)}


@pytest.fixture
def pair() -> tuple[Topology, Host, Host]:
    """s0:1 -- s1:1, a customer on s0:2 and one on s1:2."""
    topology = build_tree([0])
    return topology, topology.hosts_on("s0")[0], topology.hosts_on("s1")[0]


def test_a_tagged_interface_shared_by_two_services(pair) -> None:
    topology, a, b = pair
    one = svc(1, 100, POINT_TO_POINT, member(1, a, 10), member(2, b, 10))
    two = svc(2, 200, POINT_TO_POINT, member(3, a, 20), member(4, b, 20))
    s0 = compile_switch(topology, [one, two], "s0")
    assert {f for f in own(s0, 1) if f.meter} == {
        Flow(0, PRIORITY_ACCEPT, match(in_port=2, vlan_vid=0x1000 | 10, eth_src=a.mac),
             (("set_vlan_vid", 100),), goto=1, meter=1, cookie=service_cookie(1))}
    assert {f for f in own(s0, 2) if f.meter} == {
        Flow(0, PRIORITY_ACCEPT, match(in_port=2, vlan_vid=0x1000 | 20, eth_src=a.mac),
             (("set_vlan_vid", 200),), goto=1, meter=3, cookie=service_cookie(2))}
    assert s0.groups == {
        Group(100, ((("output", 1),), (("set_vlan_vid", 10), ("output", 2)))),
        Group(200, ((("output", 1),), (("set_vlan_vid", 20), ("output", 2))))}
    # One meter per membership, on the one shared port.
    assert {m.meter_id for m in s0.meters} - {m.meter_id for m in
                                              infrastructure(topology, "s0").meters} == {1, 3}
    sim = NetworkSimulator(topology, compile_network(topology, [one, two]))
    for vid, meter in ((10, 1), (20, 3)):
        got = sim.send(a.edge_port, Frame(a.mac, b.mac, (vid,), pcps=(6,)))
        assert [(d.port, d.frame, d.meters) for d in got] == [
            (b.edge_port, Frame(a.mac, b.mac, (vid,), pcps=(6,)), (meter,))]


def test_translation_and_untagged_members_get_their_own_tag_back(pair) -> None:
    topology, a, b = pair
    one = svc(1, 100, POINT_TO_POINT, member(1, a, 10), member(2, b, 30))
    two = svc(2, 200, POINT_TO_POINT, member(3, a, 20), member(4, b))
    tables = compile_network(topology, [one, two])
    assert tables["s1"].groups == {
        Group(100, ((("output", 1),), (("set_vlan_vid", 30), ("output", 2)))),
        Group(200, ((("output", 1),), (("pop_vlan",), ("output", 2))))}
    sim = NetworkSimulator(topology, tables)

    def heard(port_host: Host, frame: Frame) -> list[tuple[str, Frame]]:
        return [(str(d.port), d.frame) for d in sim.send(port_host.edge_port, frame)]

    assert heard(a, Frame(a.mac, BROADCAST, (10,), pcps=(3,))) == [
        (str(b.edge_port), Frame(a.mac, BROADCAST, (30,), pcps=(3,)))]
    assert heard(b, Frame(b.mac, BROADCAST, (30,), pcps=(2,))) == [
        (str(a.edge_port), Frame(b.mac, BROADCAST, (10,), pcps=(2,)))]
    assert heard(a, Frame(a.mac, BROADCAST, (20,), pcps=(7,))) == [
        (str(b.edge_port), Frame(a.mac, BROADCAST))]
    # Untagged in, tagged out with PCP 0; priority-tagged in, its PCP carried.
    assert heard(b, Frame(b.mac, BROADCAST)) == [
        (str(a.edge_port), Frame(b.mac, BROADCAST, (20,)))]
    assert heard(b, Frame(b.mac, BROADCAST, (0,), pcps=(4,))) == [
        (str(a.edge_port), Frame(b.mac, BROADCAST, (20,), pcps=(4,)))]


def test_a_mixed_interface_admits_each_tag_to_its_own_service_only(pair) -> None:
    topology, a, b = pair
    untagged = svc(1, 100, MULTIPOINT, member(1, a), member(2, b))
    tagged = svc(2, 200, MULTIPOINT, member(3, a, 30), member(4, b, 30))
    s0 = compile_switch(topology, [untagged, tagged], "s0")
    admitted = {(f.cookie, dict(f.match)["vlan_vid"], f.actions)
                for f in own(s0, 1) | own(s0, 2) if f.meter is not None}
    assert admitted == {
        (service_cookie(1), 0x0000, (("push_vlan",), ("set_vlan_vid", 100))),
        (service_cookie(1), 0x1000, (("set_vlan_vid", 100),)),
        (service_cookie(2), 0x1000 | 30, (("set_vlan_vid", 200),))}
    sim = NetworkSimulator(topology, compile_network(topology, [untagged, tagged]))
    for frame, meters in ((Frame(a.mac, BROADCAST), (1,)),
                          (Frame(a.mac, BROADCAST, (0,), pcps=(5,)), (1,)),
                          (Frame(a.mac, BROADCAST, (30,), pcps=(5,)), (3,))):
        assert [d.meters for d in sim.send(a.edge_port, frame)] == [meters]
    for frame in (Frame(a.mac, BROADCAST, (40,)), Frame(a.mac, BROADCAST, (100,)),
                  Frame(a.mac, BROADCAST, (200,)), Frame(a.mac, BROADCAST, (30, 30)),
                  Frame(a.mac, BROADCAST, (0, 30)), Frame(a.mac, BROADCAST, (30,), 0x88A8),
                  Frame(a.mac, BROADCAST, (0,), 0x8100)):
        trace = sim.trace(a.edge_port, frame)
        assert (trace.deliveries, trace.crossings, trace.packet_ins) == ([], [], []), frame


def test_double_tag_guards_are_infrastructure() -> None:
    topology = build_tree([0])
    guards = {f for f in infrastructure(topology, "s0").flows if f.priority == PRIORITY_GUARD}
    assert guards == {Flow(0, PRIORITY_GUARD, match(eth_type=t), cookie=COOKIE_INFRA)
                      for t in (0x8100, 0x88A8)}


def test_a_flood_gives_each_member_port_of_a_switch_its_own_rewrite() -> None:
    topology = build_tree([0, 0])  # s0: fibers 1, 2; customers 3, 4, 5
    h3, h4, h5 = topology.hosts_on("s0")
    far = topology.hosts_on("s1")[0]
    intent = svc(1, 300, MULTIPOINT, member(1, h3, 10), member(2, h4), member(3, h5, 300),
                 member(4, far, 40))
    tables = compile_network(topology, [intent])
    assert tables["s0"].groups == {Group(300, (
        (("output", 1),), (("set_vlan_vid", 10), ("output", 3)), (("pop_vlan",), ("output", 4)),
        (("set_vlan_vid", 300), ("output", 5))))}
    steering = {dict(f.match)["eth_dst"]: f.actions for f in tables["s0"].flows
                if f.table == 1 and "eth_dst" in dict(f.match)}
    assert steering == {h3.mac: (("set_vlan_vid", 10), ("output", 3)),
                        h4.mac: (("pop_vlan",), ("output", 4)),
                        h5.mac: (("set_vlan_vid", 300), ("output", 5)),
                        far.mac: (("output", 1),)}
    sim = NetworkSimulator(topology, tables)
    got = {str(d.port): d.frame for d in sim.send(far.edge_port,
                                                  Frame(far.mac, BROADCAST, (40,), pcps=(1,)))}
    assert got == {str(h3.edge_port): Frame(far.mac, BROADCAST, (10,), pcps=(1,)),
                   str(h4.edge_port): Frame(far.mac, BROADCAST),
                   str(h5.edge_port): Frame(far.mac, BROADCAST, (300,), pcps=(1,))}


@pytest.mark.parametrize(("ce_vlans", "flows"), [
    ((None, None, None), 2 * 3 + 1 + 3),   # port-based: two ingress rules each
    ((10, 20, 30), 3 + 1 + 3),             # tagged: one each
    ((None, 10, 30), 2 + 1 + 1 + 1 + 3),   # mixed
])
def test_rule_count_of_one_switch(ce_vlans: tuple, flows: int) -> None:
    """A multipoint service on one switch (a branch: M unicast rules) with `flows`
    flows: ingress (2 untagged, 1 tagged), one flood, M steering rules."""
    topology = build_tree([])
    hosts = topology.hosts_on("s0")
    pairs = enumerate(zip(hosts, ce_vlans, strict=True))
    intent = svc(1, 10, MULTIPOINT, *(member(i + 1, h, ce) for i, (h, ce) in pairs))
    got = own(compile_network(topology, [intent])["s0"], 1)
    assert len(got) == flows == expected_counts(topology, intent)[0]


def test_refusals(pair) -> None:
    topology, a, b = pair
    for bad in (0, 4095):
        with pytest.raises(ValueError, match=f"customer VLAN {bad} is outside"):
            compile_network(topology, [svc(1, 10, MULTIPOINT, member(1, a, bad), member(2, b))])
    a2 = replace(member(3, a, 20), mac="02:00:00:00:ff:01")
    with pytest.raises(ValueError, match="different customer VLANs"):
        compile_network(topology, [svc(1, 10, MULTIPOINT, member(1, a, 10), member(2, b), a2)])
    one = svc(1, 100, MULTIPOINT, member(1, a, 10), member(2, b))
    same = svc(2, 200, MULTIPOINT, member(3, a, 10), member(4, b, 20))
    with pytest.raises(ValueError, match="clashes"):
        compile_network(topology, [one, same])
    state = NetworkState(topology)
    state.set(one)
    with pytest.raises(ValueError, match="clashes"):
        state.set(same)
    # The same port and MAC with another customer VLAN is another membership.
    other = replace(same, members=(member(3, a, 11), same.members[1]))
    assert state.set(other)
    assert {s: state.tables(s) for s in topology.switches} == compile_network(topology,
                                                                              [one, other])


def test_point_to_multipoint_leaves_on_one_tagged_interface_never_meet(pair) -> None:
    topology, a, b = pair
    leaf = topology.hosts_on("s1")[1]
    intent = svc(1, 100, POINT_TO_MULTIPOINT, member(1, a, 10, "root"),
                 member(2, b, 20, "leaf"), member(3, leaf, 30, "leaf"))
    sim = NetworkSimulator(topology, compile_network(topology, [intent]))
    assert [(d.port, d.frame.vlans) for d in sim.send(b.edge_port, Frame(
        b.mac, BROADCAST, (20,)))] == [(a.edge_port, (10,))]
    assert sorted((str(d.port), d.frame.vlans) for d in sim.send(a.edge_port, Frame(
        a.mac, BROADCAST, (10,)))) == [(str(b.edge_port), (20,)), (str(leaf.edge_port), (30,))]


# -- properties on random trees with shared interfaces ------------------------


@SETTINGS
@given(evpl_networks())
def test_every_pair_on_shared_interfaces_gets_exactly_what_its_service_allows(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    """Untagged, priority-tagged and each held customer VLAN: the service's members
    only, once, with the receiver's own tag and the sender's PCP, policed once."""
    assert list(wrong_deliveries(*simulate(network))) == []


@SETTINGS
@given(evpl_networks())
def test_foreign_and_double_tagged_frames_on_shared_interfaces_reach_nobody(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    services, sim, hosts = simulate(network)
    for host in hosts:
        for frame in foreign_frames(services, host, hosts):
            trace = sim.trace(host.edge_port, frame)
            assert (trace.deliveries, trace.crossings, trace.packet_ins) == ([], [], []), \
                (host.name, frame)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evpl_networks(max_switches=5, max_services=3))
def test_every_evpl_rule_is_needed(network: tuple[Topology, list[ServiceIntent]]) -> None:
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
@given(evpl_networks())
def test_evpl_rule_counts_and_the_installers_state(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    topology, services = network
    tables = compile_network(topology, services)
    for s in services:
        flows = [f for t in tables.values() for f in t.flows
                 if f.cookie == service_cookie(s.service_id)]
        meters = [m for t in tables.values() for m in t.meters
                  if m.meter_id in {x.member_id for x in s.members}]
        groups = [g for t in tables.values() for g in t.groups if g.group_id == s.vlan]
        got = (len(flows), len(groups), len(meters))
        assert got == ((0, 0, 0) if len(s.members) < 2 else expected_counts(topology, s))
    state = NetworkState(topology)
    for intent in services:
        state.set(intent)
    assert {s: state.tables(s) for s in topology.switches} == tables
