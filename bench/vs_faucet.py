"""Benchmark: metroshare beside Faucet, the same services on the same Mininet tree.

Both controllers run one after the other on one topology file (default: the
demo tree), each with its own Mininet network. The same two services, each
joining two hosts across the core, are brought up and torn down several times:

- metroshare: a point-to-point service, offered and accepted through the REST
  API; the change is the `POST /offers/{id}/accept` call;
- Faucet (installed from PyPI into its own venv under `bench/.peers/faucet`):
  the tree as a Faucet stack rooted at the core, a VLAN whose native ports are
  the two hosts' ports; the change is rewriting its YAML and sending SIGHUP.

For each change it measures the time to the first answered ping between the
two hosts, the ping (every 5 ms) started before the change. Neighbours are
pinned (static ARP) on both sides so that the kernel's 1 s ARP retry never
hides in the figure. With both services live it counts the rules on each
switch (flows, groups, meters). It prints one table with the ratios.

    sudo .venv/bin/python -m bench.vs_faucet [--rounds 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from mininet_scenarios.network import MetroNetwork, intf_name
from tests.conftest import NETWORK_LOCK
from tests.e2e.metro import Metro, create_parties, flow_lines, group_ids, meter_ids
from tests.harness import KIND, METRO_YAML, free_port, running_controller
from topology import load_topology
from topology.model import Topology

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / "bench" / ".peers" / "faucet"
FAUCET_SPEC = "faucet~=1.10.0"  # 1.10.12 verified on this machine
# Both pairs cross the core of the demo tree, so every switch carries a service.
PAIRS = (("h1", "h5"), ("h3", "h8"))
FIRST_VID = 101
PROBE_INTERVAL_S = 0.005
PROBE_WARMUP_S = 0.2  # the probe is sending before the change is made
FIRST_FRAME_TIMEOUT_S = 10
READY_TIMEOUT_S = 60  # Faucet's stack ports come up by LLDP, a few seconds
INSTALL_TIMEOUT_S = 900
# What Faucet's own install puts in /etc/faucet/ryu.conf: prompt detection of a lost switch.
OSKEN_CONF = "[DEFAULT]\necho_request_interval=3\nmaximum_unreplied_echo_requests=5\n"
STACK_UP = 3  # faucet.port.STACK_STATE_UP


@dataclass
class Result:
    """What one controller did: first-frame times per pair and the rules per switch."""

    first_frame_s: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    rules: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # flows, groups, meters
    note: str = ""

    @property
    def samples(self) -> list[float]:
        return [t for times in self.first_frame_s.values() for t in times]


# --- Faucet: install, configure, run ---------------------------------------------------------

def ensure_faucet(venv: Path = PEER_VENV) -> Path:
    """The `bin` of Faucet's own venv, installed from PyPI only when missing.

    Kept apart from the project's .venv: Faucet brings os-ken and a newer
    eventlet that would break Ryu 4.34. As root its build also writes
    /etc/faucet and /var/log/faucet; we pass our own paths, so whichever of
    them the install created is removed again."""
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text().strip() == FAUCET_SPEC:
        return venv / "bin"
    shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted install
    made_by_install = [p for p in (Path("/etc/faucet"), Path("/var/log/faucet")) if not p.exists()]
    print(f"installing {FAUCET_SPEC} into {venv} (once, about 30 s)",
          flush=True)
    log = venv.parent / "faucet-install.log"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        with open(log, "w") as out:
            pip = subprocess.run([str(venv / "bin" / "pip"), "install", FAUCET_SPEC], stdout=out,
                                 stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S)
        if pip.returncode:
            sys.exit(f"pip install {FAUCET_SPEC} failed; see {log}")
    finally:
        for path in made_by_install:
            shutil.rmtree(path, ignore_errors=True)
    stamp.write_text(FAUCET_SPEC + "\n")
    return venv / "bin"


def faucet_config(topology: Topology, services: dict[tuple[str, str], int]) -> dict:
    """The tree as a Faucet stack rooted at the core; each service (host pair -> VID) a VLAN
    whose native ports are the two hosts' ports.

    Stack ports carry every VLAN, so the fiber ports need nothing more."""
    dps: dict[str, dict] = {
        s.name: {"dp_id": s.dpid, "hardware": "Open vSwitch", "interfaces": {}}
        for s in topology.switches.values()}
    for s in topology.switches.values():
        if s.role == "core":
            dps[s.name]["stack"] = {"priority": 1}
    for link in topology.links:
        for here, there in ((link.a, link.b), (link.b, link.a)):
            dps[here.switch]["interfaces"][here.port] = {
                "description": f"fiber to {there}",
                "stack": {"dp": there.switch, "port": there.port}}
    config: dict = {"dps": dps}
    if services:
        config["vlans"] = {}
    for pair, vid in services.items():
        name = "svc-" + "-".join(pair)
        config["vlans"][name] = {"vid": vid}
        for host in pair:
            h = topology.hosts[host]
            dps[h.switch]["interfaces"][h.port] = {"description": host, "native_vlan": name}
    return config


def prometheus(port: int) -> list[tuple[str, dict[str, str], float]]:
    """Faucet's metrics as (name, labels, value)."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    out = []
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            out.append((match.group(1), labels, float(match.group(3))))
    return out


class Faucet:
    """Faucet from its venv on free ports (OpenFlow and Prometheus on 127.0.0.1), run from
    a YAML file that `apply` rewrites and reloads with SIGHUP, as an operator would."""

    def __init__(self, bin_dir: Path, workdir: Path) -> None:
        self.bin_dir, self.workdir = bin_dir, workdir
        self.config = workdir / "faucet.yaml"
        self.ofp_port, self.prom_port = free_port(), free_port()
        self.proc: subprocess.Popen | None = None

    def write(self, config: dict) -> None:
        """Atomically, so that a reload never reads half a file."""
        tmp = self.config.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.replace(tmp, self.config)

    def start(self, config: dict) -> None:
        """Returns once the OpenFlow port accepts connections: OVS backs off its reconnects."""
        self.write(config)
        conf = self.workdir / "os_ken.conf"
        conf.write_text(OSKEN_CONF)
        env = dict(os.environ, PATH=f"{self.bin_dir}:{os.environ.get('PATH', '')}",
                   FAUCET_CONFIG=str(self.config),
                   FAUCET_LOG=str(self.workdir / "faucet.log"),
                   FAUCET_EXCEPTION_LOG=str(self.workdir / "faucet_exception.log"),
                   FAUCET_PROMETHEUS_ADDR="127.0.0.1", FAUCET_PROMETHEUS_PORT=str(self.prom_port))
        cmd = [str(self.bin_dir / "faucet"), f"--ryu-config-file={conf}",
               "--ryu-ofp-listen-host=127.0.0.1", f"--ryu-ofp-tcp-listen-port={self.ofp_port}"]
        with open(self.workdir / "faucet.out", "w") as out:
            self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir)
        self._wait(self._listening, "Faucet to listen")

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.ofp_port), timeout=1).close()
            self.metrics()
            return True
        except (OSError, requests.RequestException):
            return False

    def _wait(self, check: Callable[[], bool], what: str,
              timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"Faucet exited while waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout} s waiting for {what}:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.1)  # each scrape costs Faucet ~10 ms of its one CPU-bound thread

    def metrics(self) -> list[tuple[str, dict[str, str], float]]:
        return prometheus(self.prom_port)

    def value(self, name: str, **labels: str) -> float | None:
        for metric, have, value in self.metrics():
            if metric == name and all(have.get(k) == v for k, v in labels.items()):
                return value
        return None

    def wait_ready(self, topology: Topology) -> None:
        """Every switch connected and every stack port UP (LLDP both ways)."""
        def ready() -> bool:
            metrics = self.metrics()
            up = {m[1].get("dp_name") for m in metrics if m[0] == "dp_status" and m[2] == 1}
            stacked = {(m[1].get("dp_name"), m[1].get("port")) for m in metrics
                       if m[0] == "port_stack_state" and m[2] == STACK_UP}
            fibers = {(e.switch, str(e.port)) for link in topology.links for e in (link.a, link.b)}
            return set(topology.switches) <= up and fibers <= stacked

        self._wait(ready, "every switch and stack port up")

    def reloads(self) -> float:
        return self.value("faucet_config_reload_requests_total") or 0.0

    def apply(self, config: dict) -> None:
        """Rewrite the YAML and SIGHUP: what an operator does to change Faucet's services."""
        assert self.proc is not None, "never started"
        self.write(config)
        self.proc.send_signal(signal.SIGHUP)

    def wait_applied(self, reloads_before: float) -> None:
        """The reload handled and its flows sent to every switch."""
        self._wait(lambda: self.reloads() > reloads_before
                   and self.value("faucet_config_applied") == 1.0, "the reload")
        if self.value("faucet_config_load_error") == 1.0:
            raise RuntimeError(f"Faucet refused its config:\n{self.log_tail()}")

    def reload_kinds(self) -> tuple[int, int]:
        """Warm and cold reloads so far, summed over the switches."""
        warm = cold = 0
        for metric, _, value in self.metrics():
            if metric == "faucet_config_reload_warm_total":
                warm += int(value)
            elif metric == "faucet_config_reload_cold_total":
                cold += int(value)
        return warm, cold

    def log_tail(self) -> str:
        parts = []
        for name in ("faucet.out", "faucet.log", "faucet_exception.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text()[-2000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """SIGINT is Faucet's clean stop; SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_faucet(bin_dir: Path, workdir: Path, config: dict) -> Iterator[Faucet]:
    faucet = Faucet(bin_dir, workdir)
    try:
        faucet.start(config)
        yield faucet
    finally:
        faucet.stop()


# --- Probes ----------------------------------------------------------------------------------

def ip_of(topology: Topology, host: str) -> str:
    return topology.hosts[host].ip.split("/")[0]


def pin_neighbours(net, topology: Topology, pairs: list[tuple[str, str]]) -> None:
    """Static ARP both ways, so that the first echo needs no ARP exchange."""
    for a, b in pairs:
        for here, there in ((a, b), (b, a)):
            t = topology.hosts[there]
            net.get(here).cmd(f"ip neigh replace {ip_of(topology, there)} lladdr {t.mac} "
                              f"dev {intf_name(here, 0)} nud permanent")


def first_reply_after(net, topology: Topology, a: str, b: str,
                      change: Callable[[], object]) -> float:
    """Seconds from the start of `change` to the first echo reply `a` gets from `b`.

    The ping runs before the change so that the first frame the new rules let
    through is caught, 5 ms apart; `-D` stamps each reply on arrival."""
    cmd = ["ping", "-D", "-n", "-c", "1", "-w", str(FIRST_FRAME_TIMEOUT_S),
           "-i", str(PROBE_INTERVAL_S), ip_of(topology, b)]
    proc = net.get(a).popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(PROBE_WARMUP_S)
        if proc.poll() is not None:
            raise RuntimeError(f"{a} reached {b} before the change:\n{proc.stdout.read()}")
        start = time.time()
        change()
        out, _ = proc.communicate(timeout=FIRST_FRAME_TIMEOUT_S + 5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    match = re.search(r"^\[(\d+\.\d+)\] \d+ bytes from", out, re.MULTILINE)
    if not match:
        raise RuntimeError(f"{a} got no answer from {b} within {FIRST_FRAME_TIMEOUT_S} s:\n{out}")
    return float(match.group(1)) - start


def wait_isolated(net, topology: Topology, a: str, b: str, attempts: int = 20) -> None:
    """Until `a` no longer reaches `b`: the teardown has reached the switches."""
    for _ in range(attempts):
        ping = net.get(a).popen(["ping", "-n", "-c", "3", "-i", "0.05", "-W", "0.2",
                                 ip_of(topology, b)], stdout=subprocess.DEVNULL)
        if ping.wait(timeout=5) != 0:
            return
    raise RuntimeError(f"{a} still reaches {b} after the service was removed")


def rules(topology: Topology) -> dict[str, tuple[int, int, int]]:
    """Flows, groups and meters on every switch."""
    return {s: (len(flow_lines(s)), len(group_ids(s)), len(meter_ids(s)))
            for s in topology.switches}


# --- The two runs ----------------------------------------------------------------------------

@contextmanager
def log_on_error(who: str, tail: Callable[[], str]) -> Iterator[None]:
    """The controller's last words when a run fails: its log goes with the temporary folder."""
    try:
        yield
    except Exception:
        print(f"--- {who}'s log, last lines:\n{tail()}", file=sys.stderr)
        raise


def measure_metroshare(topology_file: Path, topology: Topology, pairs: list[tuple[str, str]],
                       rounds: int, workdir: Path) -> Result:
    """Point-to-point services through the REST API; the change is the acceptance call."""
    result = Result()
    with running_controller(workdir, topology_file) as controller, \
            MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)) as net, \
            log_on_error("metroshare", lambda: controller.log_text()[-3000:]):
        parties = create_parties(controller, topology)
        Metro(controller, net, topology, parties, workdir).wait_connected()
        pin_neighbours(net, topology, pairs)

        def bring_up(a: str, b: str) -> tuple[int, float]:
            service = parties[a].call("POST", "/services", {
                "name": f"{a}-{b}", "kind": KIND, "interface": f"if{a[1:]}",
                "attributes": {"type": "point-to-point", "bandwidth_mbps": 100}})
            offer = parties[a].call("POST", f"/services/{service['id']}/offers",
                                    {"party": f"p{b[1:]}"})
            took = first_reply_after(net, topology, a, b, lambda: parties[b].call(
                "POST", f"/offers/{offer['id']}/accept", {"interface": f"if{b[1:]}"}))
            return service["id"], took

        for _ in range(rounds):
            for a, b in pairs:
                service_id, took = bring_up(a, b)
                result.first_frame_s.setdefault((a, b), []).append(took)
                parties[a].call("DELETE", f"/services/{service_id}")
                wait_isolated(net, topology, a, b)
        for a, b in pairs:
            bring_up(a, b)
        result.rules = rules(topology)
    return result


def measure_faucet(bin_dir: Path, topology: Topology, pairs: list[tuple[str, str]],
                   rounds: int, workdir: Path) -> Result:
    """VLANs in Faucet's YAML; the change is the rewrite plus SIGHUP."""
    result = Result()
    vids = {pair: FIRST_VID + i for i, pair in enumerate(pairs)}
    with running_faucet(bin_dir, workdir, faucet_config(topology, {})) as faucet, \
            MetroNetwork(topology, ("127.0.0.1", faucet.ofp_port)) as net, \
            log_on_error("Faucet", faucet.log_tail):
        faucet.wait_ready(topology)
        pin_neighbours(net, topology, pairs)

        def change_to(services: list[tuple[str, str]]) -> Callable[[], None]:
            config = faucet_config(topology, {pair: vids[pair] for pair in services})
            return lambda: faucet.apply(config)

        for _ in range(rounds):
            for a, b in pairs:
                before = faucet.reloads()
                took = first_reply_after(net, topology, a, b, change_to([(a, b)]))
                faucet.wait_applied(before)
                result.first_frame_s.setdefault((a, b), []).append(took)
                before = faucet.reloads()
                change_to([])()
                faucet.wait_applied(before)
                wait_isolated(net, topology, a, b)
        for i, (a, b) in enumerate(pairs):
            before = faucet.reloads()
            first_reply_after(net, topology, a, b, change_to(list(pairs[:i + 1])))
            faucet.wait_applied(before)
        result.rules = rules(topology)
        warm, cold = faucet.reload_kinds()
        result.note = f"Faucet reloads: {warm} warm, {cold} cold (per switch)"
    return result


# --- The table -------------------------------------------------------------------------------

def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else "—"


def print_table(topology_file: Path, pairs: list[tuple[str, str]], rounds: int,
                ms: Result, fc: Result) -> None:
    rows: list[tuple[str, str, str, str]] = []
    for label, pick in (("median", statistics.median), ("max", max)):
        a, b = pick(ms.samples) * 1000, pick(fc.samples) * 1000
        rows.append((f"first frame after the change, {label} (ms)", f"{a:.1f}", f"{b:.1f}",
                     ratio(a, b)))
    flows = {name: [r[0] for r in res.rules.values()] for name, res in (("ms", ms), ("fc", fc))}
    rows.append(("flows per switch, min–max", f"{min(flows['ms'])}–{max(flows['ms'])}",
                 f"{min(flows['fc'])}–{max(flows['fc'])}", "—"))
    for i, what in enumerate(("flows", "groups", "meters")):
        a, b = (sum(r[i] for r in res.rules.values()) for res in (ms, fc))
        rows.append((f"{what}, all {len(ms.rules)} switches", str(a), str(b), ratio(a, b)))
    for switch in ms.rules:
        a, b = ms.rules[switch], fc.rules[switch]
        rows.append((f"{switch}: flows / groups / meters", " / ".join(map(str, a)),
                     " / ".join(map(str, b)), ratio(sum(a), sum(b))))
    services = ", ".join(f"{a}–{b}" for a, b in pairs)
    print(f"\nmetroshare beside Faucet: {topology_file.name}, services {services}, "
          f"{rounds} rounds each (n={len(ms.samples)} per controller)")
    width = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{width}} | metroshare | Faucet | ratio (metroshare / Faucet) |")
    print(f"| {'-' * width} | ---: | ---: | ---: |")
    for figure, a, b, r in rows:
        print(f"| {figure:<{width}} | {a} | {b} | {r} |")
    print("(per switch, the ratio is of flows + groups + meters)\n\nfirst-frame samples (ms):")
    for name, res in (("metroshare", ms), ("Faucet", fc)):
        for pair, times in res.first_frame_s.items():
            print(f"  {name:<10} {pair[0]}–{pair[1]}: "
                  + " ".join(f"{t * 1000:.0f}" for t in times))
    if fc.note:
        print(fc.note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="changes per service")
    parser.add_argument("--topology", type=Path, default=METRO_YAML)
    parser.add_argument("--pairs", default=",".join(f"{a}-{b}" for a, b in PAIRS),
                        help="services as host pairs, e.g. h1-h5,h3-h8")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the logs and configs in DIR instead of a temporary folder")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("--rounds: at least 1")
    if os.geteuid() != 0:
        sys.exit("needs root (Mininet and Open vSwitch)")
    topology = load_topology(args.topology)
    pairs = [tuple(p.split("-", 1)) for p in args.pairs.split(",")]
    unknown = {h for pair in pairs for h in pair} - set(topology.hosts)
    if unknown or any(len(p) != 2 for p in pairs):
        sys.exit(f"--pairs: expected host pairs like h1-h5 from {args.topology}; "
                 f"unknown: {sorted(unknown)}")
    bin_dir = ensure_faucet()
    with open(NETWORK_LOCK, "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        workdir = args.keep or Path(tmp)
        for name in ("metroshare", "faucet"):
            (workdir / name).mkdir(parents=True, exist_ok=True)
        ms = measure_metroshare(args.topology, topology, pairs, args.rounds,
                                workdir / "metroshare")
        fc = measure_faucet(bin_dir, topology, pairs, args.rounds, workdir / "faucet")
    print_table(args.topology, pairs, args.rounds, ms, fc)


if __name__ == "__main__":
    main()
