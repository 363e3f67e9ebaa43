"""The provisioning apps against real switches: errors, switches and links down, LLDP.

Real controller process, real Mininet metro tree; the switch is made to
refuse rules with an OVS flow-table limit, so the OFPT_ERROR is genuine.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from flows.intent import POINT_TO_POINT
from flows.rules import service_cookie
from tests.e2e.metro import create_service, flow_lines, running_metro, wait_until
from tests.harness import KIND, METRO_YAML

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]


def vsctl(*args: str) -> str:
    return subprocess.run(["ovs-vsctl", *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def service(metro, service_id: int) -> dict:
    return metro.controller.api().call("GET", f"/services/{service_id}")


def refused_service(metro, owner: str, other: str) -> tuple[int, str]:
    """A point-to-point service whose acceptance the switches refuse: its id and the
    503 provisioning_failed message."""
    parties = metro.parties
    sid = parties[owner].call("POST", "/services", {
        "name": f"p2p-{owner}", "kind": KIND, "interface": f"if{owner[1:]}",
        "attributes": {"type": POINT_TO_POINT, "bandwidth_mbps": 100}})["id"]
    offer = parties[owner].call("POST", f"/services/{sid}/offers", {"party": f"p{other[1:]}"})
    answer = metro.controller.call("POST", f"/api/v1/offers/{offer['id']}/accept",
                                   parties[other].token, {"interface": f"if{other[1:]}"})
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "provisioning_failed"
    return sid, answer.json()["error"]["message"]


def test_switch_errors_fail_the_member_and_leave_no_rule(network_lock, tmp_path: Path) -> None:
    with running_metro(tmp_path) as metro:
        # acc2 may hold one flow in its forwarding table (its table-miss): any more is refused.
        vsctl("--", "--id=@ft", "create", "Flow_Table", "flow_limit=1", "overflow_policy=refuse",
              "--", "set", "Bridge", "acc2", "flow_tables:1=@ft")
        sid, error = refused_service(metro, "h1", "h3")
        assert "acc2" in error and "OFPFMFC_TABLE_FULL" in error
        assert [m["party"] for m in service(metro, sid)["members"]] == ["p1"]
        everything = "\n".join(line for s in metro.topology.switches for line in flow_lines(s))
        assert f"cookie={service_cookie(sid):#x}" not in everything


def test_switch_down_degrades_and_refuses_quickly_then_recovers(network_lock,
                                                                tmp_path: Path) -> None:
    with running_metro(tmp_path) as metro:
        live, _ = create_service(metro.parties, POINT_TO_POINT, "h7", ["h1"])
        target = vsctl("get-controller", "acc4")
        vsctl("del-controller", "acc4")
        wait_until(lambda: service(metro, live)["state"] == "degraded", 10, "degraded")
        start = time.monotonic()
        _, error = refused_service(metro, "h8", "h2")
        assert time.monotonic() - start < 5, "a down switch must not hang acceptance"
        assert "acc4" in error
        vsctl("set-controller", "acc4", target)
        wait_until(lambda: service(metro, live)["state"] == "active", 15, "active again")
        # A fiber link going down degrades the services that cross it.
        metro.net.configLinkStatus("agg2", "acc4", "down")
        wait_until(lambda: service(metro, live)["state"] == "degraded", 10, "link degraded")
        metro.net.configLinkStatus("agg2", "acc4", "up")
        wait_until(lambda: service(metro, live)["state"] == "active", 10, "link back")


def test_lldp_finds_links_that_differ_from_the_topology(network_lock, tmp_path: Path) -> None:
    """The controller's file swaps agg1's two access links; LLDP notices, names the ports."""
    spec = yaml.safe_load(METRO_YAML.read_text())
    spec["links"][2]["ends"] = ["agg1:3", "acc1:1"]
    spec["links"][3]["ends"] = ["agg1:2", "acc2:1"]
    wrong = tmp_path / "swapped.yaml"
    wrong.write_text(yaml.safe_dump(spec))
    with running_metro(tmp_path, controller_topology=wrong) as metro:
        wait_until(lambda: len(set(re.findall(r"link mismatch at (\S+):",
                                              metro.controller.log_text()))) == 4,
                   12, "LLDP to report the four swapped ports")
        log = metro.controller.log_text()
        assert "link mismatch at agg1:2: topology says acc2:1, LLDP says acc1:1" in log
        assert "link mismatch at core1" not in log  # correct links raise nothing


def test_a_removal_waits_for_the_switch_that_was_away(network_lock, tmp_path: Path) -> None:
    """Leave while acc4 is away: the member stays `leaving` and its interface taken,
    with `removal_pending` on acc4, until acc4 is back and reconciled."""
    with running_metro(tmp_path) as metro:
        sid, _ = create_service(metro.parties, "multipoint-to-multipoint", "h1", ["h2", "h7"])
        target = vsctl("get-controller", "acc4")
        vsctl("del-controller", "acc4")
        wait_until(lambda: service(metro, sid)["state"] == "degraded", 10, "acc4 seen away")
        view = metro.parties["h7"].call("DELETE", f"/services/{sid}/members/p7")
        member = next(m for m in view["members"] if m["party"] == "p7")
        assert member["state"] == "leaving"
        assert view["provisioning"]["acc4"] == "removal_pending"
        vsctl("set-controller", "acc4", target)
        wait_until(lambda: "p7" not in [m["party"] for m in service(metro, sid)["members"]],
                   15, "the removal to be confirmed once acc4 is back")
        assert "removal_pending" not in service(metro, sid)["provisioning"].values()
        actions = [e["action"] for e in metro.controller.api().call("GET", "/events")]
        assert "removal_confirmed" in actions
