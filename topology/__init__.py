"""The metro tree model: loading, validation, paths and subtrees."""

from topology.loader import TopologyError, load_topology, parse_topology
from topology.model import Hop, Host, Link, PortRef, Subtree, Switch, Topology

__all__ = [
    "Hop", "Host", "Link", "PortRef", "Subtree", "Switch", "Topology", "TopologyError",
    "load_topology", "parse_topology",
]
