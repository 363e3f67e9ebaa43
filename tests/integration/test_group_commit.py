"""Many acceptances at once against real switches: each is answered for itself.

The provisioner batches changes per switch (one diff, one send, one barrier
per round); these tests check that whatever the interleaving, an acceptance
answered 200 has its member provisioned, with its rules on every switch, one
answered 503 (provisioning_failed) has none, and the switches end equal to
the compiled state of the database.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.e2e.metro import Metro, mismatches, running_metro, wait_until
from tests.harness import KIND

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]

COUNT = 12


def mac(side: int, n: int) -> str:
    return f"02:00:00:{side:02x}:00:{n:02x}"


def bulk(metro: Metro, name: str, switch: str, side: int) -> object:
    """A party with COUNT interfaces on edge ports of `switch` that no host uses."""
    token = metro.controller.party(
        name, [(f"{name}-{n}", switch, 100 + n, mac(side, n)) for n in range(COUNT)],
        max_channels=COUNT)
    return metro.controller.api(token)


def offered(metro: Metro) -> tuple[object, list[int]]:
    """COUNT point-to-point services acc1 -> acc4 (across the core), each offered."""
    a, b = bulk(metro, "bulk-a", "acc1", 1), bulk(metro, "bulk-b", "acc4", 2)
    offers = []
    for n in range(COUNT):
        service = a.call("POST", "/services", {
            "name": f"s{n}", "kind": KIND, "interface": f"bulk-a-{n}",
            "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}})
        offers.append(a.call("POST", f"/services/{service['id']}/offers",
                             {"party": "bulk-b"})["id"])
    return b, offers


def accept_all(metro: Metro, b, offers: list[int]) -> list[tuple[int, dict]]:
    """Every offer accepted at once, each by its own client; (status, body) each."""
    def accept(n: int) -> tuple[int, dict]:
        response = metro.controller.call("POST", f"/api/v1/offers/{offers[n]}/accept", b.token,
                                         {"interface": f"bulk-b-{n}"})
        return response.status_code, response.json()

    with ThreadPoolExecutor(COUNT) as pool:
        return list(pool.map(accept, range(COUNT)))


def member_states(answers: list[tuple[int, dict]]) -> list[str]:
    return [next(m["state"] for m in body["service"]["members"] if m["party"] == "bulk-b")
            for _, body in answers]


def test_concurrent_acceptances_on_one_switch_all_land(network_lock, tmp_path: Path) -> None:
    with running_metro(tmp_path) as metro:
        b, offers = offered(metro)
        answers = accept_all(metro, b, offers)
        assert [status for status, _ in answers] == [200] * COUNT
        assert member_states(answers) == ["provisioned"] * COUNT
        assert all(body["service"]["state"] == "active" for _, body in answers)
        assert mismatches(metro.topology, metro.expected_tables(), tmp_path) == {}


def test_a_switch_lost_mid_round_fails_only_what_it_did_not_confirm(network_lock,
                                                                     tmp_path: Path) -> None:
    with running_metro(tmp_path) as metro:
        b, offers = offered(metro)
        target = subprocess.run(["ovs-vsctl", "get-controller", "acc4"], capture_output=True,
                                text=True, check=True).stdout.strip()
        with ThreadPoolExecutor(1) as cut:
            # acc4 (every service's far end) drops its controller while the acceptances run.
            cutting = cut.submit(subprocess.run, ["ovs-vsctl", "del-controller", "acc4"],
                                 check=True)
            answers = accept_all(metro, b, offers)
            cutting.result()
        assert {status for status, _ in answers} <= {200, 503}, answers
        accepted = [(status, body) for status, body in answers if status == 200]
        assert member_states(accepted) == ["provisioned"] * len(accepted)
        for status, body in answers:
            if status == 503:
                assert body["error"]["code"] == "provisioning_failed"
                assert "acc4" in body["error"]["message"]
        subprocess.run(["ovs-vsctl", "set-controller", "acc4", target], check=True)
        metro.wait_connected()
        # Reconnected, acc4 is reconciled: the switches hold exactly what the database says.
        wait_until(lambda: mismatches(metro.topology, metro.expected_tables(), tmp_path) == {},
                   15, "the switches to equal the compiled state")
