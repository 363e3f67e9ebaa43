"""`metroshare demo` brings the tree up with every switch connected and sample
parties over HTTPS, and SIGTERM leaves no bridge, host shell or controller behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from metroshare.demo import DemoApi
from tests.harness import METRO_YAML, alive, free_port
from topology import load_topology

pytestmark = pytest.mark.network


def descendants(pid: int) -> set[int]:
    """Every process started by `pid`, and by those, now."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except FileNotFoundError:
            continue
        for child in map(int, children):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.mark.parametrize("channel", [[], ["--tls-openflow"]], ids=["tcp", "tls-openflow"])
def test_demo_runs_and_cleans_up(network_lock, channel):
    ofp_port, api_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "metroshare.cli", "demo", "--no-cli",
         "--ofp-port", str(ofp_port), "--api-port", str(api_port), *channel],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "METROSHARE_ADMIN_TOKEN": "demo-admin-token"})
    banner = []
    try:
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Stop with"):
                break
        text = "".join(banner)
        assert "switches    7 of 7 connected" in text, text
        assert ("OpenFlow over TLS on ssl:" in text) == bool(channel), text
        tokens = {}
        for line in banner:
            parts = line.split()
            if len(parts) >= 3 and parts[0] in ("acme", "globex", "initech"):
                tokens[parts[0]] = parts[2]
        assert set(tokens) == {"acme", "globex", "initech"}, text
        cert = next(line.split("certificate ")[1].split(":")[0]
                    for line in banner if "certificate " in line)
        api = DemoApi(f"https://127.0.0.1:{api_port}", Path(cert))
        me = api.call("/api/v1/me", tokens["acme"])
        assert me["name"] == "acme" and {i["name"] for i in me["interfaces"]} == {
            "acme-h1", "acme-h5"}
    finally:
        started = descendants(proc.pid)  # the controller, its workers, the host shells
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert len(started) > 8  # at least the controller and the eight hosts' shells
    assert [pid for pid in started if alive(pid)] == []
    bridges = subprocess.run(["ovs-vsctl", "list-br"], capture_output=True,
                             text=True).stdout.split()
    assert set(bridges) & set(load_topology(METRO_YAML).switches) == set()
