"""What the end-to-end tests share: the demo tree in Mininet with its controller,
the parties of the tree, reachability between hosts, and switch dumps."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from apps.ofctl_text import flow_text
from controller.core import ServiceCore
from controller.store import open_store
from flows.compiler import compile_network
from flows.rules import SwitchTables
from mininet_scenarios.network import MetroNetwork
from tests.harness import KIND, METRO_YAML, Api, Controller, running_controller
from topology import load_topology
from topology.model import Topology


@dataclass
class Metro:
    """The demo tree in Mininet, its controller, and one party per host."""

    controller: Controller
    net: object
    topology: Topology
    parties: dict[str, Api]
    workdir: Path

    def expected_tables(self) -> dict[str, SwitchTables]:
        """The compiled state of the services the database holds (the LLDP probe
        rules and their meter included: they are infrastructure)."""
        core = ServiceCore(self.topology, open_store(self.controller.db),
                           admin_token=self.controller.admin_token, replica=True)
        return compile_network(self.topology, core.desired_intents())

    def wait_connected(self, timeout: float = 20) -> None:
        def all_connected() -> bool:
            switches = self.controller.api().call("GET", "/topology")["switches"]
            return all(s["connected"] for s in switches)

        wait_until(all_connected, timeout, "every switch to connect")


@contextmanager
def running_metro(workdir: Path, controller_topology: Path = METRO_YAML) -> Iterator[Metro]:
    """Controller (reading `controller_topology`) and the Mininet network of metro.yaml.

    Callers hold the `network_lock` fixture."""
    topology = load_topology(METRO_YAML)
    with running_controller(workdir, controller_topology) as controller, \
            MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)) as net:
        world = Metro(controller, net, topology, create_parties(controller, topology), workdir)
        world.wait_connected()
        yield world


def create_parties(controller: Controller, topology: Topology) -> dict[str, Api]:
    """One party per host ("p1" for h1) with one interface ("if1") on the host's port."""
    parties = {}
    for host in topology.hosts.values():
        n = host.name[1:]
        token = controller.party(f"p{n}", [(f"if{n}", host.switch, host.port, host.mac)],
                                 max_channels=4)
        parties[host.name] = controller.api(token)
    return parties


def create_service(parties: dict[str, Api], kind_type: str, owner: str, others: list[str],
                   bandwidth_mbps: int = 100) -> tuple[int, list[float]]:
    """A service owned by host `owner`'s party, accepted by the others' parties.

    Returns the service id and how long each acceptance took (seconds)."""
    service = parties[owner].call("POST", "/services", {
        "name": f"{kind_type}-{owner}", "kind": KIND, "interface": f"if{owner[1:]}",
        "attributes": {"type": kind_type, "bandwidth_mbps": bandwidth_mbps}})
    took = []
    for host in others:
        offer = parties[owner].call("POST", f"/services/{service['id']}/offers",
                                    {"party": f"p{host[1:]}"})
        start = time.perf_counter()
        parties[host].call("POST", f"/offers/{offer['id']}/accept", {"interface": f"if{host[1:]}"})
        took.append(time.perf_counter() - start)
    return service["id"], took


def wait_until(check, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def reachability(net, topology: Topology) -> set[tuple[str, str]]:
    """Every (a, b) where one ping from host a to host b is answered; all hosts at once."""
    hosts = sorted(topology.hosts)
    ips = {h: topology.hosts[h].ip.split("/")[0] for h in hosts}
    for h in hosts:
        others = " ".join(f"{o}={ips[o]}" for o in hosts if o != h)
        net.get(h).sendCmd(
            f"for t in {others}; do (ping -c2 -i0.2 -W1 ${{t#*=}} >/dev/null 2>&1 "
            f"&& echo OK ${{t%%=*}}) & done; wait")
    reached = set()
    for h in hosts:
        for line in net.get(h).waitOutput().splitlines():
            if line.startswith("OK "):
                reached.add((h, line.split()[1]))
    return reached


def ofctl(*args: str) -> str:
    return subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", *args], capture_output=True,
                          text=True, check=True).stdout


def flow_lines(switch: str) -> list[str]:
    return [line.strip() for line in ofctl("dump-flows", switch).splitlines()[1:]]


def diff_flows(switch: str, tables: SwitchTables, workdir: Path) -> str:
    """`ovs-ofctl diff-flows` of the switch against the compiled flows: empty when equal."""
    path = workdir / f"{switch}.flows"
    path.write_text("\n".join(flow_text(f) for f in sorted(tables.flows)) + "\n")
    result = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "diff-flows", switch, str(path)],
                            capture_output=True, text=True)
    return result.stdout + result.stderr


def group_ids(switch: str) -> set[int]:
    return {int(m) for m in re.findall(r"group_id=(\d+)", ofctl("dump-groups", switch))}


def meter_ids(switch: str) -> set[int]:
    return {int(m) for m in re.findall(r"meter=(\d+)", ofctl("dump-meters", switch))}


def mismatches(topology: Topology, expected: dict[str, SwitchTables], workdir: Path) -> dict:
    """Per switch, how it differs from the compiled state (flows, group ids, meter ids)."""
    out = {}
    for name, tables in expected.items():
        problems = []
        flows = diff_flows(name, tables, workdir)
        if flows.strip():
            problems.append(flows)
        if group_ids(name) != {g.group_id for g in tables.groups}:
            problems.append(f"groups {sorted(group_ids(name))}")
        if meter_ids(name) != {m.meter_id for m in tables.meters}:
            problems.append(f"meters {sorted(meter_ids(name))}")
        if problems:
            out[name] = problems
    return out
