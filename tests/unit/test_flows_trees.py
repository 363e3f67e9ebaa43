"""Metro trees and services for the flow tests, built directly (no YAML).

The builders live in a test module so the other flow tests can import them;
the tests here check that the builders make what the others assume.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from flows.intent import (
    MULTIPOINT,
    POINT_TO_MULTIPOINT,
    POINT_TO_POINT,
    MemberIntent,
    ServiceIntent,
)
from topology.model import Host, Link, PortRef, Switch, Topology


def build_tree(parents: Sequence[int], hosts_per_switch: int = 3) -> Topology:
    """Switch s<i> hangs under s<parents[i-1]>; every switch gets customer ports
    numbered after its fiber ports, each with a host."""
    names = [f"s{i}" for i in range(len(parents) + 1)]
    used = dict.fromkeys(names, 0)

    def port(name: str) -> int:
        used[name] += 1
        return used[name]

    links = [Link(PortRef(names[p], port(names[p])), PortRef(names[i], port(names[i])))
             for i, p in enumerate(parents, start=1)]
    hosts = [Host(f"h{i}x{k}", name, port(name), f"02:00:00:00:{i:02x}:{k:02x}",
                  f"10.0.{i}.{k + 1}/16")
             for i, name in enumerate(names) for k in range(hosts_per_switch)]
    switches = [Switch(name, i + 1, "core" if i == 0 else "access")
                for i, name in enumerate(names)]
    return Topology(switches, links, hosts)


def binary_tree(levels: int, hosts_per_switch: int = 2) -> Topology:
    """A complete binary tree: 1 switch for one level, 15 for four."""
    return build_tree([(i - 1) // 2 for i in range(1, 2**levels - 1)], hosts_per_switch)


def leaf_hosts(topology: Topology) -> list[Host]:
    """One host on each switch that has no switch below it (all of them for one switch)."""
    leaves = [s for s in topology.switches if topology.graph.degree(s) <= 1]
    return [topology.hosts_on(s)[0] for s in sorted(leaves)]


def service(service_id: int, vlan: int, kind: str, hosts: Sequence[Host],
            first_member_id: int | None = None, bandwidth_mbps: int = 50) -> ServiceIntent:
    """A service whose first host is the root (point-to-multipoint) or a peer."""
    base = first_member_id if first_member_id is not None else service_id * 100
    members = tuple(
        MemberIntent(base + k, f"party{base + k}", h.name, h.edge_port, h.mac,
                     ("root" if k == 0 else "leaf") if kind == POINT_TO_MULTIPOINT else "peer")
        for k, h in enumerate(hosts))
    return ServiceIntent(service_id, vlan, kind, bandwidth_mbps, members)


KINDS = (POINT_TO_POINT, POINT_TO_MULTIPOINT, MULTIPOINT)


@st.composite
def networks(draw: st.DrawFn, max_switches: int = 9) -> tuple[Topology, list[ServiceIntent]]:
    """A random tree and a random mix of services over some of its hosts."""
    n = draw(st.integers(1, max_switches))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    topology = build_tree(parents, hosts_per_switch=draw(st.integers(1, 3)))
    hosts = draw(st.permutations(sorted(topology.hosts.values(), key=lambda h: h.name)))
    services, start, member_id = [], 0, 1
    for service_id in range(1, draw(st.integers(1, 4)) + 1):
        kind = draw(st.sampled_from(KINDS))
        size = draw(st.integers(0, 2 if kind == POINT_TO_POINT else 6))
        chosen = hosts[start:start + size]
        start += len(chosen)
        services.append(service(service_id, 100 + service_id, kind, chosen, member_id))
        member_id += len(chosen)
    return topology, services


# Customer VLANs the EVPL strategy draws from: None is the untagged membership;
# 101..104 are also provider VLANs of the services drawn (no translation for
# its own service, a would-be VLAN hop for another's).
CE_VLANS = (None, 10, 20, 101, 102, 103, 104)


@st.composite
def evpl_networks(draw: st.DrawFn, max_switches: int = 7,
                  max_services: int = 4) -> tuple[Topology, list[ServiceIntent]]:
    """A random tree and services whose members share interfaces: each
    (interface, customer VLAN or untagged) is used once, a service uses an
    interface once, so interfaces mix untagged and tagged memberships and one
    service's members may use different customer VLANs (translation)."""
    n = draw(st.integers(1, max_switches))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    topology = build_tree(parents, hosts_per_switch=draw(st.integers(1, 2)))
    hosts = sorted(topology.hosts.values(), key=lambda h: h.name)
    used: set[tuple[PortRef, int | None]] = set()
    services, member_id = [], 1
    for service_id in range(1, draw(st.integers(1, max_services)) + 1):
        kind = draw(st.sampled_from(KINDS))
        size = 2 if kind == POINT_TO_POINT else 5
        chosen = draw(st.lists(st.sampled_from(hosts), max_size=size, unique=True))
        members = []
        for host in chosen:
            ce_vlan = draw(st.sampled_from(CE_VLANS))
            if (host.edge_port, ce_vlan) in used:
                continue
            used.add((host.edge_port, ce_vlan))
            role = ("leaf" if members else "root") if kind == POINT_TO_MULTIPOINT else "peer"
            members.append(MemberIntent(member_id, f"party{member_id}", host.name,
                                        host.edge_port, host.mac, role, ce_vlan))
            member_id += 1
        services.append(ServiceIntent(service_id, 100 + service_id, kind, 50, tuple(members)))
    return topology, services


def test_build_tree_numbers_fiber_ports_first() -> None:
    topology = build_tree([0, 0, 1])
    assert topology.trunk_ports("s0") == {1: "s1", 2: "s2"}
    assert sorted(h.port for h in topology.hosts_on("s0")) == [3, 4, 5]
    assert all(topology.is_edge_port(h.edge_port) for h in topology.hosts.values())


def test_binary_tree_levels() -> None:
    assert [len(binary_tree(levels).switches) for levels in (1, 2, 3, 4)] == [1, 3, 7, 15]
    assert len(leaf_hosts(binary_tree(3))) == 4
