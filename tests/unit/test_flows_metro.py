"""The demo metro tree, with the services the end-to-end tests provision,
proved in the simulator first: who reaches whom, written out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.compiler import compile_network
from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT
from flows.simulator import Frame, NetworkSimulator
from tests.unit.test_flows_trees import service
from topology.loader import load_topology

BROADCAST = "ff:ff:ff:ff:ff:ff"


def reachability(metro_yaml: Path, plan: list[tuple[str, list[str]]]) -> set[tuple[str, str]]:
    """(a, b) for every pair where a's unicast to b and a's broadcast both reach b."""
    topology = load_topology(metro_yaml)
    hosts = topology.hosts
    intents = [service(i, 100 + i, kind, [hosts[n] for n in names])
               for i, (kind, names) in enumerate(plan, start=1)]
    sim = NetworkSimulator(topology, compile_network(topology, intents))
    at = {h.edge_port: name for name, h in hosts.items()}
    pairs = set()
    for a, ha in hosts.items():
        flooded = {at[d.port] for d in sim.send(ha.edge_port, Frame(ha.mac, BROADCAST))}
        for b, hb in hosts.items():
            unicast = {at[d.port] for d in sim.send(ha.edge_port, Frame(ha.mac, hb.mac))}
            if b in unicast and b in flooded:
                pairs.add((a, b))
            else:
                assert b not in unicast and b not in flooded, (a, b)
    return pairs


def both_ways(*pairs: tuple[str, str]) -> set[tuple[str, str]]:
    return {p for a, b in pairs for p in ((a, b), (b, a))}


def test_one_service_of_each_type(metro_yaml: Path) -> None:
    plan = [(POINT_TO_POINT, ["h1", "h8"]),
            (MULTIPOINT, ["h2", "h3", "h5"]),
            (POINT_TO_MULTIPOINT, ["h4", "h6", "h7"])]
    assert reachability(metro_yaml, plan) == both_ways(
        ("h1", "h8"), ("h2", "h3"), ("h2", "h5"), ("h3", "h5"), ("h4", "h6"), ("h4", "h7"))


@pytest.mark.parametrize("root", ["h1", "h3"])
def test_point_to_multipoint_leaves_on_one_switch_never_meet(metro_yaml: Path,
                                                             root: str) -> None:
    leaves = [h for h in ("h3", "h4", "h5", "h6") if h != root]
    pairs = reachability(metro_yaml, [(POINT_TO_MULTIPOINT, [root, *leaves])])
    assert pairs == both_ways(*((root, leaf) for leaf in leaves))
