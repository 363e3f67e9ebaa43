"""Link capacity admission for `secure-bandwidth` services: the hose model.

Each member of a service may send and receive up to the service's
`bandwidth_mbps`. On a fiber link of the service's subtree, traffic that
crosses it goes from members on one side to members on the other, so at
most min(sum of bandwidths on side A, sum on side B) can cross it in each
direction at once. That is what the service reserves on the link. For a
point-to-point service it is the bandwidth on every link of the path; for a
service with one member it is nothing.

Admission: for every link, the reservations of the other live services plus
this service's new reservation must not exceed the link's `capacity_mbps`,
else 409 `insufficient_capacity` naming the link. `ethernet-channel` services
reserve nothing (their bandwidth is an ingress cap only).
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
from sqlalchemy import Connection, delete, func, insert, select

from controller.errors import conflict
from controller.schema import reservations
from topology.model import Link, PortRef, Topology


def link_id(link: Link) -> str:
    """How a link is named in the store: its `a` end, "switch:port"."""
    return str(link.a)


def hose(topology: Topology, edge_ports: Iterable[PortRef], bandwidth_mbps: int) -> dict[str, int]:
    """Mb/s to reserve on each link so that every member can use its bandwidth."""
    ports = list(edge_ports)
    if len(ports) < 2:
        return {}
    subtree = topology.subtree(ports)
    tree = nx.Graph(topology.graph.subgraph(subtree.switches))
    wanted: dict[str, int] = {}
    for link in subtree.links:
        tree.remove_edge(link.a.switch, link.b.switch)
        side_a = nx.node_connected_component(tree, link.a.switch)
        tree.add_edge(link.a.switch, link.b.switch)
        count_a = sum(1 for p in ports if p.switch in side_a)
        wanted[link_id(link)] = min(count_a, len(ports) - count_a) * bandwidth_mbps
    return wanted


def reserved_by_link(conn: Connection, excluding_service: int | None = None) -> dict[str, int]:
    query = select(reservations.c.link, func.sum(reservations.c.mbps)).group_by(
        reservations.c.link)
    if excluding_service is not None:
        query = query.where(reservations.c.service_id != excluding_service)
    return {link: int(total) for link, total in conn.execute(query)}


def admit(conn: Connection, topology: Topology, service_id: int, wanted: dict[str, int]) -> None:
    """Raise 409 insufficient_capacity if `wanted` does not fit beside the others."""
    others = reserved_by_link(conn, excluding_service=service_id)
    for link in topology.links:
        need = wanted.get(link_id(link), 0)
        if need and others.get(link_id(link), 0) + need > link.capacity_mbps:
            free = link.capacity_mbps - others.get(link_id(link), 0)
            raise conflict("insufficient_capacity",
                           f"link {link.a}-{link.b} has {max(free, 0)} of {link.capacity_mbps} "
                           f"Mb/s free; the service needs {need} on it")


def reserve(conn: Connection, service_id: int, wanted: dict[str, int]) -> None:
    """Replace the service's reservations by `wanted` (empty: release them all)."""
    conn.execute(delete(reservations).where(reservations.c.service_id == service_id))
    rows = [{"service_id": service_id, "link": link, "mbps": mbps}
            for link, mbps in wanted.items() if mbps]
    if rows:
        conn.execute(insert(reservations), rows)
