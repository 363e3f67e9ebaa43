"""Benchmark: controller memory with the VLAN space in use, against the 300 MB target.

The design target: 4,000 services on a 1,000-switch tree fit in < 300 MB
(the controller process). Each row comes from a fresh interpreter, so
nothing one measurement allocated stays in another's:

1. baseline: the project's modules imported, the generated tree built
   (1,000 switches: 1 core, 32 aggregation, 967 access);
2. the service core (SQLite file in a temp dir, null provisioner) after N
   parties and the services were created, offered and accepted through the
   core's Python API: half point-to-point, 30 % multipoint (3-5 members),
   20 % point-to-multipoint (3 members), a quarter of them secure-bandwidth,
   every member on its own port of a random access switch;
3. a controller restarted on that database: the core, `desired_intents()`,
   and the compiled state of every switch held as `apps.installer` holds it
   (its `NetworkState` with the LLDP flows, and what each switch confirmed).

Beside them, for reference, the baseline with Ryu and the controller's apps
imported, and the sum of the parts: what one controller process holding all
of it would need. RSS is VmRSS after a gc, peak is VmHWM (/proc/self/status).
No switches and no Ryu process needed; the default run takes ~3.5 min on
2 cores, nearly all of it in row 2:

    .venv/bin/python -m bench.memory [--services 4000 --switches 1000 --parties 200]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.core import ServiceCore
from controller.model import ADMIN, ETHERNET_CHANNEL, SECURE_BANDWIDTH
from controller.store import open_store
from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT, ServiceIntent
from topology.model import Link, PortRef, Switch, Topology

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 300
ADMIN_TOKEN = "bench-admin-token"
FIRST_EDGE_PORT = 2  # port 1 of an access switch is its uplink


# -- the workload ----------------------------------------------------------------


def tree_topology(switches: int) -> Topology:
    """1 core, about sqrt(switches) aggregation switches, the rest access switches.

    Uplinks are port 1; an aggregation switch's port i + 1 leads to its i-th access
    switch, the core's port i to its i-th aggregation switch. Every access port from
    2 up is an edge port (no link uses it).
    """
    if switches < 3:
        raise ValueError("the tree needs at least 3 switches (core, aggregation, access)")
    n_agg = max(1, min(round((switches - 1) ** 0.5), switches - 2))
    core = Switch("c0", 1, "core")
    aggs = [Switch(f"a{i:03d}", 2 + i, "aggregation") for i in range(n_agg)]
    access = [Switch(f"e{i:04d}", 2 + n_agg + i, "access")
              for i in range(switches - 1 - n_agg)]
    links = [Link(PortRef(core.name, i + 1), PortRef(agg.name, 1)) for i, agg in enumerate(aggs)]
    children: dict[str, int] = {}
    for i, sw in enumerate(access):
        parent = aggs[i % n_agg].name
        children[parent] = children.get(parent, 1) + 1
        links.append(Link(PortRef(parent, children[parent]), PortRef(sw.name, 1)))
    return Topology([core, *aggs, *access], links)


@dataclass
class Party:
    name: str
    interfaces: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Planned:
    """One service: its attributes and, per member (owner first), party and interface."""

    name: str
    kind: str
    type: str
    bandwidth_mbps: int
    members: list[tuple[str, str]]


def plan_workload(topology: Topology, services: int, parties: int,
                  seed: int = 7) -> tuple[list[Party], list[Planned]]:
    """Every member gets an interface of its own on the next free port of a random
    access switch; the members of a service are distinct parties."""
    rng = random.Random(seed)
    access = sorted(s.name for s in topology.switches.values() if s.role == "access")
    next_port = dict.fromkeys(access, FIRST_EDGE_PORT)
    party_list = [Party(f"party{i:04d}") for i in range(parties)]
    planned = []
    mac_counter = 0
    for sid in range(services):
        draw = rng.random()
        if draw < 0.5:
            stype, size = POINT_TO_POINT, 2
        elif draw < 0.8:
            stype, size = MULTIPOINT, rng.randint(3, 5)
        else:
            stype, size = POINT_TO_MULTIPOINT, 3
        # A quarter reserve capacity (hose model); small enough never to fill a link.
        kind, bandwidth = (SECURE_BANDWIDTH, 10) if rng.random() < 0.25 \
            else (ETHERNET_CHANNEL, 100)
        members = []
        for party in rng.sample(party_list, size):
            switch = rng.choice(access)
            port = next_port[switch]
            next_port[switch] += 1
            mac_counter += 1
            iface = {"name": f"if{len(party.interfaces)}", "switch": switch, "port": port,
                     "mac": "02:" + ":".join(f"{b:02x}" for b in mac_counter.to_bytes(5, "big"))}
            party.interfaces.append(iface)
            members.append((party.name, iface["name"]))
        planned.append(Planned(f"svc{sid}", kind, stype, bandwidth, members))
    too_many = [p.name for p in party_list if len(p.interfaces) > 1000]
    if too_many:
        raise ValueError(f"{len(too_many)} parties would need over 1000 interfaces: "
                         "raise --parties")
    return party_list, planned


def run_workload(core: ServiceCore, party_list: list[Party],
                 planned: list[Planned]) -> dict[str, float]:
    """Parties, then every service: created by its owner, offered to and accepted by
    each other member, through the core's API as the REST layer calls it.
    Returns the seconds each half took."""
    start = time.perf_counter()
    actors = {}
    for party in party_list:
        view = core.create_party(ADMIN, {
            "name": party.name, "interfaces": party.interfaces,
            "account": {"status": "active",
                        "service_kinds": [ETHERNET_CHANNEL, SECURE_BANDWIDTH],
                        "max_bandwidth_mbps": 10000, "max_channels": 100_000}})
        actors[party.name] = core.authenticate(view["token"])
    parties_s = time.perf_counter() - start
    for p in planned:
        (owner_name, owner_iface), *others = p.members
        owner = actors[owner_name]
        service = core.create_service(owner, {
            "name": p.name, "kind": p.kind, "interface": owner_iface,
            "attributes": {"type": p.type, "bandwidth_mbps": p.bandwidth_mbps}})
        for party_name, iface in others:
            offer = core.create_offer(owner, service["id"], {"party": party_name})
            accepted = core.accept_offer(actors[party_name], offer["id"], {"interface": iface})
            if accepted["service"]["state"] != "active":
                raise RuntimeError(f"service {p.name} is {accepted['service']['state']}")
    return {"parties_s": parties_s, "services_s": time.perf_counter() - start - parties_s}


# -- one measurement, in this (fresh) process --------------------------------------


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB, after a full collection."""
    gc.collect()
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text()
                  .splitlines() if ":" in line)
    return (int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024)


def import_ryu_apps() -> None:
    """What the controller process imports besides: Ryu, eventlet, webob and the apps."""
    from metroshare.launcher import APPS, apply_shims

    apply_shims()
    import ryu.base.app_manager  # noqa: F401  (before the apps: Ryu's import cycle)

    for app in APPS:
        importlib.import_module(app)


def hold_provisioner_state(topology: Topology, intents: list[ServiceIntent],
                           step: Callable[..., None]) -> dict[str, Any]:
    """What `apps.installer.Installer` keeps once every switch is reconciled, built
    here without Ryu (the same values): the `NetworkState` (each service's
    compiled rules per switch, with the clash indexes and the LLDP flows) and,
    per switch, what it confirmed per service (the same rule objects)."""
    from flows.desired import NetworkState

    start = time.perf_counter()
    state = NetworkState(topology)
    for intent in intents:
        state.set(intent)
    step("NetworkState", seconds=time.perf_counter() - start,
         flows=sum(len(state.tables(s).flows) for s in topology.switches),
         groups=sum(len(state.tables(s).groups) for s in topology.switches),
         meters=sum(len(state.tables(s).meters) for s in topology.switches))
    confirmed = {s: state.parts(s) for s in topology.switches}
    step("confirmed")
    return {"state": state, "confirmed": confirmed}


def measure(phase: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The steps of one phase, each with the RSS after it."""
    topology = tree_topology(args.switches)
    party_list, planned = plan_workload(topology, args.services, args.parties)
    steps: list[dict[str, Any]] = []

    def step(name: str, **extra: Any) -> None:
        rss, peak = rss_mb()
        steps.append({"step": name, "rss": rss, "peak": peak, **extra})

    step("baseline", switches=len(topology.switches),
         edge_ports=sum(len(p.interfaces) for p in party_list))
    if phase == "ryu":
        import_ryu_apps()
        step("Ryu apps imported")
        return steps
    if phase == "baseline":
        return steps
    del party_list[:], planned[:]  # only the core process (below) needs them
    core = ServiceCore(topology, open_store(args.db), admin_token=ADMIN_TOKEN)
    if phase == "core":
        party_list, planned = plan_workload(topology, args.services, args.parties)
        took = run_workload(core, party_list, planned)
        stats = core.stats()
        step("core", seconds=took["parties_s"] + took["services_s"], **took,
             parties=stats["parties"], services=stats["services"].get("active", 0),
             members=stats["members"].get("provisioned", 0),
             db_mb=sum(f.stat().st_size for f in Path(args.db).parent.iterdir()) / 2**20)
        return steps
    step("core reopened")
    start = time.perf_counter()
    intents = core.desired_intents()
    step("intents", seconds=time.perf_counter() - start, intents=len(intents))
    held = hold_provisioner_state(topology, intents, step)
    assert held and intents  # held in memory until the last step was measured
    return steps


# -- the driver ----------------------------------------------------------------------


def run_phase(phase: str, args: argparse.Namespace, db: Path) -> list[dict[str, Any]]:
    cmd = [sys.executable, "-m", "bench.memory", "--phase", phase, "--db", str(db),
           "--services", str(args.services), "--switches", str(args.switches),
           "--parties", str(args.parties)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"phase {phase} failed:\n{result.stderr.strip()[-3000:]}")
    return json.loads(result.stdout.splitlines()[-1])


COUNTS = ("switches", "edge_ports", "parties", "services", "members", "intents",
          "flows", "groups", "meters")


def counts(steps: list[dict[str, Any]]) -> str:
    found = {k: s[k] for s in steps for k in COUNTS if k in s}
    text = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in found.items())
    return text + "".join(f"; SQLite {s['db_mb']:.1f} MB" for s in steps if "db_mb" in s)


def row(what: str, steps: list[dict[str, Any]], base: float) -> str:
    last = steps[-1]
    seconds = sum(s.get("seconds", 0) for s in steps)
    return (f"{what:<40} {last['rss']:>7.1f} {last['peak']:>8.1f} {last['rss'] - base:>6.1f} "
            f"{last['rss'] / TARGET_MB:>7.2f} {seconds:>7.1f}  {counts(steps)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=4000, help="at most 4093 (VLANs)")
    parser.add_argument("--switches", type=int, default=1000)
    parser.add_argument("--parties", type=int, default=200)
    # One measurement in this process (the driver runs each in a fresh one).
    parser.add_argument("--phase", choices=("baseline", "ryu", "core", "restart"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(measure(args.phase, args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        runs = {phase: run_phase(phase, args, db)
                for phase in ("baseline", "ryu", "core", "restart")}
    base = runs["baseline"][-1]["rss"]
    ryu_extra = runs["ryu"][-1]["rss"] - runs["ryu"][0]["rss"]
    core_above = runs["core"][-1]["rss"] - base
    restart = {s["step"]: s for s in runs["restart"]}
    held = runs["restart"][-1]["rss"] - restart["core reopened"]["rss"]
    print(f"{args.services} services of {args.parties} parties on a {args.switches}-switch "
          f"tree, target < {TARGET_MB} MB; each row a fresh process\n")
    print(f"{'what':<40} {'RSS MB':>7} {'peak MB':>8} {'+base':>6} {'/target':>7} "
          f"{'seconds':>7}  counts")
    print(row("1. baseline: modules + topology", runs["baseline"], base))
    print(row("2. core: parties, services accepted", runs["core"], base))
    print(row("3. core restarted + provisioner state", runs["restart"], base))
    print(row("(ref) baseline + Ryu and the apps", runs["ryu"], base))
    whole = base + ryu_extra + core_above + held
    print(f"{'(sum) controller: 1 + Ryu + 2 + state':<40} {whole:>7.1f} {'':>8} "
          f"{whole - base:>6.1f} {whole / TARGET_MB:>7.2f}  (not measured: the parts above added)")
    core_steps = runs["core"][-1]
    print(f"\nrow 2: parties {core_steps['parties_s']:.1f} s, "
          f"services {core_steps['services_s']:.1f} s")
    print("row 3, step by step (MB above the step before):")
    previous = base
    for s in runs["restart"]:
        took = f"{s['seconds']:.1f} s" if "seconds" in s else ""
        print(f"  {s['step']:<14} RSS {s['rss']:>7.1f}  peak {s['peak']:>7.1f}  "
              f"{s['rss'] - previous:>+7.1f}  {took}")
        previous = s["rss"]


if __name__ == "__main__":
    main()
