"""apps.ofwire against Ryu's own serialisation, and apps.readback round trips."""

from __future__ import annotations

import struct

import pytest
from ryu.ofproto import ofproto_protocol
from ryu.ofproto import ofproto_v1_3 as ofp
from ryu.ofproto import ofproto_v1_3_parser as parser

from apps import lldp, ofwire, readback
from flows.compiler import PROBE_METER_ID, compile_network, infrastructure
from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, MemberIntent, ServiceIntent
from flows.pipeline import ETH_TYPE_LLDP, LLDP_MAC, PRIORITY_GUARD, PRIORITY_PROBE
from flows.rules import COOKIE_INFRA, COOKIE_LLDP, Flow, Group, Meter, match
from tests.conftest import METRO_YAML
from topology import load_topology
from topology.model import PortRef

DP = ofproto_protocol.ProtocolDesc(ofp.OFP_VERSION)
COOKIE = 0x6D73 << 48 | 7

FLOWS = [
    Flow(0, 2000, match(in_port=2, vlan_vid=0, eth_src="00:00:00:00:00:01"),
         actions=(("push_vlan",), ("set_vlan_vid", 42)), goto=1, meter=5, cookie=COOKIE),
    Flow(0, 2000, match(in_port=1, vlan_vid=0x1000 | 42), goto=2, cookie=COOKIE),
    Flow(1, 1000, match(vlan_vid=0x1000 | 42), actions=(("group", 42),), cookie=COOKIE),
    Flow(1, 2000, match(vlan_vid=0x1000 | 42, eth_dst="00:00:00:00:00:0a"),
         actions=(("pop_vlan",), ("output", 3)), cookie=COOKIE),
    Flow(1, 3000, match(vlan_vid=(0x1000, 0x1000), eth_dst=("01:00:00:00:00:00",
                                                            "01:00:00:00:00:00")),
         actions=(("output", 7),), cookie=1),
    Flow(0, 0, (), cookie=0x6D69 << 48),
    # The LLDP probe rule of a fiber port (flows.compiler.infrastructure).
    Flow(0, PRIORITY_PROBE, match(in_port=1, vlan_vid=0, eth_type=ETH_TYPE_LLDP,
                                  eth_dst=LLDP_MAC),
         actions=(("output", ofp.OFPP_CONTROLLER),), meter=PROBE_METER_ID, cookie=COOKIE_LLDP),
    # EVPL: a tagged member's ingress (customer VID -> service VID), a priority-tagged
    # frame admitted as untagged, a translated egress, the double-tag guard.
    Flow(0, 2000, match(in_port=2, vlan_vid=0x1000 | 10, eth_src="00:00:00:00:00:01"),
         actions=(("set_vlan_vid", 42),), goto=1, meter=6, cookie=COOKIE),
    Flow(0, 2000, match(in_port=2, vlan_vid=0x1000, eth_src="00:00:00:00:00:01"),
         actions=(("set_vlan_vid", 42),), goto=1, meter=5, cookie=COOKIE),
    Flow(1, 2000, match(vlan_vid=0x1000 | 42, eth_dst="00:00:00:00:00:0a"),
         actions=(("set_vlan_vid", 4094), ("output", 3)), cookie=COOKIE),
    Flow(0, PRIORITY_GUARD, match(eth_type=0x88A8), cookie=COOKIE_INFRA),
]
# A member's policer (kb/s) and the packet-in cap (packets/s), both DROP bands.
METERS = [Meter(9, 50000, 5000), Meter(PROBE_METER_ID, 3, 12, pktps=True)]


def _evpl_scenario() -> dict:
    """metro.yaml with interfaces shared by tagged, translated and untagged members."""
    topology = load_topology(METRO_YAML)
    hosts = topology.hosts

    def member(member_id: int, name: str, ce_vlan: int | None, role: str = "peer"):
        h = hosts[name]
        return MemberIntent(member_id, f"p{member_id}", name, h.edge_port, h.mac, role, ce_vlan)

    return compile_network(topology, [
        ServiceIntent(1, 101, MULTIPOINT, 20, (member(1, "h1", 10), member(2, "h3", 20),
                                               member(3, "h5", None), member(4, "h7", 10))),
        ServiceIntent(2, 102, POINT_TO_MULTIPOINT, 30, (
            member(5, "h1", None, "root"), member(6, "h3", 30, "leaf"),
            member(7, "h4", None, "leaf"))),
    ])


EVPL = _evpl_scenario()
EVPL_FLOWS = sorted({f for t in EVPL.values() for f in t.flows})
EVPL_GROUPS = sorted({g for t in EVPL.values() for g in t.groups})


def ryu_action(action):
    kind = action[0]
    if kind == "output":
        return parser.OFPActionOutput(action[1], ofp.OFPCML_NO_BUFFER)
    if kind == "group":
        return parser.OFPActionGroup(action[1])
    if kind == "push_vlan":
        return parser.OFPActionPushVlan(0x8100)
    if kind == "pop_vlan":
        return parser.OFPActionPopVlan()
    return parser.OFPActionSetField(vlan_vid=ofp.OFPVID_PRESENT | action[1])


def ryu_flow_mod(flow: Flow, **kw) -> parser.OFPFlowMod:
    inst = []
    if flow.meter is not None:
        inst.append(parser.OFPInstructionMeter(flow.meter))
    if flow.actions:
        inst.append(parser.OFPInstructionActions(
            ofp.OFPIT_APPLY_ACTIONS, [ryu_action(a) for a in flow.actions]))
    if flow.goto is not None:
        inst.append(parser.OFPInstructionGotoTable(flow.goto))
    return parser.OFPFlowMod(DP, cookie=flow.cookie, table_id=flow.table,
                             priority=flow.priority, match=parser.OFPMatch(**dict(flow.match)),
                             instructions=inst, out_port=ofp.OFPP_ANY,
                             out_group=ofp.OFPG_ANY, **kw)


def serialized(msg, xid: int) -> bytes:
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_add_matches_ryu(flow: Flow) -> None:
    mod = ryu_flow_mod(flow, flags=ofp.OFPFF_SEND_FLOW_REM)
    assert ofwire.flow_add(flow, 77) == serialized(mod, 77)


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_delete_strict_matches_ryu(flow: Flow) -> None:
    msg = parser.OFPFlowMod(DP, cookie=flow.cookie, cookie_mask=ofwire.ALL_ONES64,
                            table_id=flow.table, command=ofp.OFPFC_DELETE_STRICT,
                            priority=flow.priority, match=parser.OFPMatch(**dict(flow.match)),
                            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)
    assert ofwire.flow_delete_strict(flow, 9) == serialized(msg, 9)


def test_delete_by_cookie_is_the_stack_notes_form() -> None:
    msg = parser.OFPFlowMod(DP, cookie=COOKIE, cookie_mask=0xFFFFFFFFFFFFFFFF,
                            table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
                            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, priority=0)
    assert ofwire.flows_delete_by_cookie(COOKIE, 3) == serialized(msg, 3)


@pytest.mark.parametrize("group", EVPL_GROUPS)
def test_evpl_groups_match_ryu_and_read_back_equal(group: Group) -> None:
    """Flood groups whose buckets rewrite the tag per member port (pop, or set a
    customer VLAN) encode as Ryu does and parse back equal."""
    buckets = [parser.OFPBucket(actions=[ryu_action(a) for a in b]) for b in group.buckets]
    msg = parser.OFPGroupMod(DP, ofp.OFPGC_ADD, ofp.OFPGT_ALL, group.group_id, buckets)
    raw = ofwire.group_mod(group, ofp.OFPGC_ADD, 5)
    assert raw == serialized(msg, 5)
    body = struct.pack("!HBxI", len(raw) - 8, ofp.OFPGT_ALL, group.group_id) + raw[16:]
    assert readback.group_value(parser.OFPGroupDescStats.parser(body, 0)) == group
    entry = readback.GroupDescEntry.parser(body, 0)
    assert (entry.group, entry.length) == (group, len(body))


@pytest.mark.parametrize("command", [ofp.OFPGC_ADD, ofp.OFPGC_MODIFY, ofp.OFPGC_DELETE])
def test_group_mod_matches_ryu(command: int) -> None:
    group = Group(42, ((("output", 1),), (("pop_vlan",), ("output", 3))))
    buckets = [] if command == ofp.OFPGC_DELETE else [
        parser.OFPBucket(actions=[ryu_action(a) for a in b]) for b in group.buckets]
    msg = parser.OFPGroupMod(DP, command, ofp.OFPGT_ALL, 42, buckets)
    assert ofwire.group_mod(group, command, 5) == serialized(msg, 5)


@pytest.mark.parametrize("meter", METERS)
@pytest.mark.parametrize("command", [ofp.OFPMC_ADD, ofp.OFPMC_MODIFY, ofp.OFPMC_DELETE])
def test_meter_mod_matches_ryu(command: int, meter: Meter) -> None:
    unit = ofp.OFPMF_PKTPS if meter.pktps else ofp.OFPMF_KBPS
    bands = [] if command == ofp.OFPMC_DELETE else [
        parser.OFPMeterBandDrop(meter.rate_kbps, meter.burst_kb)]
    msg = parser.OFPMeterMod(DP, command, unit | ofp.OFPMF_BURST, meter.meter_id, bands)
    assert ofwire.meter_mod(meter, command, 6) == serialized(msg, 6)


@pytest.mark.parametrize("meter", METERS)
def test_meter_reads_back_equal(meter: Meter) -> None:
    """Through bytes, as a reply would arrive: a meter-config reply parses back equal."""
    unit = ofp.OFPMF_PKTPS if meter.pktps else ofp.OFPMF_KBPS
    band = parser.OFPMeterBandDrop(meter.rate_kbps, meter.burst_kb)
    buf = bytearray()
    band.serialize(buf, 0)
    body = struct.pack("!HHI", 8 + len(buf), unit | ofp.OFPMF_BURST, meter.meter_id) + buf
    config = parser.OFPMeterConfigStats.parser(body, 0)
    assert readback.meter_value(config) == meter
    other = Meter(meter.meter_id, meter.rate_kbps, meter.burst_kb, pktps=not meter.pktps)
    assert readback.meter_value(config) != other


def test_barrier_and_packet_out_match_ryu() -> None:
    assert ofwire.barrier_request(4) == serialized(parser.OFPBarrierRequest(DP), 4)
    frame = lldp.probe(1, 2)
    msg = parser.OFPPacketOut(DP, ofp.OFP_NO_BUFFER, ofp.OFPP_CONTROLLER,
                              [parser.OFPActionOutput(2, ofp.OFPCML_NO_BUFFER)], frame)
    assert ofwire.packet_out(2, frame, 8) == serialized(msg, 8)


@pytest.mark.parametrize("flow", FLOWS)
def test_flow_reads_back_equal(flow: Flow) -> None:
    """What a switch reports parses back to the same Flow (reconciliation compares sets)."""
    mod = ryu_flow_mod(flow)
    stats = parser.OFPFlowStats(table_id=flow.table, priority=flow.priority,
                                cookie=flow.cookie, match=mod.match,
                                instructions=mod.instructions, idle_timeout=0, hard_timeout=0,
                                flags=ofp.OFPFF_SEND_FLOW_REM)
    # Through bytes, as a reply would arrive: serialise the match and parse it back.
    buf = bytearray()
    mod.match.serialize(buf, 0)
    stats.match = parser.OFPMatch.parser(bytes(buf), 0)
    assert readback.flow_value(stats) == flow


def test_group_and_meter_read_back_equal() -> None:
    group = Group(42, ((("output", 1),), (("pop_vlan",), ("output", 3))))
    desc = parser.OFPGroupDescStats(ofp.OFPGT_ALL, 42, [
        parser.OFPBucket(actions=[ryu_action(a) for a in b]) for b in group.buckets])
    assert readback.group_value(desc) == group
    config = parser.OFPMeterConfigStats(flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id=9,
                                        bands=[parser.OFPMeterBandDrop(50000, 5000)])
    assert readback.meter_value(config) == Meter(9, 50000, 5000)


def _group_desc_bytes(group: Group, kind: int = ofp.OFPGT_ALL, weight: int = 0) -> bytes:
    """The group as a switch reports it in a group-desc reply (Ryu serialises it)."""
    buckets = [parser.OFPBucket(weight=weight, actions=[ryu_action(a) for a in b])
               for b in group.buckets]
    raw = serialized(parser.OFPGroupMod(DP, ofp.OFPGC_ADD, kind, group.group_id, buckets), 5)
    return struct.pack("!HBxI", len(raw) - 8, kind, group.group_id) + raw[16:]


@pytest.mark.parametrize("group", EVPL_GROUPS + [
    Group(42, ((("output", 1),), (("pop_vlan",), ("output", 3)))), Group(7, ())])
def test_group_desc_decodes_straight_to_the_group_ryu_would_give(group: Group) -> None:
    """The fast decoder the launcher installs gives exactly `group_value` of Ryu's own
    parse, for every group the compiler makes, and the entry's length; another type
    or a weighted bucket reads back unequal, as with Ryu's parse."""
    for kind, weight in ((ofp.OFPGT_ALL, 0), (ofp.OFPGT_SELECT, 0), (ofp.OFPGT_ALL, 3)):
        raw = _group_desc_bytes(group, kind, weight)
        entry = readback.GroupDescEntry.parser(raw + b"\0" * 16, 0)  # more entries follow
        assert entry.length == len(raw)
        assert entry.group == readback.group_value(parser.OFPGroupDescStats.parser(raw, 0))
        assert (entry.group == group) == (kind == ofp.OFPGT_ALL and (
            weight == 0 or not group.buckets))


def test_lldp_probe_round_trip_and_check(metro_yaml) -> None:
    topo = load_topology(metro_yaml)
    assert lldp.parse_probe(lldp.probe(0x2, 1)) == (2, 1)
    assert lldp.parse_probe(b"\x00" * 60) is None
    assert lldp.check(topo, PortRef("core1", 1), 2, 1) is None      # agg1:1 as the file says
    assert "mismatch" in lldp.check(topo, PortRef("core1", 1), 3, 1)
    assert "not a fiber port" in lldp.check(topo, PortRef("acc1", 2), 2, 2)



def test_probe_rules_are_infrastructure_of_fiber_ports(metro_yaml) -> None:
    """One LLDP rule per fiber port, untagged frames only, through the reserved meter."""
    topo = load_topology(metro_yaml)
    infra = infrastructure(topo, "agg1")
    probes = {f for f in infra.flows if f.cookie == COOKIE_LLDP}
    assert {dict(f.match)["in_port"] for f in probes} == set(topo.trunk_ports("agg1"))
    assert all(dict(f.match)["vlan_vid"] == 0 and f.meter == PROBE_METER_ID for f in probes)
    assert [m.meter_id for m in infra.meters] == [PROBE_METER_ID]


def test_what_changes_forwarding_reads_back_unequal() -> None:
    """Flags, timeouts, group type and bucket options, meter flags and bands: a switch
    holding any other value is corrected, though match and actions look the same."""
    flow = FLOWS[0]
    mod = ryu_flow_mod(flow)

    def stats(**odd):
        fields = {"idle_timeout": 0, "hard_timeout": 0, "flags": ofp.OFPFF_SEND_FLOW_REM, **odd}
        return parser.OFPFlowStats(table_id=flow.table, priority=flow.priority,
                                   cookie=flow.cookie, match=mod.match,
                                   instructions=mod.instructions, **fields)

    assert readback.flow_value(stats()) == flow
    for odd in ({"idle_timeout": 30}, {"hard_timeout": 5}, {"flags": 0}):
        assert readback.flow_value(stats(**odd)) != flow, odd
    group = Group(42, ((("output", 1),),))
    bucket = [ryu_action(a) for a in group.buckets[0]]
    for desc in (parser.OFPGroupDescStats(ofp.OFPGT_SELECT, 42, [parser.OFPBucket(
                     actions=bucket)]),
                 parser.OFPGroupDescStats(ofp.OFPGT_ALL, 42, [parser.OFPBucket(
                     weight=3, actions=bucket)])):
        assert readback.group_value(desc) != group
    meter = Meter(9, 50000, 5000)
    for config in (parser.OFPMeterConfigStats(flags=ofp.OFPMF_KBPS, meter_id=9,
                                              bands=[parser.OFPMeterBandDrop(50000, 5000)]),
                   parser.OFPMeterConfigStats(
                       flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id=9,
                       bands=[parser.OFPMeterBandDrop(50000, 5000),
                              parser.OFPMeterBandDrop(90000, 5000)]),
                   parser.OFPMeterConfigStats(
                       flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id=9,
                       bands=[parser.OFPMeterBandDscpRemark(50000, 5000, 1)])):
        assert readback.meter_value(config) != meter


def _flow_stats_bytes(flow: Flow, flags: int = ofp.OFPFF_SEND_FLOW_REM, idle: int = 0) -> bytes:
    """The flow as a switch reports it in a flow-stats reply: our flow-mod's match
    and instructions behind an ofp_flow_stats header."""
    tail = ofwire.flow_add(flow, 1)[48:]  # after ofp_header and the flow-mod's fixed part
    return struct.pack("!HBxIIHHHH4xQQQ", 48 + len(tail), flow.table, 7, 8, flow.priority,
                       idle, 0, flags, flow.cookie, 100, 6400) + tail


@pytest.mark.parametrize("flow", FLOWS + sorted(
    infrastructure(load_topology(METRO_YAML), "agg1").flows) + EVPL_FLOWS)
def test_flow_stats_decode_straight_to_the_flow_ryu_would_give(flow: Flow) -> None:
    """The fast decoder the launcher installs gives exactly `flow_value` of Ryu's own
    parse, for every kind of rule the compiler makes (every rule of a scenario with
    tagged, translated and untagged members on shared interfaces included), and the
    entry's length; and the flow-mod we send is byte for byte Ryu's."""
    assert ofwire.flow_add(flow, 77) == serialized(
        ryu_flow_mod(flow, flags=ofp.OFPFF_SEND_FLOW_REM), 77)
    raw = _flow_stats_bytes(flow)
    entry = readback.FlowStatsEntry.parser(raw, 0)
    assert entry.length == len(raw)
    assert entry.flow == readback.flow_value(parser.OFPFlowStats.parser(raw, 0)) == flow
    odd = readback.FlowStatsEntry.parser(_flow_stats_bytes(flow, flags=0, idle=9), 0).flow
    assert odd != flow
    assert odd == readback.flow_value(parser.OFPFlowStats.parser(
        _flow_stats_bytes(flow, flags=0, idle=9), 0))
