"""The benchmark's workload: many point-to-point services on one switch."""

from __future__ import annotations

from flows.intent import POINT_TO_POINT, MemberIntent, ServiceIntent
from topology.model import PortRef, Switch, Topology

SWITCH = "bench"
DPID = 0xBE7C


def bench_topology() -> Topology:
    return Topology([Switch(SWITCH, DPID, "access")], [])


def mac(n: int) -> str:
    return "02:00:" + ":".join(f"{b:02x}" for b in n.to_bytes(4, "big"))


def p2p(service_id: int) -> ServiceIntent:
    """Service `service_id` (VLAN = id) between edge ports 2*id and 2*id+1."""
    members = tuple(
        MemberIntent(member_id=2 * service_id + i, party=f"p{service_id}-{i}",
                     interface=f"if{service_id}-{i}",
                     edge_port=PortRef(SWITCH, 2 * service_id + i),
                     mac=mac(2 * service_id + i), role="peer")
        for i in (0, 1))
    return ServiceIntent(service_id, service_id, POINT_TO_POINT, 100, members)
