"""`metroshare demo`: the controller and the metro tree in Mininet, on one machine."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from metroshare.cli import load_or_exit, wait_for_signal

CONNECT_TIMEOUT_S = 30


def _start_controller(topology: Path, db: str, ofp_port: int, api_port: int,
                      log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "metroshare.cli", "controller", "--topology", str(topology),
           "--db", db, "--ofp-port", str(ofp_port), "--api-port", str(api_port)]
    with open(log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def _wait_connected(names: list[str], log: Path, controller: subprocess.Popen) -> list[str]:
    """Names of switches still not connected when the time is up (or the
    controller died), read from the controller's log."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while True:
        text = log.read_text()
        missing = [n for n in names if f"switch {n} " not in text]
        if not missing or time.monotonic() > deadline or controller.poll() is not None:
            return missing
        time.sleep(0.2)


def run_demo(topology_path: Path, ofp_port: int, api_port: int, no_cli: bool) -> int:
    topology = load_or_exit(topology_path)
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    from mininet_scenarios.network import MetroNetwork

    workdir = Path(tempfile.mkdtemp(prefix="metroshare-demo-"))
    db, log = str(workdir / "metroshare.db"), workdir / "controller.log"
    controller = _start_controller(topology_path, db, ofp_port, api_port, log)
    try:
        setLogLevel("warning")
        with MetroNetwork(topology, ("127.0.0.1", ofp_port)) as net:
            hosts = ", ".join(f"{h.name} {h.ip} on {h.switch}:{h.port}"
                              for h in topology.hosts.values())
            missing = _wait_connected(sorted(topology.switches), log, controller)
            if controller.poll() is not None:
                print(f"metroshare: the controller stopped; see {log}", file=sys.stderr)
                return 1
            print(f"""
metroshare demo is running
  controller  pid {controller.pid}, OpenFlow on 127.0.0.1:{ofp_port}, log {log}
  web UI      http://127.0.0.1:{api_port}/
  admin token in {db}.admin-token
  switches    {len(topology.switches) - len(missing)} of {len(topology.switches)} connected"""
                  + (f" (missing: {', '.join(missing)})" if missing else "")
                  + f"""
  hosts       {hosts}
Stop with {'Ctrl-C or SIGTERM' if no_cli else "'exit' (or Ctrl-D) in the Mininet CLI"};
the bridges, hosts and the controller are removed on the way out.
""", flush=True)
            if no_cli or not os.isatty(0):
                wait_for_signal()
            else:
                CLI(net)
    finally:
        controller.terminate()
        try:
            controller.wait(timeout=5)
        except subprocess.TimeoutExpired:
            controller.kill()
    return 0
