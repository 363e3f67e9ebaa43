"""Benchmark: the control plane at scale (issue 8), through the REST API only.

A provider's integration drives the real controller as it would in production:
on a 6-switch tree in Mininet (1 core, 2 aggregation, 3 access), bulk parties
fill N point-to-point services at 1 Mb/s, then the run measures, with the
target beside every figure:

1. the fill: N services by 10 concurrent clients (create, offer, accept);
2. serial acceptance latency (barrier-confirmed) at ~100 and at N live services;
3. 10 writers (create, offer, accept, delete: N stays constant) and, at the
   same time, 20 readers of `GET /services` and `GET /offers` as the bulk
   parties; beside them, the same readers on `/healthz` alone (the client's
   own ceiling);
4. `kill -9` and restart under a live pair between the two Mininet hosts:
   the time from the new process's start until every switch is connected
   again and its tables are the compiled state (`Metro.expected_tables`;
   the flow count first, then `ovs-ofctl diff-flows`, groups and meters, per
   switch), and the frames a `ping -i 0.02` across the tree lost;
5. the controller's RSS with N services;
6. a full compile of 4,000 services on bench/memory.py's 1,000-switch tree
   (in this process, no switch).

The load generator (bench/loadgen.py) is standard library only, with keep-alive
connections and threads spread over a few processes, so that on two cores it
is not the limit. Rates count what completed inside the window; latencies
are per request, p50/p99 by nearest rank. Bulk interfaces sit on edge ports
numbered from 100, which exist only in the rules (OVS takes rules for absent
ports; the run checks it once).

    sudo .venv/bin/python -m bench.scale [--services 4000] [--clients 10]
        [--readers 20] [--seconds 10] [--skip-restart] [--skip-compile]
"""

from __future__ import annotations

import argparse
import fcntl
import gc
import json
import math
import re
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench import loadgen
from bench.loadgen import Client, Member, Pair, Summary
from controller.model import DEFAULT_VLAN_POOL
from flows.compiler import compile_network
from flows.intent import POINT_TO_MULTIPOINT, MemberIntent, ServiceIntent
from flows.rules import SwitchTables
from mininet_scenarios.network import MetroNetwork
from northbound.envelope import MAX_BODY_BYTES
from tests.conftest import NETWORK_LOCK
from tests.e2e.metro import Metro, diff_flows, group_ids, meter_ids, mismatches, ofctl
from tests.harness import Controller
from topology import load_topology
from topology.model import PortRef, Topology

# -- the network ----------------------------------------------------------------------

# Names of their own (not the demo's), so a demo left running is never torn down.
TOPOLOGY_YAML = """\
# bench/scale.py: 1 core, 2 aggregation, 3 access switches; two hosts for the live pair.
switches:
  bcore: {dpid: 0x5c01, role: core}
  bagg1: {dpid: 0x5c02, role: aggregation}
  bagg2: {dpid: 0x5c03, role: aggregation}
  bacc1: {dpid: 0x5c04, role: access}
  bacc2: {dpid: 0x5c05, role: access}
  bacc3: {dpid: 0x5c06, role: access}
links:
  - {ends: [bcore:1, bagg1:1], capacity_mbps: 100000}
  - {ends: [bcore:2, bagg2:1], capacity_mbps: 100000}
  - {ends: [bagg1:2, bacc1:1], capacity_mbps: 100000}
  - {ends: [bagg1:3, bacc2:1], capacity_mbps: 100000}
  - {ends: [bagg2:2, bacc3:1], capacity_mbps: 100000}
hosts:
  bh1: {switch: bacc1, port: 2, mac: "00:00:00:00:5c:01", ip: 10.92.0.1/24}
  bh2: {switch: bacc3, port: 2, mac: "00:00:00:00:5c:02", ip: 10.92.0.2/24}
"""
ACCESS = ("bacc1", "bacc2", "bacc3")
FIRST_BULK_PORT = 100   # bulk interfaces sit on edge ports that exist only in the rules
MAX_INTERFACES = 1000   # per list, controller.validation.interfaces
KIND = "ethernet-channel"

# -- targets (issue 8) -------------------------------------------------------------------

FILL_TARGET_S, FILL_TARGET_N = 60.0, 4000
SERIAL_P50_MS, SERIAL_P99_MS, FLAT_RATIO = 10.0, 50.0, 1.5
ACCEPT_RATE, ACCEPT_P99_MS = 100.0, 250.0
READ_RATE, READ_P99_MS = 1000.0, 100.0
RESTART_S, RSS_MB, COMPILE_S = 5.0, 300.0, 2.0

BASELINE_LIVE = 100       # the "p50 at 100 live services" point of the fill
FILL_PROCESSES = 2
WRITER_PROCESSES = 1
READER_PROCESSES = 2
FILL_TIMEOUT_S = 7200     # bounds the fill (today's controller needs ~30 min for 4,000)
RESTART_TIMEOUT_S = 60
PING_INTERVAL_S = 0.02    # 50 frames/s
SETTLE_S = 2.0            # the ping goes on this long after convergence, then a last check

START = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - START:7.1f} s] {text}", flush=True)


# -- bulk parties ---------------------------------------------------------------------


def compact(value: Any) -> int:
    """Bytes of `value` as the client sends it (compact JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


def bulk_interface(side: int, slot: int) -> dict[str, Any]:
    """Slot `slot` of side 0 (owners) or 1 (acceptors): a unique port and MAC.

    Consecutive interfaces go to different access switches, so the two ends of
    every service are on different switches (a third of them across the core)."""
    g = 2 * slot + side
    return {"name": f"i{slot}", "switch": ACCESS[g % len(ACCESS)],
            "port": FIRST_BULK_PORT + g // len(ACCESS),
            "mac": "02:00:00:" + ":".join(f"{b:02x}" for b in g.to_bytes(3, "big"))}


def account(channels: int) -> dict[str, Any]:
    return {"status": "active", "service_kinds": [KIND], "max_bandwidth_mbps": 1000,
            "max_channels": channels}


def pack_parties(side: int, slots: int) -> list[dict[str, Any]]:
    """The fewest party bodies holding one interface per slot.

    `PATCH /parties/{id}` replaces the whole interface list, and a list holds at
    most 1000 interfaces in a body of at most 64 KiB, so no party can hold more
    than one body's worth: the slots are packed into as few parties as that allows."""
    parties: list[dict[str, Any]] = []
    size = 0
    for slot in range(slots):
        iface = bulk_interface(side, slot)
        if not parties or len(parties[-1]["interfaces"]) >= MAX_INTERFACES \
                or size + compact(iface) + 1 > MAX_BODY_BYTES:
            name = f"bulk-{'ab'[side]}{len(parties)}"
            parties.append({"name": name, "account": account(slots), "interfaces": []})
            size = compact(parties[-1])
        parties[-1]["interfaces"].append(iface)
        size += compact(iface) + 1
    return parties


@dataclass
class Bulk:
    """The bulk parties (name, token) and, per slot, the pair of interfaces it joins."""

    parties: list[tuple[str, str]]
    pairs: list[Pair]


def create_bulk(client: Client, admin: str, slots: int) -> Bulk:
    """Registers both sides' parties; slot s pairs interface i<s> of each side."""
    parties: list[tuple[str, str]] = []
    members: list[list[Member]] = []
    for side in (0, 1):
        side_members = []
        for body in pack_parties(side, slots):
            token = client.call("POST", "/parties", admin, body, expect=201)["token"]
            parties.append((body["name"], token))
            side_members += [Member(body["name"], token, i["name"]) for i in body["interfaces"]]
        members.append(side_members)
    return Bulk(parties, [Pair(a, b) for a, b in zip(*members, strict=True)])


def create_live_pair(client: Client, admin: str, topology: Topology) -> Pair:
    """A third, small pair of parties on the two Mininet hosts."""
    ends = []
    for host in sorted(topology.hosts.values(), key=lambda h: h.name):
        name = f"live-{host.name}"
        token = client.call("POST", "/parties", admin, {
            "name": name, "account": account(4),
            "interfaces": [{"name": host.name, "switch": host.switch, "port": host.port,
                            "mac": host.mac}]}, expect=201)["token"]
        ends.append(Member(name, token, host.name))
    return Pair(*ends)


# -- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    measured: str
    target: str
    baseline: str = ""
    ratio: str = ""
    met: bool | None = None


def fmt(value: float, unit: str, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f} {unit}"


def at_most(value: float, bound: float) -> bool:
    """Met; a figure that could not be measured (NaN) is not."""
    return not math.isnan(value) and value <= bound


def at_least(value: float, bound: float) -> bool:
    return not math.isnan(value) and value >= bound


def print_table(rows: list[Row], title: str) -> None:
    head = ("figure", "measured", "target", "baseline (same run)", "ratio", "met?")
    cells = [head] + [(r.figure, r.measured, r.target, r.baseline or "—", r.ratio or "—",
                       {True: "yes", False: "NO", None: "—"}[r.met]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(head))]
    print(f"\n{title}\n")
    for i, c in enumerate(cells):
        print("| " + " | ".join(x.ljust(w) for x, w in zip(c, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


# -- phases ------------------------------------------------------------------------------


def serial(client: Client, pair: Pair, samples: int, prefix: str) -> Summary:
    """`samples` cycles one after another, each service deleted again: N stays put."""
    start = time.monotonic()
    result = loadgen.Result()
    loadgen.churn(client, start, math.inf, pair, prefix, samples, result)
    return loadgen.summarize([result], start, time.monotonic() - start)


def fill(port: int, bulk: Bulk, first: int, last: int, clients: int) -> tuple[Summary, float]:
    """Bulk services first..last-1 by `clients` concurrent clients; (summary, wall s)."""
    jobs = [(bulk.pairs[s], f"bulk-{s}") for s in range(first, last)]
    threads = [(loadgen.fill, {"jobs": share}) for share in loadgen.split(jobs, clients)]
    processes, start_at = loadgen.run(port, loadgen.split(threads, FILL_PROCESSES),
                                      FILL_TIMEOUT_S)
    results = [r for proc in processes for r in proc]
    finished = [t for r in results for t in r.done_at]
    wall = (max(finished) - start_at) if finished else math.nan
    return loadgen.summarize(results, start_at, wall if finished else 1.0), wall


def reader_threads(readers: int, paths: list[str], tokens: list[str | None],
                   seconds: float) -> list[list[loadgen.Job]]:
    """`readers` threads over READER_PROCESSES processes; thread i reads as tokens[i % n],
    starting at paths[i % len(paths)] (so both paths are read at every moment)."""
    bound = int(seconds * 20_000) + 1000  # far above any rate this machine can reach
    threads = [(loadgen.read, {"paths": paths[i % len(paths):] + paths[:i % len(paths)],
                               "token": tokens[i % len(tokens)], "max_reads": bound})
               for i in range(readers)]
    return loadgen.split(threads, READER_PROCESSES)


def concurrency(port: int, bulk: Bulk, n: int,
                args: argparse.Namespace) -> tuple[Summary, Summary]:
    """Writers (create, offer, accept, delete on spare slots) and readers at once."""
    writers = [(loadgen.churn, {"pair": bulk.pairs[n + i], "prefix": f"churn{i}",
                                "max_cycles": int(args.seconds * 1000) + 100})
               for i in range(args.clients)]
    paths = [f"{loadgen.API}/services", f"{loadgen.API}/offers"]
    readers = reader_threads(args.readers, paths, [t for _, t in bulk.parties], args.seconds)
    writer_procs = loadgen.split(writers, WRITER_PROCESSES)
    results, start_at = loadgen.run(port, writer_procs + readers, args.seconds)
    flat = [[r for proc in part for r in proc]
            for part in (results[:len(writer_procs)], results[len(writer_procs):])]
    return (loadgen.summarize(flat[0], start_at, args.seconds),
            loadgen.summarize(flat[1], start_at, args.seconds))


def healthz_ceiling(port: int, args: argparse.Namespace) -> Summary:
    """The same reader threads on `/healthz` alone: what the client can do at most."""
    processes = reader_threads(args.readers, ["/healthz"], [None], args.baseline_seconds)
    results, start_at = loadgen.run(port, processes, args.baseline_seconds)
    return loadgen.summarize([r for proc in results for r in proc], start_at,
                             args.baseline_seconds)


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def flow_count(switch: str) -> int:
    return int(re.search(r"flow_count=(\d+)", ofctl("dump-aggregate", switch)).group(1))


def switch_matches(switch: str, tables: SwitchTables, workdir: Path) -> bool:
    """The switch holds exactly `tables`; the flow count is checked first (cheap)."""
    return (flow_count(switch) == len(tables.flows)
            and not diff_flows(switch, tables, workdir).strip()
            and group_ids(switch) == {g.group_id for g in tables.groups}
            and meter_ids(switch) == {m.meter_id for m in tables.meters})


def hub_lag(client: Client, admin: str) -> dict[str, float]:
    """The controller's `metroshare_hub_lag_seconds` so far: bucket bound -> count
    (cumulative, as Prometheus gives them), and "count"."""
    status, raw = client.request("GET", "/metrics", admin)
    if status != 200:
        raise RuntimeError(f"GET /metrics answered {status}: {raw[:200]!r}")
    out: dict[str, float] = {}
    for line in raw.decode().splitlines():
        if line.startswith("metroshare_hub_lag_seconds_bucket{"):
            out[line.split('le="')[1].split('"')[0]] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("metroshare_hub_lag_seconds_count"):
            out["count"] = float(line.rsplit(" ", 1)[1])
    return out


def stalls(before: dict[str, float], after: dict[str, float], over: str) -> int:
    """Probes between two readings that found the thread held longer than `over` s."""
    return int((after["count"] - after[over]) - (before["count"] - before[over]))


def switches_connected(client: Client) -> int:
    """What /healthz says; -1 while it does not answer."""
    try:
        status, raw = client.request("GET", "/healthz")
    except OSError:
        return -1
    return json.loads(raw)["switches_connected"] if status == 200 else -1


@dataclass
class Restart:
    ready_s: float          # start until the API answers and the OpenFlow port accepts
    connected_s: float      # ... until every switch is connected again
    identical_s: float      # ... until every switch's tables are the compiled state
    full_check_s: float     # one full comparison of every switch, before the kill
    still_identical: bool   # the last full comparison, SETTLE_S after convergence
    transmitted: int
    lost: int
    reconciled_logged: int  # switches the new controller logged as reconciled


def ping_loss(output: str) -> tuple[int, int]:
    """(transmitted, lost) from ping's output; the last request, in flight when ping was
    stopped, is not counted as lost."""
    sent = re.search(r"(\d+) packets transmitted", output)
    if not sent:
        raise RuntimeError(f"no ping summary in: {output[-500:]!r}")
    transmitted = int(sent.group(1))
    answered = {int(s) for s in re.findall(r"icmp_seq=(\d+)", output)}
    return transmitted, sum(1 for seq in range(1, transmitted) if seq not in answered)


@contextmanager
def pinging(host: Any, ip: str, workdir: Path) -> Iterator[dict[str, str]]:
    """A 50/s ping from `host` to `ip` while the block runs; its output afterwards.

    Its output goes to a file, not through Mininet's pty: a full pty blocks ping,
    and the SIGINT that stops it flushes whatever the pty still held."""
    out: dict[str, str] = {}
    log = workdir / "ping.txt"
    pid = host.cmd(f"ping -n -i {PING_INTERVAL_S} -W 1 -w {RESTART_TIMEOUT_S * 3} {ip} "
                   f"> {log} 2>&1 & echo $!").split()[-1]
    try:
        yield out
    finally:
        host.cmd(f"kill -INT {pid}; wait {pid}")
        out["text"] = log.read_text()


def restart(controller: Controller, metro: Metro, client_port: int) -> Restart:
    """kill -9, start, and poll until every switch is back with the compiled tables."""
    expected = metro.expected_tables()
    start = time.monotonic()
    before = mismatches(metro.topology, expected, metro.workdir)
    full_check_s = time.monotonic() - start
    if before:
        say(f"  WARNING: before the kill the switches differ from the compiled state: "
            f"{sorted(before)}")
    say(f"  compiled state: {sum(len(t.flows) for t in expected.values()):,} flows, "
        f"{sum(len(t.groups) for t in expected.values()):,} groups, "
        f"{sum(len(t.meters) for t in expected.values()):,} meters; one full comparison "
        f"{full_check_s:.1f} s")
    src, dst = (metro.net.get(h) for h in sorted(metro.topology.hosts))
    check = src.cmd(f"ping -n -c 3 -i 0.2 -W 1 {dst.IP()}")
    if " 0 received" in check:
        raise RuntimeError(f"the live pair does not reach across before the restart:\n{check}")
    matched: dict[str, float] = {}
    with pinging(src, dst.IP(), metro.workdir) as ping:
        time.sleep(1.0)
        controller.kill()
        t0 = time.monotonic()
        controller.start()
        ready = time.monotonic() - t0
        client = Client(client_port)
        connected = math.nan
        pending = dict(expected)
        while pending and time.monotonic() - t0 < RESTART_TIMEOUT_S:
            if math.isnan(connected):
                if switches_connected(client) >= len(expected):
                    connected = time.monotonic() - t0
            else:
                # Only now can a match say something: before, the old rules just stayed.
                for name in list(pending):
                    checked_at = time.monotonic() - t0
                    if switch_matches(name, pending[name], metro.workdir):
                        matched[name] = checked_at
                        del pending[name]
            time.sleep(0.05)
        client.close()
        identical = max(matched.values()) if not pending else math.nan
        time.sleep(SETTLE_S)
        still = not pending and not mismatches(metro.topology, expected, metro.workdir)
    transmitted, lost = ping_loss(ping["text"])
    logged = len(set(re.findall(r"switch (\w+) reconciled with the desired state",
                                controller.log_text())))
    return Restart(ready, connected, identical, full_check_s, still, transmitted, lost, logged)


def compile_benchmark(services: int, switches: int) -> tuple[float, str]:
    """Seconds of one `compile_network` of bench/memory.py's workload, and what it made.

    The intents are built here from memory.py's plan, as `desired_intents()` builds
    them, without the core (whose API would take minutes to fill)."""
    from bench.memory import plan_workload, tree_topology

    topology = tree_topology(switches)
    # memory.py's 200 parties; more for larger runs, as a party holds at most 1000.
    party_list, planned = plan_workload(topology, services, max(200, services // 20))
    ifaces = {(p.name, i["name"]): i for p in party_list for i in p.interfaces}
    intents, member_id = [], 0
    for sid, plan in enumerate(planned, 1):
        members = []
        for k, (party, name) in enumerate(plan.members):
            iface = ifaces[(party, name)]
            member_id += 1
            role = ("root" if k == 0 else "leaf") if plan.type == POINT_TO_MULTIPOINT \
                else "peer"
            members.append(MemberIntent(member_id, party, name,
                                        PortRef(iface["switch"], iface["port"]),
                                        iface["mac"], role))
        intents.append(ServiceIntent(sid, DEFAULT_VLAN_POOL[sid - 1], plan.type,
                                     plan.bandwidth_mbps, tuple(members)))
    gc.collect()
    start = time.perf_counter()
    compiled = compile_network(topology, intents)
    took = time.perf_counter() - start
    made = (f"{sum(len(t.flows) for t in compiled.values()):,} flows, "
            f"{sum(len(t.groups) for t in compiled.values()):,} groups, "
            f"{sum(len(t.meters) for t in compiled.values()):,} meters, "
            f"{member_id:,} members")
    del compiled, intents
    gc.collect()
    return took, made


# -- the run -----------------------------------------------------------------------------


@contextmanager
def started(controller: Controller, notes: list[str]) -> Iterator[Controller]:
    """The controller, started; stopped with SIGTERM afterwards. A stop slower than the
    harness allows is noted and the process killed, without losing the run's figures."""
    controller.start()
    try:
        yield controller
    finally:
        try:
            controller.stop()
        except pytest.fail.Exception as exc:  # the harness's "did not stop within 2 s"
            controller.kill()
            notes.append(f"At the end: {str(exc).splitlines()[0]}; it was killed.")


def wait_connected(client: Client, switches: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while switches_connected(client) < switches:
        if time.monotonic() > deadline:
            raise RuntimeError(f"not every switch connected within {timeout:.0f} s")
        time.sleep(0.2)


def take_lock(lock: Any) -> None:
    """The network lock of the tests (tests/conftest.py), as bench/acceptance.py takes it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        say(f"waiting for {NETWORK_LOCK} (a test or benchmark is using the network)")
        fcntl.flock(lock, fcntl.LOCK_EX)


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM unwinds like Ctrl-C, so the controller, Mininet and the ping are cleaned up."""
    raise KeyboardInterrupt


def ms(value: float) -> str:
    return fmt(value, "ms")


def ratio(value: float, base: float) -> str:
    return "n/a" if math.isnan(value) or math.isnan(base) or not base else f"{value / base:.2f}"


class Run:
    """The phases of one run and the rows they measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.n = args.services
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def add(self, *rows: Row) -> None:
        self.rows += rows

    def compile_phase(self) -> None:
        args = self.args
        say(f"compile: {args.compile_services:,} services (bench/memory.py's mix) on its "
            f"{args.compile_switches:,}-switch tree, in this process")
        took, made = compile_benchmark(args.compile_services, args.compile_switches)
        say(f"  compile_network: {took:.2f} s for {made}")
        self.add(Row(f"full compile, {args.compile_services:,} services, "
                     f"{args.compile_switches:,} switches", fmt(took, "s", 2),
                     f"< {COMPILE_S:g} s", met=took < COMPILE_S))

    def network_phases(self, stack: ExitStack) -> None:
        args, n = self.args, self.n
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-")))
        topology_file = tmp / "scale.yaml"
        topology_file.write_text(TOPOLOGY_YAML)
        topology = load_topology(topology_file)
        say("starting the controller and the Mininet network (6 switches, 2 hosts)")
        controller = Controller(tmp, topology_file, api_workers=args.api_workers)
        controller = stack.enter_context(started(controller, self.notes))
        stack.push(log_tail_on_error(controller))
        net = stack.enter_context(MetroNetwork(topology, ("127.0.0.1", controller.ofp_port)))
        port = controller.api_port
        client = Client(port)
        stack.callback(client.close)
        wait_connected(client, len(topology.switches))
        admin = controller.admin_token

        slots = n + args.clients   # spare slots: the serial sampler's and the writers'
        bulk = create_bulk(client, admin, slots)
        per_party = max(len(p["interfaces"]) for side in (0, 1)
                        for p in pack_parties(side, slots))
        per_side = len(bulk.parties) // 2
        self.notes.append(
            f"{len(bulk.parties)} bulk parties ({per_side} per side) hold {2 * slots:,} "
            f"interfaces: one per service and side, plus {args.clients} spare per side."
            + ("" if per_side == 1 else
               f" Two cannot: PATCH /parties/{{id}} replaces the whole interface list, and a "
               f"list holds at most {MAX_INTERFACES} interfaces in a body of at most "
               f"{MAX_BODY_BYTES // 1024} KiB, so a party holds at most {per_party} here."))
        say(self.notes[-1])
        live = create_live_pair(client, admin, topology)

        # 1. The fill, with the serial baseline taken at ~100 live services.
        first = min(BASELINE_LIVE, n)
        say(f"fill: services 1-{first} with {args.clients} clients")
        part1, wall1 = fill(port, bulk, 0, first, args.clients)
        say(f"  {part1.line('acceptances')}; {wall1:.1f} s")
        port_flows = ofctl("dump-flows", ACCESS[0], f"in_port={FIRST_BULK_PORT}")
        say(f"  OVS holds rules for ports absent from the bridge: "
            f"{'yes' if 'cookie=' in port_flows else 'NO'} ({ACCESS[0]}:{FIRST_BULK_PORT})")
        say(f"serial accept at {first} live: {args.baseline_samples} samples")
        at100 = serial(client, bulk.pairs[n], args.baseline_samples, "base")
        say(f"  {at100.line('acceptances')}")
        part2, wall2 = Summary(0, 0, math.nan, math.nan, {}, 0), 0.0
        if n > first:
            say(f"fill: services {first + 1}-{n} with {args.clients} clients")
            part2, wall2 = fill(port, bulk, first, n, args.clients)
            say(f"  {part2.line('acceptances')}; {wall2:.1f} s")
        filled = part1.count + part2.count
        fill_s = wall1 + wall2
        rate = filled / fill_s if fill_s else math.nan
        want = FILL_TARGET_N / FILL_TARGET_S
        say(f"fill done: {filled:,} of {n:,} services live in {fill_s:.1f} s ({rate:.1f}/s)")
        self.add(Row(f"fill {n:,} services, {args.clients} clients (s, services/s)",
                     f"{fill_s:,.1f} s, {rate:.1f}/s" + ("" if filled == n else
                                                          f" ({n - filled} failed)"),
                     f"{FILL_TARGET_N:,} in < {FILL_TARGET_S:g} s (≥ {want:.1f}/s)",
                     met=filled == n and at_least(rate, want)))

        # 2. Serial acceptance latency at N live services.
        say(f"serial accept at {filled:,} live: {args.serial_samples} samples")
        at_n = serial(client, bulk.pairs[n], args.serial_samples, "serial")
        say(f"  {at_n.line('acceptances')}")
        flat = at_n.p50_ms / at100.p50_ms if at100.p50_ms else math.nan
        self.add(
            Row(f"accept p50, serial, {filled:,} live", ms(at_n.p50_ms),
                f"≤ {SERIAL_P50_MS:g} ms", f"{ms(at100.p50_ms)} at {first} live",
                ratio(at_n.p50_ms, at100.p50_ms), at_most(at_n.p50_ms, SERIAL_P50_MS)),
            Row(f"accept p50 at {filled:,} / at {first} live", fmt(flat, "×", 2).replace(" ", ""),
                f"≤ {FLAT_RATIO:g}×", met=at_most(flat, FLAT_RATIO)),
            Row(f"accept p99, serial, {filled:,} live", ms(at_n.p99_ms),
                f"≤ {SERIAL_P99_MS:g} ms", f"{ms(at100.p99_ms)} at {first} live",
                ratio(at_n.p99_ms, at100.p99_ms), at_most(at_n.p99_ms, SERIAL_P99_MS)))

        # 3. Writers and readers at once, and the client's own ceiling.
        say(f"client ceiling: {args.readers} readers on /healthz alone, "
            f"{args.baseline_seconds:g} s")
        ceiling = healthz_ceiling(port, args)
        say(f"  {ceiling.line('reads')}")
        say(f"concurrency: {args.clients} writers (create, offer, accept, delete) and "
            f"{args.readers} readers (GET /services, /offers as the bulk parties), "
            f"{args.seconds:g} s")
        lag_before = hub_lag(client, admin)
        wrote, read = concurrency(port, bulk, n, args)
        lag_after = hub_lag(client, admin)
        say(f"  writers: {wrote.line('acceptances')}")
        say(f"  readers: {read.line('reads')}")
        held = {over: stalls(lag_before, lag_after, over) for over in ("0.1", "0.25", "0.5")}
        say(f"  controller thread held > 100 / 250 / 500 ms: {held['0.1']} / {held['0.25']} / "
            f"{held['0.5']} times in {lag_after['count'] - lag_before['count']:.0f} probes "
            f"(metroshare_hub_lag_seconds; an audit reads every switch back every 30 s)")
        mix = f"{args.clients} writers + {args.readers} readers"
        self.add(
            Row(f"confirmed acceptances/s, {mix}", fmt(wrote.rate, "/s"),
                f"≥ {ACCEPT_RATE:g}/s", met=at_least(wrote.rate, ACCEPT_RATE)),
            Row("accept p99, concurrent", ms(wrote.p99_ms), f"≤ {ACCEPT_P99_MS:g} ms",
                met=at_most(wrote.p99_ms, ACCEPT_P99_MS)),
            Row(f"reads/s, GET /services + /offers, {mix}", fmt(read.rate, "/s"),
                f"≥ {READ_RATE:,.0f}/s", f"{fmt(ceiling.rate, '/s')} /healthz",
                ratio(read.rate, ceiling.rate), at_least(read.rate, READ_RATE)),
            Row("read p99, concurrent", ms(read.p99_ms), f"≤ {READ_P99_MS:g} ms",
                f"{ms(ceiling.p99_ms)} /healthz", ratio(read.p99_ms, ceiling.p99_ms),
                at_most(read.p99_ms, READ_P99_MS)),
            Row(f"controller thread held > 250 ms, {mix}, {args.seconds:g} s",
                f"{held['0.25']} times", "—", f"{held['0.1']} times > 100 ms"))

        # 4. RSS of the controller that did all of the above.
        rss, peak = rss_mb(controller.proc.pid)
        say(f"controller RSS {rss:.1f} MB (peak {peak:.1f} MB) with {filled:,} services")
        self.add(Row(f"controller RSS, {filled:,} services", fmt(rss, "MB"),
                     f"< {RSS_MB:g} MB", f"peak {peak:.1f} MB", met=rss < RSS_MB))

        # 5. kill -9 and restart under a live pair.
        if args.skip_restart:
            return
        loadgen.cycle(client, live, "live", delete=False)
        say(f"restart: {filled + 1:,} services live (one between the hosts, ping -i "
            f"{PING_INTERVAL_S}); kill -9, start, poll the switches")
        metro = Metro(controller, net, topology, {}, tmp)
        got = restart(controller, metro, port)
        say(f"  API up {got.ready_s:.2f} s, every switch connected {got.connected_s:.2f} s, "
            f"tables identical {got.identical_s:.2f} s after the start; still identical "
            f"{SETTLE_S:g} s later: {'yes' if got.still_identical else 'NO'}; "
            f"{got.reconciled_logged} switches logged as reconciled")
        say(f"  ping: {got.transmitted} sent, {got.lost} lost")
        rss2, _ = rss_mb(controller.proc.pid)
        say(f"  restarted controller RSS {rss2:.1f} MB")
        self.add(
            Row(f"restart (kill -9) → every switch's tables identical, {filled + 1:,} svc",
                fmt(got.identical_s, "s", 2), f"≤ {RESTART_S:g} s",
                f"API up {got.ready_s:.2f} s", met=at_most(got.identical_s, RESTART_S)
                and got.still_identical),
            Row(f"frames lost, ping -i {PING_INTERVAL_S} across the restart",
                f"{got.lost} of {got.transmitted}", "0", met=got.lost == 0))


def log_tail_on_error(controller: Controller) -> Callable[..., bool]:
    """An exit hook: after a failure, the end of the controller's log, printed before
    the temporary directory holding it goes."""
    def hook(exc_type: type[BaseException] | None, exc: BaseException | None,
             tb: Any) -> bool:
        if exc_type is not None and exc_type is not KeyboardInterrupt and controller.starts:
            tail = controller.log_text().splitlines()[-30:]
            print("--- controller log, last lines ---\n" + "\n".join(tail), file=sys.stderr)
        return False
    return hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=4000, help="live services N")
    parser.add_argument("--clients", type=int, default=10, help="concurrent writers (and fill)")
    parser.add_argument("--readers", type=int, default=20, help="concurrent readers")
    parser.add_argument("--seconds", type=float, default=10, help="of writers + readers")
    parser.add_argument("--baseline-seconds", type=float, default=3,
                        help="of the readers on /healthz alone")
    parser.add_argument("--serial-samples", type=int, default=200)
    parser.add_argument("--baseline-samples", type=int, default=50,
                        help="serial acceptances at ~100 live services")
    parser.add_argument("--compile-services", type=int, default=4000)
    parser.add_argument("--compile-switches", type=int, default=1000)
    parser.add_argument("--api-workers", type=int,
                        help="the controller's --api-workers (default: its own default)")
    parser.add_argument("--skip-restart", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    parser.add_argument("--skip-network", action="store_true",
                        help="only the compile (no root, no Mininet needed)")
    args = parser.parse_args()
    vlans = len(DEFAULT_VLAN_POOL)
    if not 1 <= args.services <= vlans - args.clients - 1 or args.clients < 1 \
            or args.readers < 1 or args.seconds <= 0:
        parser.error(f"need 1 <= services <= {vlans} - clients - 1 (VLANs), clients and "
                     "readers >= 1, seconds > 0")
    signal.signal(signal.SIGTERM, _interrupt)
    run = Run(args)
    title = (f"bench/scale.py: {args.services:,} point-to-point services at 1 Mb/s on a "
             f"6-switch tree (1 core, 2 aggregation, 3 access), through the REST API; "
             f"{args.clients} writers, {args.readers} readers, {args.seconds:g} s")
    failure = None
    try:
        if not args.skip_compile:
            run.compile_phase()
        if not args.skip_network:
            # The lock is let go last, after the controller and Mininet are gone.
            with open(NETWORK_LOCK, "w") as lock, ExitStack() as stack:
                take_lock(lock)
                run.network_phases(stack)
            say("controller and Mininet stopped")
    except KeyboardInterrupt:
        failure = "interrupted"
    except BaseException as exc:  # the controller harness fails with pytest's outcome
        failure = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if failure:
            title += f"\n(run aborted: {failure.splitlines()[0][:300]}; the rows measured so far)"
        if run.rows or failure:
            compile_rows = [r for r in run.rows if r.figure.startswith("full compile")]
            print_table([r for r in run.rows if r not in compile_rows] + compile_rows, title)
            for note in run.notes:
                print(f"\n{note}")
    if failure:
        sys.exit(1)


if __name__ == "__main__":
    main()
