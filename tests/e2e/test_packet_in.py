"""A customer flooding its port at full speed never reaches the controller.

Hosts: h1 h2 on acc1, h3 h4 on acc2, h5 h6 on acc3, h7 h8 on acc4.
"""

from __future__ import annotations

import re
import sys
import time

import pytest

from apps import lldp
from flows.intent import POINT_TO_POINT
from flows.pipeline import PROBE_INTERVAL_S  # the interval apps/opstate.py probes at
from tests.e2e.metro import create_service, flow_lines, mismatches

pytestmark = [pytest.mark.network, pytest.mark.timeout(240)]

FLOOD_RAW = "tests/e2e/flood_raw.py"
FLOOD_SECONDS = 10
LLDP_MAC = "0180c200000e"
BPDU_MAC = "0180c2000000"
BROADCAST = "ffffffffffff"


def to_controller(switches) -> dict[tuple[str, str], int]:
    """n_packets of every flow that outputs to the controller, by (switch, match)."""
    counts = {}
    for switch in switches:
        for line in flow_lines(switch):
            if "CONTROLLER" not in line.split("actions=", 1)[-1]:
                continue
            match = re.sub(r"(duration|n_packets|n_bytes|idle_age|hard_age)=[^,]*, ?", "",
                           line.split(" actions=")[0])
            counts[(switch, match)] = int(re.search(r"n_packets=(\d+)", line).group(1))
    return counts


def attack_frames(mac: str, vlans: list[int]) -> list[str]:
    """LLDP (a forged probe, with the host's and with the probe's source MAC), BPDU,
    ARP broadcast, 802.1Q- and 0x88a8-tagged LLDP: hex frames."""
    src = mac.replace(":", "")
    forged = lldp.probe(0x1, 1)[14:].hex()  # "I am switch 1, port 1"
    bpdu = "0026" + "424203" + "00" * 35        # 802.3 length, STP LLC, config BPDU
    arp = "0806" + "0001080006040001" + src + "0a000001" + "00" * 6 + "0a000005"
    frames = [LLDP_MAC + src + "88cc" + forged,
              LLDP_MAC + lldp.probe(0x1, 1)[6:12].hex() + "88cc" + forged,
              BPDU_MAC + src + bpdu,
              BROADCAST + src + arp]
    for vid in [*vlans, 1, 4094]:
        frames.append(LLDP_MAC + src + f"8100{vid:04x}" + "88cc" + forged)
        frames.append(LLDP_MAC + src + f"88a8{vid:04x}8100{vid:04x}" + "88cc" + forged)
        frames.append(BPDU_MAC + src + f"88a8{vid:04x}" + bpdu)
    return [f.ljust(120, "0") for f in frames]  # at least 60 bytes


def test_a_flooding_member_gets_no_packet_in_and_others_still_accept(metro) -> None:
    topology = metro.topology
    create_service(metro.parties, POINT_TO_POINT, "h1", ["h5"])
    vlans = [s["vlan"] for s in metro.controller.api().call("GET", "/services")]
    fiber_ports = sum(len(topology.trunk_ports(s)) for s in topology.switches)
    assert mismatches(topology, metro.expected_tables(), metro.workdir) == {}

    h1 = metro.net.get("h1")
    started = time.monotonic()
    before = to_controller(topology.switches)
    h1.sendCmd(sys.executable, FLOOD_RAW, "h1-eth0", str(FLOOD_SECONDS),
               *attack_frames(topology.hosts["h1"].mac, vlans))
    time.sleep(2)
    # Another party's acceptance, on the attacker's own access switch, meanwhile.
    _, took = create_service(metro.parties, POINT_TO_POINT, "h2", ["h6"])
    print(f"acceptance of p6 during the flood: {took[0] * 1000:.1f} ms")
    sent = int(re.search(r"sent (\d+)", h1.waitOutput()).group(1))
    after = to_controller(topology.switches)
    elapsed = time.monotonic() - started

    # Each switch probes each fiber port once per interval: within `elapsed`, at
    # most floor(elapsed / interval) + 1 probes arrive at each fiber port.
    bound = fiber_ports * (int(elapsed // PROBE_INTERVAL_S) + 1)
    grown = {key: after.get(key, 0) - n for key, n in before.items()}
    print(f"h1 sent {sent} frames in {FLOOD_SECONDS} s; packet-in flows grew by "
          f"{sum(grown.values())} over {elapsed:.1f} s (bound: {bound} probes, "
          f"{fiber_ports} fiber ports, one probe each per {PROBE_INTERVAL_S:g} s)")
    assert sent > 10_000
    assert after.keys() == before.keys() and len(before) == fiber_ports
    assert sum(grown.values()) <= bound, grown
    assert all(n >= 1 for n in grown.values()), grown  # the controller's own probes
    assert mismatches(topology, metro.expected_tables(), metro.workdir) == {}
