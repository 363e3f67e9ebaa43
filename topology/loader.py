"""Load and validate the topology file of CONTRACT §2.

Every rule is checked here, once; a violation raises `TopologyError` whose
message names the file, the line and the offending entry, so the command line
can print it as one line and exit 2.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from topology.model import DEFAULT_CAPACITY_MBPS, ROLES, Host, Link, PortRef, Switch, Topology

MAX_PORT = 0xFFFFFF00  # OFPP_MAX: above it the numbers are reserved ports
MAX_DPID = 2**64 - 1
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,9}$")  # fits Linux interface names
_PORT_REF = re.compile(r"^(?P<switch>[^:\s]+):(?P<port>\d+)$")

Path_ = tuple[Any, ...]


class TopologyError(ValueError):
    """The topology file breaks a rule of CONTRACT §2."""

    def __init__(self, message: str, path: Path_ = (), line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.source = "<topology>"
        self.detail = message
        super().__init__(message)

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        key = _format_path(self.path)
        return f"{where}: {key + ': ' if key else ''}{self.detail}"


def _format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        err = TopologyError(f"cannot read file: {exc.strerror}")
        err.source = str(path)
        raise err from exc
    try:
        return parse_topology(text)
    except TopologyError as err:
        err.source = str(path)
        raise


def parse_topology(text: str) -> Topology:
    """Validate topology YAML text; errors carry the line of the entry."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise TopologyError(f"not valid YAML: {getattr(exc, 'problem', exc)}", line=line) from exc
    try:
        return _build(data)
    except TopologyError as err:
        err.line = _line_of(root, err.path)
        raise


def _line_of(node: yaml.Node | None, path: Path_) -> int | None:
    """Line (1-based) of the YAML node at `path`, or of its nearest ancestor."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _expect_keys(entry: Any, path: Path_, required: Sequence[str], optional: Sequence[str]) -> None:
    if not isinstance(entry, dict):
        raise TopologyError("must be a mapping", path)
    for key in required:
        if key not in entry:
            raise TopologyError(f"missing '{key}'", path)
    for key in entry:
        if key not in required and key not in optional:
            raise TopologyError(f"unknown key '{key}'", (*path, key))


def _int(value: Any, path: Path_, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TopologyError(f"{what} must be an integer from {low} to {high}, got {value!r}", path)
    return value


def _dpid(value: Any, path: Path_) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise TopologyError(f"dpid must be an integer or '0x...' hex, got {value!r}",
                                path) from None
    return _int(value, path, 1, MAX_DPID, "dpid")


def _switches(data: Any) -> list[Switch]:
    if not isinstance(data, dict) or not data:
        raise TopologyError("must map switch names to attributes, with at least one switch",
                            ("switches",))
    switches, seen = [], {}
    for name, attrs in data.items():
        path = ("switches", name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise TopologyError(
                "switch name must start with a letter and have at most 10 letters, "
                "digits, '-' or '_'", path)
        _expect_keys(attrs, path, ("dpid", "role"), ())
        dpid = _dpid(attrs["dpid"], (*path, "dpid"))
        if dpid in seen:
            raise TopologyError(f"duplicate dpid {dpid} (also used by switch '{seen[dpid]}')",
                                (*path, "dpid"))
        seen[dpid] = name
        if attrs["role"] not in ROLES:
            raise TopologyError(f"role must be one of {', '.join(ROLES)}, got {attrs['role']!r}",
                                (*path, "role"))
        switches.append(Switch(name, dpid, attrs["role"]))
    return switches


def _port_ref(value: Any, path: Path_, switches: dict[str, Switch]) -> PortRef:
    match = _PORT_REF.match(value) if isinstance(value, str) else None
    if not match:
        raise TopologyError(f"link end must be 'switch:port', got {value!r}", path)
    name, port = match["switch"], int(match["port"])
    if name not in switches:
        raise TopologyError(f"unknown switch '{name}'", path)
    _int(port, path, 1, MAX_PORT, "port")
    return PortRef(name, port)


def _links(data: Any, switches: dict[str, Switch]) -> list[Link]:
    if data is None:
        data = []
    if not isinstance(data, list):
        raise TopologyError("must be a list of links", ("links",))
    links: list[Link] = []
    used: dict[PortRef, int] = {}
    for i, entry in enumerate(data):
        path: Path_ = ("links", i)
        capacity = DEFAULT_CAPACITY_MBPS
        if isinstance(entry, dict):
            _expect_keys(entry, path, ("ends",), ("capacity_mbps",))
            ends = entry["ends"]
            if "capacity_mbps" in entry:
                capacity = _int(entry["capacity_mbps"], (*path, "capacity_mbps"), 1, 10**7,
                                "capacity_mbps")
            end_path: Path_ = (*path, "ends")
        else:
            ends, end_path = entry, path
        if not isinstance(ends, list) or len(ends) != 2:
            raise TopologyError("a link needs exactly two ends ['sw:port', 'sw:port']", end_path)
        a, b = (_port_ref(end, (*end_path, j), switches) for j, end in enumerate(ends))
        if a.switch == b.switch:
            raise TopologyError(f"link joins switch '{a.switch}' to itself", path)
        for ref in (a, b):
            if ref in used:
                raise TopologyError(f"port {ref} is already used by links[{used[ref]}]", path)
            used[ref] = i
        links.append(Link(a, b, capacity))
    return links


def _check_tree(switches: list[Switch], links: list[Link]) -> None:
    graph = nx.MultiGraph()
    graph.add_nodes_from(s.name for s in switches)
    for i, link in enumerate(links):
        if graph.has_node(link.a.switch) and nx.has_path(graph, link.a.switch, link.b.switch):
            raise TopologyError(
                f"link {link.a}-{link.b} closes a cycle: the links must form a tree",
                ("links", i))
        graph.add_edge(link.a.switch, link.b.switch)
    if not nx.is_connected(graph):
        parts = sorted(sorted(c) for c in nx.connected_components(graph))
        raise TopologyError(
            "the links must connect every switch into one tree; separate parts: "
            + "; ".join(", ".join(p) for p in parts), ("links",))


def _hosts(data: Any, switches: dict[str, Switch], links: list[Link]) -> list[Host]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise TopologyError("must map host names to attributes", ("hosts",))
    trunk = {ref for link in links for ref in (link.a, link.b)}
    hosts: list[Host] = []
    ports: dict[PortRef, str] = {}
    macs: dict[str, str] = {}
    ips: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for name, attrs in data.items():
        path = ("hosts", name)
        if not isinstance(name, str) or not _NAME.match(name) or name in switches:
            raise TopologyError("host name must be a short name (letter first, at most 10 "
                                "characters) not used by a switch", path)
        _expect_keys(attrs, path, ("switch", "port", "mac", "ip"), ())
        switch = attrs["switch"]
        if switch not in switches:
            raise TopologyError(f"unknown switch '{switch}'", (*path, "switch"))
        port = _int(attrs["port"], (*path, "port"), 1, MAX_PORT, "port")
        ref = PortRef(switch, port)
        if ref in trunk:
            raise TopologyError(f"port {ref} is a fiber link port, not an edge port",
                                (*path, "port"))
        if ref in ports:
            raise TopologyError(f"port {ref} is already used by host '{ports[ref]}'",
                                (*path, "port"))
        mac = str(attrs["mac"]).lower()
        if not _MAC.match(mac) or int(mac[:2], 16) & 1 or mac == "00:00:00:00:00:00":
            raise TopologyError(f"mac must be a unicast MAC like 00:00:00:00:00:01, "
                                f"got {attrs['mac']!r}", (*path, "mac"))
        if mac in macs:
            raise TopologyError(f"mac {mac} is already used by host '{macs[mac]}'", (*path, "mac"))
        try:
            iface = ipaddress.ip_interface(str(attrs["ip"]))
        except ValueError:
            raise TopologyError(f"ip must be an address with prefix like 10.0.0.1/24, "
                                f"got {attrs['ip']!r}", (*path, "ip")) from None
        if "/" not in str(attrs["ip"]):
            raise TopologyError(f"ip needs a prefix length, like 10.0.0.1/24, got {attrs['ip']!r}",
                                (*path, "ip"))
        if iface.ip in ips:
            raise TopologyError(f"ip {iface.ip} is already used by host '{ips[iface.ip]}'",
                                (*path, "ip"))
        ports[ref], macs[mac], ips[iface.ip] = name, name, name
        hosts.append(Host(name, switch, port, mac, str(iface)))
    return hosts


def _build(data: Any) -> Topology:
    _expect_keys(data, (), ("switches",), ("links", "hosts"))
    switches = _switches(data["switches"])
    by_name = {s.name: s for s in switches}
    links = _links(data.get("links"), by_name)
    _check_tree(switches, links)
    hosts = _hosts(data.get("hosts"), by_name, links)
    return Topology(switches, links, hosts)
