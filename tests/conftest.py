"""Shared fixtures. Tests that touch Open vSwitch or Mininet take one lock,
so two runs on one machine never tear down each other's bridges."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
METRO_YAML = ROOT / "mininet_scenarios" / "metro.yaml"
NETWORK_LOCK = "/tmp/metroshare-network.lock"


@pytest.fixture(scope="session")
def metro_yaml() -> Path:
    return METRO_YAML


@pytest.fixture
def network_lock() -> Iterator[None]:
    """Exclusive use of OVS and Mininet on this machine for one test."""
    if os.geteuid() != 0 or not shutil.which("ovs-vsctl") or not shutil.which("mnexec"):
        pytest.fail("network tests need root, Open vSwitch and Mininet: run `make test`")
    with open(NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningController:
    """A `metroshare controller` subprocess with its ports and log."""

    def __init__(self, topology: Path, workdir: Path, extra: tuple[str, ...] = ()) -> None:
        import subprocess
        import sys

        self.ofp_port, self.api_port = free_port(), free_port()
        self.db = str(workdir / "metroshare.db")
        self.log = workdir / "controller.log"
        self.topology = topology
        cmd = [sys.executable, "-m", "metroshare.cli", "controller", "--topology", str(topology),
               "--db", self.db, "--ofp-port", str(self.ofp_port),
               "--api-port", str(self.api_port), *extra]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    @property
    def admin_token(self) -> str:
        return Path(self.db + ".admin-token").read_text().strip()

    def log_text(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, text: str, timeout: float = 20.0) -> bool:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def stop(self) -> int:
        """SIGTERM; returns the exit code (fails the test past 2 s, as CONTRACT §1 asks)."""
        import subprocess

        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("controller did not stop within 2 s of SIGTERM")
        return self.proc.returncode


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[RunningController]:
    """The real controller on free ports, loaded with the demo tree."""
    running = RunningController(METRO_YAML, tmp_path)
    try:
        yield running
    finally:
        running.stop()
