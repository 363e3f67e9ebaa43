"""The real `metroshare controller` as a subprocess, shared by every test that
runs one: free ports, its own database, and ready only when both a switch can
connect and the API answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from metroshare.settings import ADMIN_TOKEN_ENV, admin_token_path

ROOT = Path(__file__).resolve().parent.parent
METRO_YAML = ROOT / "mininet_scenarios" / "metro.yaml"
STOP_BOUND_S = 2  # CONTRACT §1: SIGTERM stops it cleanly, and promptly
READY_TIMEOUT_S = 30
KIND = "ethernet-channel"


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    """`metroshare controller` on free ports with its own database; a restart keeps both."""

    def __init__(self, workdir: Path, topology: Path = METRO_YAML,
                 tls: tuple[Path, Path] | None = None, api_port: int | None = None,
                 admin_token: str | None = None, ofp_port: int | None = None,
                 api_workers: int | None = None,
                 ofp_tls: tuple[Path, Path, Path] | None = None,
                 db: str | None = None) -> None:
        """Without `admin_token` the controller generates one beside its database;
        without `api_workers`, it starts its default number; with `ofp_tls`
        (cert, key, CA cert) OpenFlow runs over TLS only; `db`: a database URL
        (several controllers share one PostgreSQL database), else a SQLite file."""
        self.workdir, self.topology, self.tls = workdir, topology, tls
        self.ofp_tls = ofp_tls
        self.api_workers = api_workers
        self.ofp_port, self.api_port = ofp_port or free_port(), api_port or free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.db = db or str(workdir / "metroshare.db")
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.api_port}"
        self.given_token = admin_token
        self.session = requests.Session()
        # Per request: REQUESTS_CA_BUNDLE in the environment would override session.verify.
        self.verify: str | bool = str(tls[0]) if tls else True
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.extra_args: list[str] = []  # more controller options, set by a test

    @property
    def log(self) -> Path:
        """The log of the latest start, so that a restart's log holds only what it did."""
        return self.workdir / f"controller-{self.starts}.log"

    @property
    def admin_token(self) -> str:
        return self.given_token or admin_token_path(self.db).read_text().strip()

    def launch(self) -> subprocess.Popen:
        """The process, not waited for: for starts that are meant to fail."""
        self.starts += 1
        cmd = [sys.executable, "-m", "metroshare.cli", "controller", "--topology",
               str(self.topology), "--db", self.db, "--ofp-port", str(self.ofp_port),
               "--api-port", str(self.api_port)]
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        if self.api_workers is not None:
            cmd += ["--api-workers", str(self.api_workers)]
        if self.ofp_tls:
            cmd += ["--ofp-tls-cert", str(self.ofp_tls[0]), "--ofp-tls-key", str(self.ofp_tls[1]),
                    "--ofp-ca-cert", str(self.ofp_tls[2])]
        cmd += self.extra_args
        env = {k: v for k, v in os.environ.items() if k != ADMIN_TOKEN_ENV}
        if self.given_token:
            env[ADMIN_TOKEN_ENV] = self.given_token
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                         env=env)
        return self.proc

    def start(self) -> None:
        """Returns once switches can connect and the API answers: an OVS bridge that
        finds nobody listening backs off its reconnects for longer than tests wait."""
        proc = self.launch()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not (self._accepts_switches() and self._answers_healthz()):
            if proc.poll() is not None:
                pytest.fail(f"controller exited {proc.returncode}:\n{self.log_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"controller not ready after {READY_TIMEOUT_S} s:\n"
                            f"{self.log_text()[-3000:]}")
            time.sleep(0.1)

    def _accepts_switches(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.ofp_port), timeout=1).close()
            return True
        except OSError:
            return False

    def _answers_healthz(self) -> bool:
        try:
            return self.session.get(f"{self.url}/healthz", timeout=1,
                                    verify=self.verify).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> int:
        """SIGTERM; the exit code. Fails the test past 2 s, as CONTRACT §1 asks."""
        assert self.proc is not None, "never started"
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_BOUND_S)
            except subprocess.TimeoutExpired:
                self.kill()
                pytest.fail(f"controller did not stop within {STOP_BOUND_S} s of SIGTERM")
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no goodbye to the switches, as in a crash."""
        assert self.proc is not None, "never started"
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_text(self) -> str:
        return self.log.read_text()

    def wait_for_log(self, text: str, timeout: float = 20.0) -> bool:
        """Whether `text` appears in the log in time; False at once if the process ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return True
            if self.proc is None or self.proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    def call(self, method: str, path: str, token: str | None, body: Any = None,
             **headers: str) -> requests.Response:
        """Any answer but a server error, which no request may cause (503
        provisioning_failed is the switches' answer, not an error of the server);
        `token` None sends none."""
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.session.request(method, self.url + path, json=body, headers=headers,
                                        timeout=30, verify=self.verify)
        assert response.status_code < 500 or _switches_refused(response), response.text
        return response

    def party(self, name: str, interfaces: list[tuple[str, str, int, str]],
              max_channels: int = 5) -> str:
        """Creates a party with an active account; returns its token.

        `interfaces` are (name, switch, port, mac)."""
        response = self.call("POST", "/api/v1/parties", self.admin_token, {
            "name": name,
            "account": {"status": "active", "service_kinds": [KIND],
                        "max_bandwidth_mbps": 1000, "max_channels": max_channels},
            "interfaces": [{"name": n, "switch": s, "port": p, "mac": m}
                           for n, s, p, m in interfaces]})
        assert response.status_code == 201, response.text
        return response.json()["token"]

    def api(self, token: str | None = None) -> Api:
        """A client for one party, or the provider by default."""
        return Api(self, token or self.admin_token)


def _switches_refused(response: requests.Response) -> bool:
    return response.status_code == 503 and \
        response.json().get("error", {}).get("code") == "provisioning_failed"


class Api:
    """One caller in a scenario: JSON in and out, and any refusal fails the test."""

    def __init__(self, controller: Controller, token: str) -> None:
        self.controller, self.token = controller, token

    def call(self, method: str, path: str, body: dict | None = None) -> dict | list:
        response = self.controller.call(method, "/api/v1" + path, self.token, body)
        assert response.ok, f"{method} {path} -> {response.status_code}: {response.text}"
        return response.json()


@contextmanager
def running_controller(workdir: Path, topology: Path = METRO_YAML,
                       tls: tuple[Path, Path] | None = None,
                       admin_token: str | None = None) -> Iterator[Controller]:
    """A started controller, stopped within the bound afterwards."""
    controller = Controller(workdir, topology, tls, admin_token=admin_token)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
