"""`metroshare demo`: the controller and the metro tree in Mininet, on one machine."""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from metroshare.cli import load_or_exit, wait_for_signal
from metroshare.settings import ADMIN_TOKEN_ENV
from metroshare.tls import openflow_certificates, self_signed_certificate
from topology import Topology

CONNECT_TIMEOUT_S = 30
ACCOUNT = {"status": "active", "service_kinds": ["ethernet-channel", "secure-bandwidth"],
           "max_bandwidth_mbps": 1000, "max_channels": 4}
# Three sample companies, each with customer equipment on demo hosts.
SAMPLE_PARTIES = {"acme": ["h1", "h5"], "globex": ["h3", "h7"], "initech": ["h2", "h4", "h6", "h8"]}


def _start_controller(topology: Path, db: str, ofp_port: int, api_port: int,
                      admin_token: str, tls: tuple[Path, Path], log: Path,
                      openflow: dict[str, Path] | None = None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "metroshare.cli", "controller", "--topology", str(topology),
           "--db", db, "--ofp-port", str(ofp_port), "--api-port", str(api_port),
           "--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    if openflow:
        cmd += ["--ofp-tls-cert", str(openflow["controller_cert"]),
                "--ofp-tls-key", str(openflow["controller_key"]),
                "--ofp-ca-cert", str(openflow["ca_cert"])]
    env = {**os.environ, ADMIN_TOKEN_ENV: admin_token}
    with open(log, "w") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_listening(port: int, controller: subprocess.Popen) -> None:
    """Until the controller accepts OpenFlow connections, so that the switches
    find it at their first try (no reconnect back-off, no warning)."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while controller.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)


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


class DemoApi:
    """The demo's REST client: HTTPS that trusts only the demo's own certificate."""

    def __init__(self, base: str, cert: Path) -> None:
        self.base = base
        self.context = ssl.create_default_context(cafile=str(cert))

    def call(self, path: str, token: str, body: dict | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path, data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10, context=self.context) as response:
            return json.load(response)

    def wait_up(self) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/healthz", timeout=2,
                                       context=self.context).close()
                return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def create_sample_parties(api: DemoApi, admin_token: str, topology: Topology) -> dict[str, str]:
    """Sample parties with interfaces on the demo hosts; returns name -> token."""
    api.wait_up()
    existing = {p["name"] for p in api.call("/api/v1/parties", admin_token)}
    tokens = {}
    for name, hosts in SAMPLE_PARTIES.items():
        if name in existing:
            continue
        interfaces = [{"name": f"{name}-{h}", "switch": topology.hosts[h].switch,
                       "port": topology.hosts[h].port, "mac": topology.hosts[h].mac,
                       "location": f"host {h}"} for h in hosts]
        party = api.call("/api/v1/parties", admin_token,
                         {"name": name, "account": ACCOUNT, "interfaces": interfaces})
        tokens[name] = party["token"]
    return tokens


def _banner(topology: Topology, controller: subprocess.Popen, log: Path, ofp_port: int,
            api: DemoApi, cert: Path, admin_token: str, tokens: dict[str, str],
            missing: list[str], no_cli: bool, openflow: dict[str, Path] | None = None) -> str:
    connected = len(topology.switches) - len(missing)
    channel = (f"OpenFlow over TLS on ssl:127.0.0.1:{ofp_port} (CA {openflow['ca_cert']})"
               if openflow else f"OpenFlow on 127.0.0.1:{ofp_port}")
    lines = [
        "", "metroshare demo is running",
        f"  controller  pid {controller.pid}, {channel}, log {log}",
        f"  web UI      {api.base}/   (log in with a token below; self-signed",
        f"              certificate {cert}: accept it in the browser, or curl --cacert it)",
        f"  switches    {connected} of {len(topology.switches)} connected"
        + (f" (missing: {', '.join(missing)})" if missing else ""),
        f"  admin       token {admin_token}",
    ]
    for name, token in tokens.items():
        hosts = ", ".join(SAMPLE_PARTIES[name])
        lines.append(f"  {name:<11} token {token}   equipment on {hosts}")
    lines += [
        "  hosts       " + ", ".join(f"{h.name} {h.ip}" for h in topology.hosts.values()),
        "Try: as acme, create a point-to-point service on acme-h1 and offer it to globex;",
        "as globex, accept on globex-h3; then `h1 ping h3` at the mininet> prompt.",
        "Stop with " + ("Ctrl-C or SIGTERM" if no_cli else "'exit' (or Ctrl-D) at the prompt")
        + "; the bridges, hosts and the controller are removed on the way out.", "",
    ]
    return "\n".join(lines)


def run_demo(topology_path: Path, ofp_port: int, api_port: int, no_cli: bool,
             tls_openflow: bool = False) -> int:
    topology = load_or_exit(topology_path)
    from mininet.cli import CLI
    from mininet.log import setLogLevel

    from mininet_scenarios.network import MetroNetwork, SwitchTLS

    workdir = Path(tempfile.mkdtemp(prefix="metroshare-demo-"))
    db, log = str(workdir / "metroshare.db"), workdir / "controller.log"
    admin_token = os.environ.get(ADMIN_TOKEN_ENV) or secrets.token_urlsafe(32)
    tls = self_signed_certificate(workdir)
    api = DemoApi(f"https://127.0.0.1:{api_port}", tls[0])
    openflow = openflow_certificates(workdir) if tls_openflow else None
    switch_tls = openflow and SwitchTLS(openflow["switch_cert"], openflow["switch_key"],
                                        openflow["ca_cert"])
    controller = _start_controller(topology_path, db, ofp_port, api_port, admin_token, tls, log,
                                   openflow)
    try:
        setLogLevel("output")  # the CLI prints command output at this level
        _wait_listening(ofp_port, controller)
        with MetroNetwork(topology, ("127.0.0.1", ofp_port), tls=switch_tls) as net:
            missing = _wait_connected(sorted(topology.switches), log, controller)
            if controller.poll() is not None:
                print(f"metroshare: the controller stopped; see {log}", file=sys.stderr)
                return 1
            tokens = create_sample_parties(api, admin_token, topology)
            print(_banner(topology, controller, log, ofp_port, api, tls[0], admin_token,
                          tokens, missing, no_cli, openflow), flush=True)
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
