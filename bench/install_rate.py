"""Benchmark: flows/s installed by metroshare's provisioner vs `ovs-ofctl --bundle add-flows`.

Both install the same compiled rules (point-to-point services on one
userspace OVS bridge). The app's cold fill is what a switch that connects
empty costs the running controller, whose state is compiled at start-up
(shown apart): read the switch back, diff, encode, send, and wait for the
barrier; its groups and meters are installed in the same batch but not
counted. The baseline installs only the flows (groups and meters already
present).

    sudo .venv/bin/python -m bench.install_rate [--services 3800]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from apps.ofctl_text import flow_text
from bench.workload import DPID, bench_topology, p2p
from flows.compiler import compile_switch

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = "msbench0"
LOCK = "/tmp/metroshare-network.lock"  # the same lock the network tests take


def sh(*cmd: str) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{' '.join(cmd)} failed: {result.stderr.strip()[:2000]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_app(services: int, workdir: Path) -> dict:
    """The provisioner in a Ryu process of its own, on the bench bridge."""
    out, port = workdir / "app.json", free_port()
    env = dict(os.environ, MS_BENCH_SERVICES=str(services), MS_BENCH_OUT=str(out))
    code = ("from metroshare.launcher import apply_shims; apply_shims()\n"
            "from ryu.cmd import manager\n"
            f"manager.main(args=['--ofp-tcp-listen-port', '{port}', 'bench.install_app'])")
    with open(workdir / "app.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        sh("ovs-vsctl", "set-controller", BRIDGE, f"tcp:127.0.0.1:{port}")
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        return json.loads(out.read_text())
    finally:
        # Not del-controller: changing a bridge's controllers makes OVS flush its tables,
        # and the baseline needs the app's groups and meters in place.
        proc.terminate()
        proc.wait()


def run_ofctl(flows_file: Path, runs: int) -> list[float]:
    """Seconds per `ovs-ofctl --bundle add-flows` of the file onto a flow-less bridge."""
    times = []
    for _ in range(runs):
        sh("ovs-ofctl", "-O", "OpenFlow13", "del-flows", BRIDGE)
        start = time.perf_counter()
        sh("ovs-ofctl", "-O", "OpenFlow13", "--bundle", "add-flows", BRIDGE, str(flows_file))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=3800, help="at most 4093 (VLANs)")
    parser.add_argument("--runs", type=int, default=3, help="ovs-ofctl runs (median)")
    args = parser.parse_args()
    intents = [p2p(i) for i in range(1, args.services + 1)]
    tables = compile_switch(bench_topology(), intents, "bench")
    with open(LOCK, "w") as lock, tempfile.TemporaryDirectory() as tmp:
        fcntl.flock(lock, fcntl.LOCK_EX)
        workdir = Path(tmp)
        sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
        sh("ovs-vsctl", "add-br", BRIDGE, "--", "set", "bridge", BRIDGE, "datapath_type=netdev",
           "protocols=OpenFlow13", "fail-mode=secure", f"other-config:datapath-id={DPID:016x}")
        try:
            app = run_app(args.services, workdir)
            if app["error"]:
                sys.exit(f"the app failed: {app['error']}")
            installed = sh("ovs-ofctl", "-O", "OpenFlow13", "dump-flows", BRIDGE).count("cookie=")
            flows_file = workdir / "flows.txt"
            flows_file.write_text("\n".join(flow_text(f) for f in sorted(tables.flows)) + "\n")
            ofctl = statistics.median(run_ofctl(flows_file, args.runs))
        finally:
            sh("ovs-vsctl", "--if-exists", "del-br", BRIDGE)
    flows = app["flows"]
    app_rate = flows / app["total_s"]
    base_rate = flows / ofctl
    print(f"{args.services} point-to-point services on one userspace OVS bridge: "
          f"{flows} flows, {app['groups']} groups, {app['meters']} meters "
          f"({installed} flows on the switch after the app's run)\n")
    print(f"{'installer':<44} {'seconds':>8} {'flows/s':>9} {'ratio':>6}")
    baseline = f"ovs-ofctl --bundle add-flows (median of {args.runs})"
    print(f"{baseline:<44} "
          f"{ofctl:>8.3f} {base_rate:>9.0f} {1:>6.2f}")
    flows_rate = flows / app["flows_only_s"]
    print(f"{'metroshare: flows, diff+send+barrier (median)':<44} {app['flows_only_s']:>8.3f} "
          f"{flows_rate:>9.0f} {flows_rate / base_rate:>6.2f}")
    print(f"{'metroshare: whole switch from empty (*)':<44} {app['total_s']:>8.3f} "
          f"{app_rate:>9.0f} {app_rate / base_rate:>6.2f}")
    print(f"\n(*) read back + diff + groups and meters in the same batch + barrier; flows/s "
          f"counts the flows only. Compiling the {args.services} services at start-up (once, "
          f"not per switch): {app['compile_s']:.3f} s")
    print(f"\napply() of one new p2p service, barrier-confirmed: p50 {app['apply_ms_p50']:.1f} ms, "
          f"p95 {app['apply_ms_p95']:.1f} ms; removal p50 {app['remove_ms_p50']:.1f} ms")


if __name__ == "__main__":
    main()
