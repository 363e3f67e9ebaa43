"""A live service's bandwidth changed through the API (PATCH) without an outage:
members keep pinging through every change, and iperf3 finds each new cap.

Hosts: h1 h2 on acc1, h3 h4 on acc2 (the service crosses agg1).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from flows.intent import POINT_TO_POINT
from tests.e2e.metro import create_service, flow_lines, mismatches

pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]

STEPS_MBPS = (20, 200)
METER_TOLERANCE = (0.8, 1.1)  # received / cap: the meter's burst (0.1 s) and UDP overhead


def _flows(switch: str) -> dict[str, float]:
    """Each flow of `switch` (its text without counters) and how long it has existed."""
    out = {}
    for line in flow_lines(switch):
        age = float(re.search(r"duration=([\d.]+)s", line).group(1))
        out[re.sub(r"(duration|n_packets|n_bytes|idle_age|hard_age)=[^ ,]*,? ?", "", line)] = age
    return out


def _udp_received_mbps(metro, cap_mbps: int) -> float:
    """h3 sends UDP to h1 at 1.5 times the cap for 3 s; what arrives, in Mb/s."""
    report = json.loads(metro.net.get("h3").cmd(
        f"iperf3 -c 10.0.0.1 -p 5201 -u -b {int(cap_mbps * 1.5)}M -l 1400 -t 3 -J"))
    end = report["end"]["sum"]
    return end["bits_per_second"] * (1 - end["lost_percent"] / 100) / 1e6


def test_bandwidth_changes_without_an_outage(metro) -> None:
    sid, _ = create_service(metro.parties, POINT_TO_POINT, "h1", ["h3"], bandwidth_mbps=100)
    owner = metro.parties["h1"]
    flows_before = {s: _flows(s) for s in ("acc1", "agg1", "acc2")}
    h1 = metro.net.get("h1")
    h1.sendCmd("ping -q -i 0.02 -c 250 -W 1 10.0.0.3")  # 5 s at 50 packets/s
    try:
        for mbps in (*STEPS_MBPS, 100):
            time.sleep(1)
            view = owner.call("PATCH", f"/services/{sid}",
                              {"attributes": {"bandwidth_mbps": mbps}})
            assert view["attributes"]["bandwidth_mbps"] == mbps and view["state"] == "active"
    finally:
        summary = h1.waitOutput()
    loss = re.search(r"(\d+) packets transmitted, (\d+) received", summary)
    assert loss and loss.group(1) == loss.group(2) == "250", summary
    print(f"pings across 100 -> 20 -> 200 -> 100 Mb/s: {loss.group(2)} of 250 answered")
    # No flow was removed or replaced (a replaced one would be younger): the meters
    # alone changed.
    flows_after = {s: _flows(s) for s in flows_before}
    assert {s: set(f) for s, f in flows_after.items()} == \
        {s: set(f) for s, f in flows_before.items()}
    assert all(flows_after[s][f] >= age + 4 for s, fs in flows_before.items()
               for f, age in fs.items())
    pidfile = metro.workdir / "iperf3.pid"
    h1.cmd(f"iperf3 -s -D -p 5201 -I {pidfile}")
    rates = {}
    try:
        for mbps in (100, *STEPS_MBPS):
            owner.call("PATCH", f"/services/{sid}", {"attributes": {"bandwidth_mbps": mbps}})
            rates[mbps] = _udp_received_mbps(metro, mbps)
    finally:  # a daemon outlives the Mininet host it was started in
        h1.cmd(f"kill $(cat {pidfile})")
    figures = ", ".join(f"cap {cap} Mb/s: {got:.1f} received" for cap, got in rates.items())
    print(f"iperf3 UDP at 1.5 x the cap, h3 -> h1: {figures}")
    low, high = METER_TOLERANCE
    assert all(low * cap < got <= high * cap for cap, got in rates.items()), figures
    assert mismatches(metro.topology, metro.expected_tables(), metro.workdir) == {}
