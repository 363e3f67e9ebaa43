"""What the end-to-end tests share: the controller process, the REST client,
the parties of the demo tree, reachability between hosts, and switch dumps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from apps.lldp import lldp_flows
from apps.ofctl_text import flow_text
from controller.core import ServiceCore
from controller.store import open_store
from flows.compiler import compile_network
from flows.rules import SwitchTables
from mininet_scenarios.network import MetroNetwork
from tests.conftest import METRO_YAML, ROOT, free_port
from topology import load_topology
from topology.model import Topology

KIND = "ethernet-channel"


class Controller:
    """`metroshare controller` as a process; restartable on the same ports and database."""

    def __init__(self, topology: Path, workdir: Path) -> None:
        self.topology, self.workdir = topology, workdir
        self.ofp_port, self.api_port = free_port(), free_port()
        self.db = str(workdir / "metroshare.db")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"controller-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        cmd = [sys.executable, "-m", "metroshare.cli", "controller", "--topology",
               str(self.topology), "--db", self.db, "--ofp-port", str(self.ofp_port),
               "--api-port", str(self.api_port)]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_until(lambda: self._api_up(), 20, "the controller's API to answer")

    def _api_up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"controller exited:\n{self.log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/healthz", timeout=1)
            return True
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no goodbye to the switches, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def admin_token(self) -> str:
        return Path(self.db + ".admin-token").read_text().strip()

    def api(self, token: str | None = None) -> Api:
        return Api(f"http://127.0.0.1:{self.api_port}", token or self.admin_token)

    def log_text(self) -> str:
        return self.log.read_text()

    def expected_tables(self, topology: Topology) -> dict[str, SwitchTables]:
        """The compiled state of the services the database holds, with the LLDP rules."""
        core = ServiceCore(topology, open_store(self.db), admin_token=self.admin_token)
        compiled = compile_network(topology, core.desired_intents())
        return {name: SwitchTables(t.flows | lldp_flows(topology, name), t.groups, t.meters)
                for name, t in compiled.items()}


@dataclass
class Metro:
    """The demo tree in Mininet, its controller, and one party per host."""

    controller: Controller
    net: object
    topology: Topology
    parties: dict[str, Api]
    workdir: Path

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
    controller = Controller(controller_topology, workdir)
    controller.start()
    try:
        with MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)) as net:
            world = Metro(controller, net, topology,
                          create_parties(controller.api(), topology), workdir)
            world.wait_connected()
            yield world
    finally:
        controller.stop()


class Api:
    """A tiny JSON client of the northbound API."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: dict | None = None) -> dict | list:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + "/api/v1" + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} -> {exc.code}: {exc.read().decode()}") from exc


def create_parties(admin: Api, topology: Topology) -> dict[str, Api]:
    """One party per host ("p1" for h1) with one interface ("if1") on the host's port."""
    parties = {}
    for host in topology.hosts.values():
        n = host.name[1:]
        party = admin.call("POST", "/parties", {
            "name": f"p{n}",
            "account": {"status": "active", "service_kinds": [KIND],
                        "max_bandwidth_mbps": 1000, "max_channels": 4},
            "interfaces": [{"name": f"if{n}", "switch": host.switch, "port": host.port,
                            "mac": host.mac}],
        })
        parties[host.name] = Api(admin.base, party["token"])
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
