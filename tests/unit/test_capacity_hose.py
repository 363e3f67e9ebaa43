"""The hose model of `controller.capacity`, on small trees and random member sets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.capacity import hose, link_id
from topology import parse_topology
from topology.model import PortRef

# core - agg - {acc1, acc2}, and core - acc3 directly.
TREE = parse_topology("""
switches:
  core: {dpid: 1, role: core}
  agg:  {dpid: 2, role: aggregation}
  acc1: {dpid: 3, role: access}
  acc2: {dpid: 4, role: access}
  acc3: {dpid: 5, role: access}
links:
  - [core:1, agg:1]
  - [agg:2, acc1:1]
  - [agg:3, acc2:1]
  - [core:2, acc3:1]
""")
CORE_AGG, AGG_ACC1, AGG_ACC2, CORE_ACC3 = "core:1", "agg:2", "agg:3", "core:2"


def test_point_to_point_reserves_the_bandwidth_on_its_path() -> None:
    wanted = hose(TREE, [PortRef("acc1", 5), PortRef("acc3", 5)], 100)
    assert wanted == {CORE_AGG: 100, AGG_ACC1: 100, CORE_ACC3: 100}


def test_one_member_or_one_switch_reserves_nothing() -> None:
    assert hose(TREE, [PortRef("acc1", 5)], 100) == {}
    assert hose(TREE, [PortRef("acc1", 5), PortRef("acc1", 6)], 100) == {}


def test_multipoint_reserves_the_smaller_side() -> None:
    members = [PortRef("acc1", 5), PortRef("acc1", 6), PortRef("acc1", 7),
               PortRef("acc2", 5), PortRef("acc3", 5)]
    wanted = hose(TREE, members, 10)
    # acc1 side has 3 members, the rest 2: min is 2. acc2 and acc3 links: 1 member.
    assert wanted == {AGG_ACC1: 20, AGG_ACC2: 10, CORE_AGG: 10, CORE_ACC3: 10}


ports = st.builds(PortRef, st.sampled_from(["core", "agg", "acc1", "acc2", "acc3"]),
                  st.integers(5, 12))


@settings(max_examples=60, deadline=None)
@given(members=st.sets(ports, min_size=2, max_size=8), bandwidth=st.integers(1, 1000))
def test_hose_properties(members: set[PortRef], bandwidth: int) -> None:
    wanted = hose(TREE, members, bandwidth)
    subtree = TREE.subtree(members)
    assert set(wanted) == {link_id(link) for link in subtree.links}
    for mbps in wanted.values():
        # Each link carries at least one member's worth, at most half of them.
        assert bandwidth <= mbps <= len(members) // 2 * bandwidth
    # Order of members does not matter; scaling bandwidth scales reservations.
    assert hose(TREE, sorted(members, reverse=True), bandwidth) == wanted
    assert hose(TREE, members, 2 * bandwidth) == {k: 2 * v for k, v in wanted.items()}
