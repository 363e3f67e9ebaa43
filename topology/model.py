"""The metro tree: switches joined by fiber links, with edge ports for customers.

A `Topology` is immutable once built (see `topology.loader`); paths and
subtrees are answered from its networkx graph. Because the links form a tree,
the path between two switches is unique, and the set of switches a multipoint
service spans is the union of the paths between its members.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx

ROLES = ("core", "aggregation", "access")
DEFAULT_CAPACITY_MBPS = 10000


@dataclass(frozen=True, order=True, slots=True)
class PortRef:
    """A port of a switch, written `switch:port` in the topology file."""

    switch: str
    port: int

    def __str__(self) -> str:
        return f"{self.switch}:{self.port}"


@dataclass(frozen=True)
class Switch:
    name: str
    dpid: int
    role: str


@dataclass(frozen=True)
class Link:
    """A fiber link; `a` and `b` are its two ends."""

    a: PortRef
    b: PortRef
    capacity_mbps: int = DEFAULT_CAPACITY_MBPS

    @property
    def key(self) -> frozenset[str]:
        return frozenset((self.a.switch, self.b.switch))


@dataclass(frozen=True)
class Host:
    """Emulated customer equipment on an edge port (Mininet only)."""

    name: str
    switch: str
    port: int
    mac: str
    ip: str

    @property
    def edge_port(self) -> PortRef:
        return PortRef(self.switch, self.port)


@dataclass(frozen=True)
class Hop:
    """One switch on a path: where the frame enters and where it leaves."""

    switch: str
    in_port: int
    out_port: int


@dataclass(frozen=True)
class Subtree:
    """The part of the tree that joins a set of edge ports.

    `ports[switch]` holds every port of that switch the subtree uses: the
    fiber ports towards neighbours in the subtree and the member edge ports
    on the switch. `links` are the fiber links it crosses.
    """

    edge_ports: frozenset[PortRef]
    ports: dict[str, frozenset[int]]
    links: tuple[Link, ...]
    _next: dict[tuple[str, PortRef], int] = field(repr=False, compare=False)

    @property
    def switches(self) -> frozenset[str]:
        return frozenset(self.ports)

    def next_port(self, switch: str, target: PortRef) -> int:
        """The port `switch` sends a frame out of to reach the edge port `target`."""
        return self._next[(switch, target)]

    def trunk_ports(self, switch: str) -> frozenset[int]:
        """Fiber ports of `switch` inside the subtree."""
        edges = {p.port for p in self.edge_ports if p.switch == switch}
        return self.ports[switch] - edges


class Topology:
    """The validated metro tree. Build it with `topology.loader.load_topology`."""

    def __init__(
        self,
        switches: Iterable[Switch],
        links: Iterable[Link],
        hosts: Iterable[Host] = (),
    ) -> None:
        self.switches: dict[str, Switch] = {s.name: s for s in switches}
        self.links: tuple[Link, ...] = tuple(links)
        self.hosts: dict[str, Host] = {h.name: h for h in hosts}
        self._by_dpid = {s.dpid: s for s in self.switches.values()}
        self.graph = nx.Graph()
        for s in self.switches.values():
            self.graph.add_node(s.name, dpid=s.dpid, role=s.role)
        self._trunk: dict[str, dict[int, str]] = {name: {} for name in self.switches}
        self._trunk_port: dict[str, dict[str, int]] = {name: {} for name in self.switches}
        self._link_at: dict[PortRef, Link] = {}
        for link in self.links:
            self.graph.add_edge(
                link.a.switch,
                link.b.switch,
                ports={link.a.switch: link.a.port, link.b.switch: link.b.port},
                capacity_mbps=link.capacity_mbps,
                link=link,
            )
            self._trunk[link.a.switch][link.a.port] = link.b.switch
            self._trunk[link.b.switch][link.b.port] = link.a.switch
            self._trunk_port[link.a.switch][link.b.switch] = link.a.port
            self._trunk_port[link.b.switch][link.a.switch] = link.b.port
            self._link_at[link.a] = link
            self._link_at[link.b] = link
        # The tree rooted anywhere (the first switch): parent and depth of each
        # switch, so a path is two walks up to the common ancestor instead of a
        # graph search (subtrees are computed for every service change).
        self._parent: dict[str, str | None] = {}
        self._depth: dict[str, int] = {}
        if self.switches:
            root = next(iter(self.switches))
            self._parent[root], self._depth[root] = None, 0
            for parent, child in nx.bfs_edges(self.graph, root):
                self._parent[child], self._depth[child] = parent, self._depth[parent] + 1

    # -- lookups -------------------------------------------------------------

    def switch_by_dpid(self, dpid: int) -> Switch | None:
        return self._by_dpid.get(dpid)

    def trunk_ports(self, switch: str) -> dict[int, str]:
        """Fiber ports of `switch`, each mapped to the neighbour it reaches."""
        return dict(self._trunk[switch])

    def is_edge_port(self, ref: PortRef) -> bool:
        """True when `ref` is a customer-facing port: any port not used by a link."""
        return ref.switch in self.switches and ref.port >= 1 and ref not in self._link_at

    def link_at(self, ref: PortRef) -> Link | None:
        return self._link_at.get(ref)

    def port_towards(self, switch: str, neighbour: str) -> int:
        return self.graph.edges[switch, neighbour]["ports"][switch]

    def hosts_on(self, switch: str) -> list[Host]:
        return [h for h in self.hosts.values() if h.switch == switch]

    # -- paths ---------------------------------------------------------------

    def _walk(self, a: str, b: str) -> set[str]:
        """The switches on the path from `a` to `b`, both included."""
        out = {a, b}
        while a != b:
            if self._depth[a] >= self._depth[b]:
                a = self._parent[a]
                out.add(a)
            else:
                b = self._parent[b]
                out.add(b)
        return out

    def switch_path(self, a: str, b: str) -> list[str]:
        """Switch names from `a` to `b`, both included (unique in a tree)."""
        return nx.shortest_path(self.graph, a, b)

    def path(self, src: PortRef, dst: PortRef) -> list[Hop]:
        """Hops a frame takes from edge port `src` to edge port `dst`."""
        names = self.switch_path(src.switch, dst.switch)
        hops = []
        for i, name in enumerate(names):
            in_port = src.port if i == 0 else self.port_towards(name, names[i - 1])
            out_port = dst.port if i == len(names) - 1 else self.port_towards(name, names[i + 1])
            hops.append(Hop(name, in_port, out_port))
        return hops

    def subtree(self, edge_ports: Iterable[PortRef]) -> Subtree:
        """The minimal part of the tree joining `edge_ports`, with next hops."""
        members = frozenset(edge_ports)
        if not members:
            raise ValueError("a subtree needs at least one edge port")
        for ref in members:
            if not self.is_edge_port(ref):
                raise ValueError(f"{ref} is not an edge port of the topology")
        anchor = min(members).switch
        nodes = {anchor}
        for ref in members:
            nodes.update(self._walk(anchor, ref.switch))
        ports: dict[str, set[int]] = {n: set() for n in nodes}
        for ref in members:
            ports[ref.switch].add(ref.port)
        links = []
        for node in nodes:
            parent = self._parent[node]
            if parent in nodes:
                up = self._trunk_port[node][parent]
                ports[node].add(up)
                ports[parent].add(self._trunk_port[parent][node])
                links.append(self._link_at[PortRef(node, up)])
        nxt: dict[tuple[str, PortRef], int] = {}
        for ref in members:
            # Walk outward from the member's switch: every switch's port towards
            # the switch it was reached from leads to the member.
            nxt[(ref.switch, ref)] = ref.port
            frontier = [ref.switch]
            seen = {ref.switch}
            while frontier:
                here = frontier.pop()
                for neighbour in self._trunk_port[here]:
                    if neighbour in nodes and neighbour not in seen:
                        seen.add(neighbour)
                        nxt[(neighbour, ref)] = self._trunk_port[neighbour][here]
                        frontier.append(neighbour)
        return Subtree(
            edge_ports=members,
            ports={n: frozenset(p) for n, p in ports.items()},
            links=tuple(sorted(links, key=lambda link: (link.a, link.b))),
            _next=nxt,
        )
