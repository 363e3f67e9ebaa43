"""The real controller with a real Mininet metro tree: switches connect and are
known by name; with no service installed nothing forwards."""

from __future__ import annotations

import subprocess
import time

import pytest

from mininet_scenarios.network import MetroNetwork
from tests.harness import Controller
from topology import load_topology

pytestmark = pytest.mark.network
CONNECT_BOUND_S = 15


def ovs(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def connected_bridges() -> set[str]:
    out = ovs("ovs-vsctl", "--format=csv", "--data=bare", "--no-heading",
              "--columns=_uuid,is_connected", "list", "Controller")
    connected = {line.split(",")[0] for line in out.splitlines() if line.endswith("true")}
    names = set()
    for br in ovs("ovs-vsctl", "list-br").split():
        controllers = ovs("ovs-vsctl", "get", "Bridge", br, "controller").strip("[]\n")
        if any(c.strip() in connected for c in controllers.split(",") if c.strip()):
            names.add(br)
    return names


def test_every_switch_connects_and_is_named(network_lock, controller, metro_yaml):
    topo = load_topology(metro_yaml)
    with MetroNetwork(topo, ("127.0.0.1", controller.ofp_port)):
        deadline = time.monotonic() + CONNECT_BOUND_S
        for s in topo.switches.values():
            line = f"switch {s.name} (dpid {s.dpid:#x}, {s.role}) connected"
            assert controller.wait_for_log(line, max(0.1, deadline - time.monotonic())), line
        # OVS refreshes is_connected in its database every few seconds
        while connected_bridges() < set(topo.switches) and time.monotonic() < deadline + 10:
            time.sleep(0.5)
        assert connected_bridges() >= set(topo.switches)
        assert "unknown switch" not in controller.log_text()


def test_unknown_dpid_is_warned(network_lock, controller):
    assert controller.wait_for_log("loading app apps.switches")
    ovs("ovs-vsctl", "--may-exist", "add-br", "stray9", "--",
        "set", "bridge", "stray9", "datapath_type=netdev", "fail_mode=secure",
        "protocols=OpenFlow13", "other-config:datapath-id=0000000000000063")
    try:
        ovs("ovs-vsctl", "set-controller", "stray9", f"tcp:127.0.0.1:{controller.ofp_port}")
        assert controller.wait_for_log("unknown switch dpid 0x63 connected: not in the topology")
    finally:
        ovs("ovs-vsctl", "--if-exists", "del-br", "stray9")


def test_no_host_reaches_another_without_services(network_lock, controller, metro_yaml):
    topo = load_topology(metro_yaml)
    with MetroNetwork(topo, ("127.0.0.1", controller.ofp_port)) as net:
        assert controller.wait_for_log("switch acc4 ", CONNECT_BOUND_S)
        ips = [h.ip.split("/")[0] for h in topo.hosts.values()]
        for name, host in topo.hosts.items():
            others = " ".join(ip for ip in ips if ip != host.ip.split("/")[0])
            # all pings of one host at once; each prints its own "N received"
            out = net.get(name).cmd(
                f"for ip in {others}; do ping -c1 -W1 $ip & done; wait")
            assert out.count("0 received") == len(ips) - 1, out
            assert " 1 received" not in out, out


def test_sigterm_stops_controller_cleanly(controller):
    assert controller.wait_for_log("loading app apps.switches")
    time.sleep(0.5)
    started = time.monotonic()
    assert controller.stop() == 0
    assert time.monotonic() - started < 2


def test_a_second_controller_on_the_same_openflow_port_fails(controller, tmp_path):
    """Ryu listens with SO_REUSEPORT: without the launcher's check two controllers
    would share the port and split the switches between them."""
    second = Controller(tmp_path, ofp_port=controller.ofp_port)
    assert second.launch().wait(timeout=30) == 1
    assert f"cannot listen for OpenFlow on port {controller.ofp_port}" in second.log_text()
    assert controller.proc.poll() is None
