"""The API served by the real `metroshare controller` process (Ryu, eventlet WSGI).

No switches are needed: the API, the UI and /healthz run without them.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from tests.harness import Controller, running_controller

ADMIN = "integration-admin-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    with running_controller(tmp_path_factory.mktemp("api"), admin_token=ADMIN) as controller:
        yield controller


def test_a_second_controller_on_the_same_api_port_fails(server: Controller,
                                                        tmp_path: Path) -> None:
    second = Controller(tmp_path, api_port=server.api_port)
    assert second.launch().wait(timeout=30) == 1
    assert f"cannot serve the API on 127.0.0.1:{server.api_port}" in second.log_text()
    assert server.call("GET", "/healthz", None).status_code == 200


def test_healthz_and_ui_without_a_token(server: Controller) -> None:
    health = server.call("GET", "/healthz", None).json()
    assert health == {"status": "ok", "switches_connected": 0, "role": "leader",
                      "instance": f"{socket.gethostname()}:{server.api_port}"}
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
    # The addressee previews the service it is offered, without where others connect.
    preview = server.call("GET", f"/api/v1/services/{service['id']}", beta).json()
    assert [m["interface"] for m in preview["members"]] == [None]
    accepted = server.call("POST", f"/api/v1/offers/{offer['id']}/accept", beta,
                           {"interface": "b1"})
    # No switch is connected: 503 naming a switch, nothing kept, the offer open again.
    assert accepted.status_code == 503, accepted.text
    error = accepted.json()["error"]
    assert error["code"] == "provisioning_failed" and "not connected" in error["message"]
    offers = server.call("GET", "/api/v1/offers", beta).json()
    assert [o["state"] for o in offers if o["id"] == offer["id"]] == ["pending"]
    xml = server.call("GET", f"/api/v1/services/{service['id']}", beta,
                      Accept="application/xml")
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert ET.fromstring(xml.content).findtext("name") == "p2p"
    page = server.call("GET", "/metrics", ADMIN)
    assert page.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = page.text
    assert "metroshare_switches_connected 0.0\n" in text and "metroshare_services{" in text
    for family in ("provisioning_seconds", "provisioning_batch_size",
                   "provisioning_queue_depth", "barrier_seconds"):
        assert f"# HELP metroshare_{family} " in text, family


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
    # No switch is connected here: whoever wins the code reaches the switches and gets
    # 503 (the code then works again, so a later one may too); a loser meanwhile is
    # refused; nobody is left a member.
    codes = [r.json()["error"]["code"] for r in redeemed]
    assert "provisioning_failed" in codes, codes
    assert set(codes) <= {"provisioning_failed", "offer_not_pending"}, codes
    members = server.call("GET", f"/api/v1/services/{service['id']}", owner).json()["members"]
    assert [m["party"] for m in members] == ["racer"]
