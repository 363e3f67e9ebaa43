"""The API served by the real `metroshare controller` process (Ryu, eventlet WSGI).

No switches are needed: the API, the UI and /healthz run without them.
`Controller` is shared with the HTTPS, fuzzing and browser tests.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
METRO = ROOT / "mininet_scenarios" / "metro.yaml"
ADMIN = "integration-admin-token"
ACCOUNT = {"status": "active", "service_kinds": ["ethernet-channel"],
           "max_bandwidth_mbps": 1000, "max_channels": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Controller:
    """`metroshare controller` on free ports with a fresh database."""

    def __init__(self, tmp: Path, tls: tuple[Path, Path] | None = None,
                 api_port: int | None = None) -> None:
        self.api_port, self.ofp_port = api_port or free_port(), free_port()
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.api_port}"
        args = [sys.executable, "-m", "metroshare.cli", "controller", "--topology", str(METRO),
                "--db", str(tmp / "api.db"), "--ofp-port", str(self.ofp_port),
                "--api-port", str(self.api_port)]
        if tls:
            args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
        self.log = tmp / "controller.log"
        env = {**os.environ, "METROSHARE_ADMIN_TOKEN": ADMIN}
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self.session = requests.Session()
        # Per request: REQUESTS_CA_BUNDLE in the environment would override session.verify.
        self.verify: str | bool = str(tls[0]) if tls else True

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"controller exited: {self.log.read_text()[-3000:]}")
            try:
                if self.session.get(f"{self.url}/healthz", timeout=1,
                                    verify=self.verify).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        pytest.fail(f"API not up after {timeout}s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def call(self, method: str, path: str, token: str | None = ADMIN, body: Any = None,
             **headers: str) -> requests.Response:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.session.request(method, self.url + path, json=body, headers=headers,
                                        timeout=10, verify=self.verify)
        assert response.status_code < 500, response.text
        return response

    def party(self, name: str, interfaces: list[tuple[str, str, int, str]]) -> str:
        """Creates a party; returns its token."""
        response = self.call("POST", "/api/v1/parties", body={
            "name": name, "account": ACCOUNT,
            "interfaces": [{"name": n, "switch": s, "port": p, "mac": m}
                           for n, s, p, m in interfaces]})
        assert response.status_code == 201, response.text
        return response.json()["token"]


@contextmanager
def running(tmp: Path, tls: tuple[Path, Path] | None = None) -> Iterator[Controller]:
    controller = Controller(tmp, tls)
    try:
        controller.wait_ready()
        yield controller
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    with running(tmp_path_factory.mktemp("api")) as controller:
        yield controller


def test_a_second_controller_on_the_same_api_port_fails(server: Controller,
                                                        tmp_path: Path) -> None:
    second = Controller(tmp_path, api_port=server.api_port)
    assert second.process.wait(timeout=30) == 1
    assert f"cannot serve the API on 127.0.0.1:{server.api_port}" in second.log.read_text()
    assert server.call("GET", "/healthz", None).status_code == 200


def test_healthz_and_ui_without_a_token(server: Controller) -> None:
    assert server.call("GET", "/healthz", None).json() == {"status": "ok",
                                                           "switches_connected": 0}
    page = server.call("GET", "/", None)
    assert page.status_code == 200 and "<svg" in page.text
    assert server.call("GET", "/api/v1/parties", None).status_code == 401


def test_offer_and_accept_over_the_real_stack(server: Controller) -> None:
    acme = server.party("acme", [("a1", "acc1", 2, "00:00:00:00:00:01")])
    beta = server.party("beta", [("b1", "acc4", 3, "00:00:00:00:00:08")])
    service = server.call("POST", "/api/v1/services", acme, {
        "name": "p2p", "kind": "ethernet-channel", "interface": "a1",
        "attributes": {"type": "point-to-point", "bandwidth_mbps": 50}}).json()
    offer = server.call("POST", f"/api/v1/services/{service['id']}/offers", acme,
                        {"party": "beta"}).json()
    assert server.call("GET", f"/api/v1/services/{service['id']}", beta).status_code == 404
    accepted = server.call("POST", f"/api/v1/offers/{offer['id']}/accept", beta,
                           {"interface": "b1"})
    assert accepted.status_code == 200, accepted.text
    # No switch is connected: the acceptance stands, and the failure is reported.
    members = {m["party"]: m for m in accepted.json()["service"]["members"]}
    assert accepted.json()["state"] == "accepted" and members["beta"]["state"] == "failed"
    assert "not connected" in members["beta"]["error"]
    xml = server.call("GET", f"/api/v1/services/{service['id']}", beta,
                      Accept="application/xml")
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert ET.fromstring(xml.content).findtext("name") == "p2p"
    text = server.call("GET", "/metrics").text
    assert "metroshare_switches_connected 0" in text and "metroshare_services{" in text


def test_oversized_and_malformed_bodies_over_the_wire(server: Controller) -> None:
    big = server.session.post(f"{server.url}/api/v1/parties", data=b"{" + b" " * 100_000 + b"}",
                              headers={"Authorization": f"Bearer {ADMIN}",
                                       "Content-Type": "application/json"}, timeout=10)
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
    broken = server.session.post(f"{server.url}/api/v1/parties", data=b'{"name":',
                                 headers={"Authorization": f"Bearer {ADMIN}",
                                          "Content-Type": "application/json"}, timeout=10)
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    assert server.call("GET", "/healthz", None).status_code == 200  # still serving


def test_concurrent_requests_race_to_one_winner(server: Controller) -> None:
    """Ten simultaneous creations on one interface, five parties redeeming one code."""
    owner = server.party("racer", [("r1", "acc2", 2, "00:00:00:00:00:03"),
                                   ("r2", "acc2", 3, "00:00:00:00:00:04")])
    body = {"kind": "ethernet-channel", "interface": "r1",
            "attributes": {"type": "multipoint-to-multipoint", "bandwidth_mbps": 10}}
    with ThreadPoolExecutor(10) as pool:
        created = list(pool.map(lambda i: server.call("POST", "/api/v1/services", owner,
                                                      {**body, "name": f"s{i}"}), range(10)))
    assert sorted(r.status_code for r in created) == [201] + [409] * 9
    assert {r.json()["error"]["code"] for r in created if r.status_code == 409} == {
        "interface_busy"}
    service = next(r.json() for r in created if r.status_code == 201)
    code = server.call("POST", f"/api/v1/services/{service['id']}/offers", owner, {}).json()[
        "code"]
    guests = [server.party(f"guest{i}", [(f"g{i}", "acc3", i + 2, f"00:00:00:00:01:0{i}")])
              for i in range(3)]
    with ThreadPoolExecutor(3) as pool:
        redeemed = list(pool.map(lambda i: server.call(
            "POST", "/api/v1/invitations/accept", guests[i],
            {"code": code, "interface": f"g{i}"}), range(3)))
    assert sorted(r.status_code for r in redeemed)[0] == 200
    assert [r.status_code for r in redeemed].count(200) == 1, [r.text for r in redeemed]
