"""Paths and subtrees on generated trees of depth 1 to 4."""

from __future__ import annotations

import itertools

import pytest

from topology import Hop, PortRef, Topology
from topology.model import Link, Switch

EDGE_PORTS = (10, 11)  # two customer ports on every switch


def balanced_tree(depth: int, fanout: int = 2) -> Topology:
    """A tree with `depth` levels of switches; port 1 goes up, 2.. go down."""
    switches, links = [Switch("s0", 1, "core")], []
    level, n = ["s0"], 1
    for d in range(1, depth):
        nxt = []
        for parent in level:
            for i in range(fanout):
                n += 1
                name = f"s{n - 1}"
                switches.append(Switch(name, n, "access" if d == depth - 1 else "aggregation"))
                links.append(Link(PortRef(parent, 2 + i), PortRef(name, 1)))
                nxt.append(name)
        level = nxt
    return Topology(switches, links)


def edge_ports(topo: Topology) -> list[PortRef]:
    return [PortRef(s, p) for s in topo.switches for p in EDGE_PORTS]


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_path_between_every_pair_of_edge_ports_is_walkable(depth):
    topo = balanced_tree(depth)
    for src, dst in itertools.permutations(edge_ports(topo), 2):
        hops = topo.path(src, dst)
        assert hops[0].switch == src.switch and hops[0].in_port == src.port
        assert hops[-1].switch == dst.switch and hops[-1].out_port == dst.port
        for here, there in itertools.pairwise(hops):
            # leaving `here` on out_port must arrive at `there` on in_port
            link = topo.link_at(PortRef(here.switch, here.out_port))
            far = link.b if link.a == PortRef(here.switch, here.out_port) else link.a
            assert far == PortRef(there.switch, there.in_port)
        assert len(hops) == len(topo.switch_path(src.switch, dst.switch))


def test_path_on_demo_tree(metro_yaml):
    from topology import load_topology

    topo = load_topology(metro_yaml)
    assert topo.path(PortRef("acc1", 2), PortRef("acc4", 3)) == [
        Hop("acc1", 2, 1), Hop("agg1", 2, 1), Hop("core1", 1, 2), Hop("agg2", 1, 3),
        Hop("acc4", 1, 3),
    ]
    assert topo.path(PortRef("acc1", 2), PortRef("acc1", 3)) == [Hop("acc1", 2, 3)]


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_subtree_is_union_of_member_paths(depth):
    topo = balanced_tree(depth)
    ports = edge_ports(topo)
    for k in (1, 2, 3, 5):
        members = ports[:: max(1, len(ports) // k)][:k]
        sub = topo.subtree(members)
        expected = set()
        for a, b in itertools.combinations(members, 2):
            expected.update(topo.switch_path(a.switch, b.switch))
        expected.update(m.switch for m in members)
        assert sub.switches == expected
        assert len(sub.links) == len(expected) - 1
        for m in members:
            assert m.port in sub.ports[m.switch]


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_next_port_leads_to_the_member(depth):
    topo = balanced_tree(depth)
    ports = edge_ports(topo)
    members = [ports[0], ports[-1], ports[len(ports) // 2]]
    sub = topo.subtree(members)
    for target in members:
        for switch in sub.switches:
            here, steps = switch, 0
            while here != target.switch:
                port = sub.next_port(here, target)
                assert port in sub.trunk_ports(here)
                here = topo.trunk_ports(here)[port]
                steps += 1
            assert steps == len(topo.switch_path(switch, target.switch)) - 1
            assert sub.next_port(target.switch, target) == target.port


def test_subtree_trunk_ports_exclude_member_ports():
    topo = balanced_tree(3)
    a, b = PortRef("s3", 10), PortRef("s3", 11)
    sub = topo.subtree([a, b])
    assert sub.switches == {"s3"} and sub.links == ()
    assert sub.trunk_ports("s3") == frozenset()


def test_subtree_refuses_fiber_ports_and_empty_sets():
    topo = balanced_tree(2)
    with pytest.raises(ValueError, match="not an edge port"):
        topo.subtree([PortRef("s0", 2)])
    with pytest.raises(ValueError, match="at least one"):
        topo.subtree([])
