"""The table simulator follows the OpenFlow 1.3 / OVS semantics the proofs rely on."""

from __future__ import annotations

import pytest

from flows.rules import Flow, Group, Meter, SwitchTables, match
from flows.simulator import Frame, NetworkSimulator, Output, SimulationError, SwitchSimulator
from tests.unit.test_flows_trees import build_tree
from topology.model import PortRef

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
BROADCAST = "ff:ff:ff:ff:ff:ff"


def switch(*flows: Flow, groups: tuple[Group, ...] = (),
           meters: tuple[Meter, ...] = ()) -> SwitchSimulator:
    return SwitchSimulator(SwitchTables(frozenset(flows), frozenset(groups), frozenset(meters)))


def test_highest_priority_wins_and_miss_drops() -> None:
    sim = switch(Flow(0, 10, match(in_port=1), (("output", 2),)),
                 Flow(0, 20, match(in_port=1, eth_dst=B), (("output", 3),)))
    assert sim.process(1, Frame(A, B)) == [Output(3, Frame(A, B))]
    assert sim.process(1, Frame(A, A)) == [Output(2, Frame(A, A))]
    assert sim.process(2, Frame(A, B)) == []


def test_masked_match_on_multicast_bit() -> None:
    group_bit = ("01:00:00:00:00:00", "01:00:00:00:00:00")
    sim = switch(Flow(0, 10, match(eth_dst=group_bit), (("output", 2),)))
    assert sim.process(1, Frame(A, BROADCAST)) == [Output(2, Frame(A, BROADCAST))]
    assert sim.process(1, Frame(A, "01:00:5e:00:00:01"))
    assert sim.process(1, Frame(A, B)) == []


def test_vlan_match_values_are_the_wire_encoding() -> None:
    sim = switch(Flow(0, 10, match(vlan_vid=0), (("output", 2),)),
                 Flow(0, 10, match(vlan_vid=0x1000 | 7), (("output", 3),)),
                 Flow(0, 5, match(vlan_vid=(0x1000, 0x1000)), (("output", 4),)))
    assert sim.process(1, Frame(A, B))[0].port == 2
    assert sim.process(1, Frame(A, B, (7,)))[0].port == 3
    assert sim.process(1, Frame(A, B, (0,)))[0].port == 4  # priority-tagged is tagged


def test_push_set_pop_goto_and_meter() -> None:
    sim = switch(
        Flow(0, 10, match(in_port=1), (("push_vlan",), ("set_vlan_vid", 5)), goto=1, meter=9),
        Flow(1, 10, match(vlan_vid=0x1005), (("output", 2), ("pop_vlan",), ("output", 3))),
        meters=(Meter(9, 1000, 100),),
    )
    assert sim.process(1, Frame(A, B, (8,))) == [
        Output(2, Frame(A, B, (5, 8)), (9,)), Output(3, Frame(A, B, (8,)), (9,))]


def test_group_copies_per_bucket_and_never_hairpins() -> None:
    buckets = ((("output", 1),), (("pop_vlan",), ("output", 2)), (("output", 3),))
    sim = switch(Flow(0, 10, (), (("group", 4),)), groups=(Group(4, buckets),))
    assert sim.process(3, Frame(A, B, (5,))) == [Output(1, Frame(A, B, (5,))),
                                                  Output(2, Frame(A, B))]
    direct = switch(Flow(0, 10, (), (("output", 1),)))
    assert direct.process(1, Frame(A, B)) == []


def test_refuses_what_a_switch_would_refuse_or_leaves_undefined() -> None:
    with pytest.raises(SimulationError, match="missing group"):
        switch(Flow(0, 10, (), (("group", 4),)))
    with pytest.raises(SimulationError, match="missing meter"):
        switch(Flow(0, 10, (), meter=3))
    with pytest.raises(SimulationError, match="goes back"):
        switch(Flow(1, 10, (), goto=1))
    overlapping = switch(Flow(0, 10, match(in_port=1)), Flow(0, 10, match(eth_src=A)))
    with pytest.raises(SimulationError, match="overlap"):
        overlapping.process(1, Frame(A, B))
    with pytest.raises(SimulationError, match="untagged"):
        switch(Flow(0, 10, (), (("pop_vlan",),))).process(1, Frame(A, B))


def test_network_carries_frames_over_fiber_to_edge_ports() -> None:
    topology = build_tree([0])  # s0:1 -- s1:1
    flood = Flow(0, 10, (), (("output", 1), ("output", 2)))
    sim = NetworkSimulator(topology, {"s0": SwitchTables(frozenset({flood}), frozenset(),
                                                         frozenset()),
                                      "s1": SwitchTables(frozenset({flood}), frozenset(),
                                                         frozenset())})
    trace = sim.trace(PortRef("s0", 2), Frame(A, B))
    assert [d.port for d in trace.deliveries] == [PortRef("s1", 2)]
    assert trace.crossings == [PortRef("s0", 1)]
    assert sim.send(PortRef("s0", 2), Frame(A, B)) == trace.deliveries


def test_tags_carry_their_pcp_bits_as_ovs_does() -> None:
    """set_field vlan_vid keeps the PCP; pop takes the tag's PCP with it; push
    makes a tag of VID 0 and PCP 0, also over another tag (OVS 3.1, ofproto/trace)."""
    sim = switch(Flow(0, 10, match(in_port=1), (("set_vlan_vid", 9), ("output", 2),
                                                 ("pop_vlan",), ("output", 3),
                                                 ("push_vlan",), ("output", 4))))
    assert sim.process(1, Frame(A, B, (7, 8), pcps=(5, 3))) == [
        Output(2, Frame(A, B, (9, 8), pcps=(5, 3))), Output(3, Frame(A, B, (8,), pcps=(3,))),
        Output(4, Frame(A, B, (0, 8), pcps=(0, 3)))]
    assert Frame(A, B, (7,)) == Frame(A, B, (7,), pcps=(0,))
    with pytest.raises(ValueError, match="PCPs"):
        Frame(A, B, pcps=(1,))


def test_eth_type_is_the_type_after_the_outer_tag() -> None:
    """A second tag shows as eth_type 0x8100 (an inner 802.1ad tag is written as
    one tag over payload type 0x88a8, as OVS with vlan-limit 1 parses it)."""
    sim = switch(Flow(0, 10, match(eth_type=0x8100), (("output", 2),)),
                 Flow(0, 5, (), (("output", 3),)))
    assert sim.process(1, Frame(A, B, (0, 7)))[0].port == 2
    assert sim.process(1, Frame(A, B, (0,), 0x8100))[0].port == 2
    assert sim.process(1, Frame(A, B, (7,)))[0].port == 3
