"""No customer frame reaches the controller; the LLDP probes of fiber ports do.

The probe rules are infrastructure of the declared pipeline
(`flows.compiler.infrastructure`), so the table simulator runs them with every
service rule. On random trees with random mixes of services, every interface
(member or not) sends frames of every kind — ethertypes, tags (802.1Q with any
VID, priority tags, QinQ: OVS matches an 0x88a8 outer tag like an 802.1Q one),
destinations (LLDP and BPDU multicast, broadcast, unknown unicast, members'
MACs) — and none is ever handed to the controller; an untagged probe on a
fiber port is, once, through the reserved packet-in meter.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.compiler import PROBE_METER_ID, compile_network, infrastructure
from flows.desired import NetworkState
from flows.intent import ServiceIntent
from flows.pipeline import ETH_TYPE_LLDP, LLDP_MAC
from flows.simulator import Frame, NetworkSimulator
from tests.unit.test_flows_trees import networks
from topology.model import PortRef, Topology

BPDU = "01:80:c2:00:00:00"
BROADCAST = "ff:ff:ff:ff:ff:ff"
MULTICAST = "01:00:5e:00:00:fb"
UNKNOWN = "02:ff:ff:ff:ff:ff"
PROBE_SOURCE = "0e:00:00:00:00:01"  # apps.lldp's probe source MAC
ETH_TYPES = (0x0800, 0x0806, ETH_TYPE_LLDP, 0x8100, 0x88A8, 0x86DD, 0x8809)


def fiber_ports(topology: Topology) -> list[PortRef]:
    return sorted({end for link in topology.links for end in (link.a, link.b)})


def tag_stacks(services: list[ServiceIntent], vid: int) -> list[tuple[int, ...]]:
    """Untagged, priority-tagged, any VID, the services' VLANs, and QinQ of them."""
    vids = sorted({0, 1, 4094, vid} | {s.vlan for s in services})
    return [()] + [(v,) for v in vids] + [(v, w) for v in vids for w in (v, 1)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks(), st.integers(0, 0xFFFF), st.integers(2, 4094))
def test_no_frame_from_a_customer_port_reaches_the_controller(
    network: tuple[Topology, list[ServiceIntent]], eth_type: int, vid: int,
) -> None:
    topology, services = network
    sim = NetworkSimulator(topology, compile_network(topology, services))
    hosts = sorted(topology.hosts.values(), key=lambda h: h.name)
    members = [m.mac for s in services for m in s.members]
    destinations = [LLDP_MAC, BPDU, BROADCAST, MULTICAST, UNKNOWN, *members]
    stacks = tag_stacks(services, vid)
    for host in hosts:
        for src in (host.mac, PROBE_SOURCE):
            for kind in (*ETH_TYPES, eth_type):
                for dst in destinations:
                    for stack in stacks:
                        frame = Frame(src, dst, stack, kind)
                        punted = sim.trace(host.edge_port, frame).packet_ins
                        assert punted == [], f"{host.name} sent {frame}: {punted}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_a_probe_on_a_fiber_port_reaches_the_controller_through_the_meter(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    topology, services = network
    tables = compile_network(topology, services)
    sim = NetworkSimulator(topology, tables)
    for name in topology.switches:
        assert infrastructure(topology, name).flows <= tables[name].flows
    for port in fiber_ports(topology):
        trace = sim.trace(port, Frame(PROBE_SOURCE, LLDP_MAC, (), ETH_TYPE_LLDP))
        assert [(p.port, p.meters) for p in trace.packet_ins] == [(port, (PROBE_METER_ID,))]
        assert trace.deliveries == [] and trace.crossings == []
        # Tagged (a service's frame on the fiber, or anything else): never punted.
        for stack in tag_stacks(services, 7):
            if stack:
                frame = Frame(PROBE_SOURCE, LLDP_MAC, stack, ETH_TYPE_LLDP)
                assert sim.trace(port, frame).packet_ins == []
        # Untagged, but not LLDP to the nearest-bridge group: dropped.
        for frame in (Frame(PROBE_SOURCE, BPDU, (), ETH_TYPE_LLDP),
                      Frame(PROBE_SOURCE, LLDP_MAC, (), 0x0800)):
            trace = sim.trace(port, frame)
            assert (trace.packet_ins, trace.deliveries, trace.crossings) == ([], [], [])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(networks())
def test_the_installers_state_holds_the_same_infrastructure_as_the_compiler(
    network: tuple[Topology, list[ServiceIntent]],
) -> None:
    """What the installer installs (NetworkState) is what the simulator ran."""
    topology, services = network
    state = NetworkState(topology)
    for intent in services:
        state.set(intent)
    compiled = compile_network(topology, services)
    assert {s: state.tables(s) for s in topology.switches} == compiled
