"""The flow compiler: exact rules, rule counts, ids, cookies and refusals."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from flows.compiler import PROBE_METER_ID, compile_network, compile_switch, infrastructure
from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT, ServiceIntent
from flows.pipeline import (
    CLASSIFY,
    FORWARD,
    PRIORITY_ACCEPT,
    PRIORITY_FLOOD,
    PRIORITY_GUARD,
    TABLES,
)
from flows.rules import (
    COOKIE_INFRA,
    COOKIE_LLDP,
    Flow,
    Group,
    Meter,
    SwitchTables,
    match,
    service_cookie,
    service_of_cookie,
    vlan_tag,
)
from flows.simulator import Frame, NetworkSimulator
from tests.unit.test_flows_trees import KINDS, binary_tree, build_tree, leaf_hosts, service
from topology.model import Topology


def expected_counts(topology: Topology, intent: ServiceIntent) -> tuple[int, int, int]:
    """(flows, groups, meters) of a service, by the formulas of docs/flows.md."""
    members = intent.members
    m = len(members)
    # Ingress: untagged and priority-tagged for a port-based member, its VID for a tagged one.
    ingress = sum(2 if x.ce_vlan is None else 1 for x in members)
    sub = topology.subtree(x.edge_port for x in members)
    n = len(sub.ports)
    base = ingress + 2 * (n - 1) + n  # classify members, accept trunks, flood per switch
    if intent.type != POINT_TO_MULTIPOINT:
        branches = sum(1 for ports in sub.ports.values() if len(ports) >= 3)
        return base + m * branches, n, m
    root = members[0]
    steered = 0
    for switch, ports in sub.ports.items():
        path = topology.switch_path(switch, root.edge_port.switch)
        up = root.edge_port.port if len(path) == 1 else topology.port_towards(switch, path[1])
        if len(ports - {up}) >= 2:
            steered += sum(1 for leaf in members[1:]
                           if switch in topology.switch_path(root.edge_port.switch,
                                                             leaf.edge_port.switch))
    return base + n + steered, n, m


def service_rules(tables: dict[str, SwitchTables], service_id: int) -> tuple[set, set, set]:
    """The flows of one service, and the groups and meters (of the only service)."""
    cookie = service_cookie(service_id)
    flows = {(s, f) for s, t in tables.items() for f in t.flows if f.cookie == cookie}
    groups = {(s, g) for s, t in tables.items() for g in t.groups}
    meters = {(s, m) for s, t in tables.items() for m in t.meters if m.meter_id != PROBE_METER_ID}
    return flows, groups, meters


@pytest.mark.parametrize("levels", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", KINDS)
def test_rule_count_is_the_documented_minimum(levels: int, kind: str) -> None:
    topology = binary_tree(levels)
    hosts = leaf_hosts(topology)
    if levels == 1:
        hosts = topology.hosts_on("s0")
    intent = service(1, 10, kind, hosts[:2] if kind == POINT_TO_POINT else hosts)
    tables = compile_network(topology, [intent])
    flows, groups, meters = service_rules(tables, 1)
    assert (len(flows), len(groups), len(meters)) == expected_counts(topology, intent)
    spanned = topology.subtree(m.edge_port for m in intent.members).switches
    assert {s for s, _ in flows} == spanned
    for name, t in tables.items():
        infra = {f for f in t.flows if f.cookie == COOKIE_INFRA}
        guards = {CLASSIFY.flow(PRIORITY_GUARD, COOKIE_INFRA, eth_type=eth_type)
                  for eth_type in (0x8100, 0x88A8)}
        assert infra == {table.miss() for table in TABLES} | guards, name
        probes = {f for f in t.flows if f.cookie == COOKIE_LLDP}
        assert len(probes) == len(topology.trunk_ports(name)), name
        assert infra | probes == infrastructure(topology, name).flows, name


def test_point_to_point_on_a_path_is_three_flows_per_switch_and_two_priority_tags() -> None:
    topology = build_tree([0, 1, 2])  # a chain of four switches
    a, b = topology.hosts_on("s0")[0], topology.hosts_on("s3")[0]
    tables = compile_network(topology, [service(7, 70, POINT_TO_POINT, [a, b])])
    flows, groups, meters = service_rules(tables, 7)
    assert len(flows) == 14 and len(groups) == 4 and len(meters) == 2


def test_exact_rules_of_a_point_to_point_service() -> None:
    topology = build_tree([0])  # s0:1 -- s1:1; hosts on ports 2..4
    a, b = topology.hosts_on("s0")[0], topology.hosts_on("s1")[0]
    intent = service(5, 42, POINT_TO_POINT, [a, b], first_member_id=8)
    cookie, tag = service_cookie(5), 0x1000 | 42
    s0 = compile_switch(topology, [intent], "s0")
    assert s0.flows - infrastructure(topology, "s0").flows == {
        Flow(0, PRIORITY_ACCEPT, match(in_port=2, vlan_vid=0, eth_src=a.mac),
             (("push_vlan",), ("set_vlan_vid", 42)), goto=1, meter=8, cookie=cookie),
        # A priority-tagged frame (VID 0) counts as untagged: its tag becomes the service's.
        Flow(0, PRIORITY_ACCEPT, match(in_port=2, vlan_vid=0x1000, eth_src=a.mac),
             (("set_vlan_vid", 42),), goto=1, meter=8, cookie=cookie),
        Flow(0, PRIORITY_ACCEPT, match(in_port=1, vlan_vid=tag), goto=1, cookie=cookie),
        Flow(1, PRIORITY_FLOOD, match(vlan_vid=tag), (("group", 42),), cookie=cookie),
    }
    assert s0.groups == {Group(42, ((("output", 1),), (("pop_vlan",), ("output", 2))))}
    assert s0.meters - infrastructure(topology, "s0").meters == {Meter(8, 50_000, 5_000)}


def test_multipoint_steers_by_destination_only_where_the_tree_branches() -> None:
    topology = build_tree([0, 0])  # s0 joins s1 and s2
    hosts = [topology.hosts_on(s)[0] for s in ("s0", "s1", "s2")]
    tables = compile_network(topology, [service(1, 10, MULTIPOINT, hosts)])
    unicast = {(s, f.match) for s, t in tables.items() for f in t.flows
               if f.table == FORWARD.table_id and dict(f.match).get("eth_dst")}
    assert unicast == {("s0", match(vlan_vid=vlan_tag(10), eth_dst=h.mac)) for h in hosts}
    assert tables["s0"].groups == {
        Group(10, ((("output", 1),), (("output", 2),), (("pop_vlan",), ("output", 3))))}


def test_point_to_multipoint_leaf_frames_go_to_the_root_table() -> None:
    topology = build_tree([0])
    root, leaf1, leaf2 = topology.hosts_on("s0")[0], *topology.hosts_on("s1")[:2]
    tables = compile_network(topology, [service(3, 30, POINT_TO_MULTIPOINT,
                                                [root, leaf1, leaf2])])
    gotos = {(s, dict(f.match)["in_port"]): f.goto for s, t in tables.items() for f in t.flows
             if f.table == CLASSIFY.table_id and f.cookie == service_cookie(3)}
    # s0: root port 2 and the fiber from the leaves; s1: fiber from the root, two leaves
    assert gotos == {("s0", 2): 1, ("s0", 1): 2, ("s1", 1): 1, ("s1", 2): 2, ("s1", 3): 2}
    to_root = {f for f in tables["s1"].flows if f.table == 2 and f.cookie == service_cookie(3)}
    assert [f.actions for f in to_root] == [(("output", 1),)]


@pytest.mark.parametrize("kind", KINDS)
def test_services_with_fewer_than_two_members_compile_to_nothing(kind: str) -> None:
    topology = build_tree([0])
    for hosts in ([], topology.hosts_on("s1")[:1]):
        tables = compile_network(topology, [service(1, 10, kind, hosts)])
        for name, t in tables.items():
            assert t == infrastructure(topology, name)
            assert not t.groups


def test_point_to_multipoint_without_root_compiles_to_nothing() -> None:
    topology = build_tree([0])
    intent = service(1, 10, POINT_TO_MULTIPOINT, topology.hosts_on("s1"))
    leaves_only = ServiceIntent(1, 10, POINT_TO_MULTIPOINT, 50, intent.members[1:])
    assert all(not t.groups for t in compile_network(topology, [leaves_only]).values())


def test_compilation_is_deterministic_and_order_free() -> None:
    topology = binary_tree(3)
    hosts = sorted(topology.hosts.values(), key=lambda h: h.name)
    intents = [service(i + 1, 10 + i, kind, hosts[3 * i:3 * i + (2 if i == 0 else 3)])
               for i, kind in enumerate(KINDS)]
    first = compile_network(topology, intents)
    shuffled = intents[:]
    random.Random(4).shuffle(shuffled)
    assert compile_network(topology, shuffled) == first
    assert compile_switch(topology, intents, "s1") == first["s1"]


def test_group_and_meter_ids_follow_vlan_and_member() -> None:
    topology = binary_tree(2)
    hosts = sorted(topology.hosts.values(), key=lambda h: h.name)
    a = service(1, 100, MULTIPOINT, hosts[:3], first_member_id=11, bandwidth_mbps=7)
    b = service(2, 200, POINT_TO_MULTIPOINT, hosts[3:6], first_member_id=21)
    tables = compile_network(topology, [a, b])
    for name, t in tables.items():
        assert {g.group_id for g in t.groups} <= {100, 200}, name
        local = {m.member_id for s in (a, b) for m in s.members if m.edge_port.switch == name}
        assert {m.meter_id for m in t.meters} - {PROBE_METER_ID} == local
    assert Meter(11, 7000, 700) in tables[hosts[0].switch].meters


def test_cookies_name_their_service() -> None:
    assert service_of_cookie(service_cookie(12345)) == 12345
    assert service_of_cookie(COOKIE_INFRA) is None
    assert service_of_cookie(0) is None
    assert service_cookie(1) != service_cookie(2)
    with pytest.raises(ValueError):
        service_cookie(1 << 48)


def test_tables_refuse_undeclared_fields_and_gotos() -> None:
    with pytest.raises(ValueError, match="eth_src"):
        FORWARD.flow(PRIORITY_ACCEPT, 1, eth_src="00:00:00:00:00:01")
    with pytest.raises(ValueError, match="may not go"):
        FORWARD.flow(PRIORITY_FLOOD, 1, goto=CLASSIFY, vlan_vid=vlan_tag(3))


def test_refuses_inconsistent_intents() -> None:
    topology = build_tree([0])
    hosts = topology.hosts_on("s0") + topology.hosts_on("s1")
    with pytest.raises(ValueError, match="share VLAN"):
        compile_network(topology, [service(1, 10, MULTIPOINT, hosts[:2]),
                                   service(2, 10, MULTIPOINT, hosts[2:4])])
    with pytest.raises(ValueError, match="clashes"):
        compile_network(topology, [service(1, 10, MULTIPOINT, hosts[:2]),
                                   service(2, 20, MULTIPOINT, hosts[:2])])
    with pytest.raises(ValueError, match="3 members"):
        compile_network(topology, [service(1, 10, POINT_TO_POINT, hosts[:3])])
    with pytest.raises(ValueError, match="VLAN 4095"):
        compile_network(topology, [service(1, 4095, MULTIPOINT, hosts[:2])])
    with pytest.raises(ValueError, match="not in the topology"):
        compile_switch(topology, [], "nowhere")
    with pytest.raises(ValueError, match="unknown type"):
        compile_network(topology, [service(1, 10, "star", hosts[:2])])
    all_roots = service(1, 10, POINT_TO_MULTIPOINT, hosts[:3])
    all_roots = replace(all_roots, members=tuple(replace(m, role="root")
                                                 for m in all_roots.members))
    with pytest.raises(ValueError, match="3 roots"):
        compile_network(topology, [all_roots])


def test_a_leaf_sharing_the_root_port_still_reaches_no_leaf() -> None:
    topology = build_tree([0])
    root, leaf = topology.hosts_on("s0")[0], topology.hosts_on("s1")[0]
    intent = service(1, 10, POINT_TO_MULTIPOINT, [root, leaf])
    shared = replace(intent.members[1], member_id=999, mac="02:00:00:00:ff:01",
                     edge_port=root.edge_port)
    intent = replace(intent, members=(*intent.members, shared))
    sim = NetworkSimulator(topology, compile_network(topology, [intent]))
    # Root and this leaf share a wire; the network must not carry the leaf's frames.
    assert sim.send(root.edge_port, Frame(shared.mac, "ff:ff:ff:ff:ff:ff")) == []
    assert sim.send(root.edge_port, Frame(shared.mac, leaf.mac)) == []
    assert [d.port for d in sim.send(root.edge_port, Frame(root.mac, leaf.mac))] == \
        [leaf.edge_port]


def test_the_probe_meter_id_is_reserved_for_the_infrastructure() -> None:
    """Member ids are meter ids 1..MAX_METER_ID - 1; the one above is the packet-in cap's."""
    topology = build_tree([0])
    hosts = topology.hosts_on("s0") + topology.hosts_on("s1")
    with pytest.raises(ValueError, match="unusable as meter id"):
        compile_network(topology, [service(1, 10, MULTIPOINT, hosts[:2],
                                           first_member_id=PROBE_METER_ID)])
    last = service(1, 10, MULTIPOINT, [hosts[0], topology.hosts_on("s1")[0]],
                   first_member_id=PROBE_METER_ID - 2)
    meters = [(s, m) for s, t in compile_network(topology, [last]).items() for m in t.meters]
    assert sorted((s, m.meter_id) for s, m in meters) == [
        ("s0", PROBE_METER_ID - 2), ("s0", PROBE_METER_ID), ("s1", PROBE_METER_ID - 1),
        ("s1", PROBE_METER_ID)]
    assert all(m.pktps == (m.meter_id == PROBE_METER_ID) for _, m in meters)
