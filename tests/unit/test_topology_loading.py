"""Loading the topology file: the demo tree, and one test per rule of CONTRACT §2."""

from __future__ import annotations

import textwrap

import pytest

from topology import PortRef, TopologyError, load_topology, parse_topology

GOOD = """\
switches:
  core1: {dpid: 1, role: core}
  agg1:  {dpid: "0x2", role: aggregation}
  acc1:  {dpid: 3, role: access}
links:
  - [core1:1, agg1:1]
  - {ends: [agg1:2, acc1:1], capacity_mbps: 1000}
hosts:
  h1: {switch: acc1, port: 3, mac: "00:00:00:00:00:01", ip: 10.0.0.1/24}
"""


def refused(text: str) -> TopologyError:
    with pytest.raises(TopologyError) as info:
        parse_topology(textwrap.dedent(text))
    return info.value


def test_demo_tree_loads(metro_yaml):
    topo = load_topology(metro_yaml)
    roles = [s.role for s in topo.switches.values()]
    assert roles.count("core") == 1 and roles.count("aggregation") == 2
    assert roles.count("access") == 4
    assert len(topo.hosts) == 8 and len(topo.links) == 6
    assert {h.switch for h in topo.hosts.values()} == {"acc1", "acc2", "acc3", "acc4"}


def test_good_file_gives_graph_with_ports_and_capacity():
    topo = parse_topology(GOOD)
    assert topo.switches["agg1"].dpid == 2
    assert topo.graph.edges["agg1", "acc1"]["capacity_mbps"] == 1000
    assert topo.graph.edges["core1", "agg1"]["capacity_mbps"] == 10000
    assert topo.port_towards("agg1", "core1") == 1
    assert topo.trunk_ports("agg1") == {1: "core1", 2: "acc1"}
    assert topo.is_edge_port(PortRef("acc1", 3))
    assert not topo.is_edge_port(PortRef("acc1", 1))
    assert not topo.is_edge_port(PortRef("nowhere", 1))
    assert topo.switch_by_dpid(3).name == "acc1"
    assert topo.hosts["h1"].edge_port == PortRef("acc1", 3)


def test_single_switch_without_links_is_a_tree():
    topo = parse_topology("switches: {s1: {dpid: 1, role: access}}\n")
    assert list(topo.switches) == ["s1"] and topo.links == ()


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(TopologyError, match="nope.yaml: cannot read file"):
        load_topology(tmp_path / "nope.yaml")


def test_error_names_file_and_line(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(GOOD.replace("role: access", "role: edge"))
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value).startswith(f"{path}:4: switches.acc1.role: role must be one of")


def test_not_yaml():
    assert "not valid YAML" in str(refused("switches: [unclosed\n"))


def test_top_level_must_be_mapping_with_switches():
    assert "must be a mapping" in str(refused("- 1\n"))
    assert "missing 'switches'" in str(refused("links: []\n"))


def test_unknown_top_level_key():
    err = refused(GOOD + "extra: 1\n")
    assert "unknown key 'extra'" in str(err) and err.line == 10


def test_unknown_switch_attribute():
    err = refused(GOOD.replace("role: core}", "role: core, colour: red}"))
    assert "switches.core1.colour: unknown key 'colour'" in str(err)


def test_switch_needs_dpid_and_role():
    assert "switches.core1: missing 'dpid'" in str(refused(GOOD.replace("dpid: 1, ", "")))


def test_dpid_must_be_integer_or_hex():
    err = refused(GOOD.replace('"0x2"', '"zz"'))
    assert "switches.agg1.dpid" in str(err) and "hex" in str(err)
    assert "dpid must be an integer" in str(refused(GOOD.replace("dpid: 1,", "dpid: 0,")))


def test_duplicate_dpid():
    err = refused(GOOD.replace("dpid: 3", "dpid: 1"))
    assert "switches.acc1.dpid: duplicate dpid 1 (also used by switch 'core1')" in str(err)


def test_duplicate_dpid_hex_and_int():
    err = refused(GOOD.replace("dpid: 3", 'dpid: "0x1"'))
    assert "duplicate dpid 1" in str(err)


def test_role_must_be_known():
    assert "role must be one of core, aggregation, access" in str(
        refused(GOOD.replace("role: core", "role: spine")))


def test_switch_name_must_fit_interface_names():
    err = refused(GOOD.replace("acc1:", "access-switch-1:", 1))
    assert "switch name" in str(err)


def test_link_to_unknown_switch():
    err = refused(GOOD.replace("[core1:1, agg1:1]", "[core1:1, agg9:1]"))
    assert "links[0][1]: unknown switch 'agg9'" in str(err) and err.line == 6


def test_link_end_syntax():
    err = refused(GOOD.replace("[core1:1, agg1:1]", "[core1, agg1:1]"))
    assert "link end must be 'switch:port'" in str(err)


def test_link_needs_two_ends():
    assert "exactly two ends" in str(refused(GOOD.replace("[core1:1, agg1:1]", "[core1:1]")))


def test_link_port_used_twice():
    err = refused(GOOD.replace("[agg1:2, acc1:1]", "[agg1:1, acc1:1]"))
    assert "port agg1:1 is already used by links[0]" in str(err) and "links[1]" in str(err)


def test_self_link_is_refused_by_name():
    text = GOOD.replace("hosts:", "  - [acc1:5, acc1:6]\nhosts:")
    assert "link joins switch 'acc1' to itself" in str(refused(text))


def test_cycle_is_refused():
    text = GOOD.replace("hosts:", "  - [core1:2, acc1:2]\nhosts:")
    err = refused(text)
    assert "links[2]" in str(err) and "closes a cycle" in str(err)


def test_parallel_links_are_a_cycle():
    text = GOOD.replace("hosts:", "  - [core1:2, agg1:3]\nhosts:")
    assert "closes a cycle" in str(refused(text))


def test_disconnected_switches_are_refused():
    text = GOOD.replace("  - {ends: [agg1:2, acc1:1], capacity_mbps: 1000}\n", "")
    err = refused(text)
    assert "must connect every switch" in str(err) and "acc1" in str(err)


def test_capacity_must_be_positive_integer():
    err = refused(GOOD.replace("capacity_mbps: 1000", "capacity_mbps: -5"))
    assert "links[1].capacity_mbps: capacity_mbps must be an integer" in str(err)


def test_unknown_link_key():
    err = refused(GOOD.replace("capacity_mbps: 1000", "speed: 1000"))
    assert "unknown key 'speed'" in str(err)


def test_port_zero_is_refused():
    assert "port must be an integer" in str(
        refused(GOOD.replace("[core1:1, agg1:1]", "[core1:0, agg1:1]")))


def test_host_on_unknown_switch():
    assert "hosts.h1.switch: unknown switch 'acc9'" in str(
        refused(GOOD.replace("switch: acc1", "switch: acc9")))


def test_host_on_fiber_port():
    err = refused(GOOD.replace("port: 3,", "port: 1,"))
    assert "hosts.h1.port: port acc1:1 is a fiber link port" in str(err)


def test_two_hosts_on_one_port():
    text = GOOD + '  h2: {switch: acc1, port: 3, mac: "00:00:00:00:00:02", ip: 10.0.0.2/24}\n'
    assert "port acc1:3 is already used by host 'h1'" in str(refused(text))


def test_host_mac_must_be_unicast_and_unique():
    assert "mac must be a unicast MAC" in str(refused(GOOD.replace("00:00:00:00:00:01",
                                                                   "01:00:00:00:00:01")))
    assert "mac must be" in str(refused(GOOD.replace("00:00:00:00:00:01", "xyz")))
    text = GOOD + '  h2: {switch: acc1, port: 4, mac: "00:00:00:00:00:01", ip: 10.0.0.2/24}\n'
    assert "mac 00:00:00:00:00:01 is already used by host 'h1'" in str(refused(text))


def test_host_ip_must_have_prefix_and_be_unique():
    assert "ip must be an address" in str(refused(GOOD.replace("10.0.0.1/24", "banana")))
    assert "prefix length" in str(refused(GOOD.replace("10.0.0.1/24", "10.0.0.1")))
    text = GOOD + '  h2: {switch: acc1, port: 4, mac: "00:00:00:00:00:02", ip: 10.0.0.1/24}\n'
    assert "ip 10.0.0.1 is already used by host 'h1'" in str(refused(text))


def test_host_needs_all_attributes():
    assert "hosts.h1: missing 'ip'" in str(refused(GOOD.replace(", ip: 10.0.0.1/24", "")))
