"""The running demo tree: real controller process, real Mininet, parties p1..p8."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mininet_scenarios.network import MetroNetwork
from tests.conftest import METRO_YAML
from tests.e2e.metro import Api, Controller, create_parties, wait_until
from topology import load_topology
from topology.model import Topology


@dataclass
class Metro:
    controller: Controller
    net: object
    topology: Topology
    parties: dict[str, Api]
    workdir: Path

    def wait_connected(self, timeout: float = 20) -> None:
        wait_until(lambda: self.controller.api().call("GET", "/topology") and all(
            s["connected"] for s in self.controller.api().call("GET", "/topology")["switches"]),
            timeout, "every switch to connect")


@pytest.fixture
def metro(network_lock, tmp_path: Path) -> Iterator[Metro]:
    topology = load_topology(METRO_YAML)
    controller = Controller(METRO_YAML, tmp_path)
    controller.start()
    try:
        with MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)) as net:
            world = Metro(controller, net, topology,
                          create_parties(controller.api(), topology), tmp_path)
            world.wait_connected()
            yield world
    finally:
        controller.stop()
