"""The Mininet network built from metro.yaml agrees with the file, port for
port; `metroshare mininet` cleans up after itself and after a crashed run."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mininet_scenarios.network import MetroNetwork, intf_name
from topology import load_topology

pytestmark = pytest.mark.network


def sh(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def ofports(bridge: str) -> dict[int, str]:
    """Port number -> interface name, as the switch reports it over OpenFlow."""
    out = sh("ovs-ofctl", "-O", "OpenFlow13", "show", bridge)
    return {int(n): name for n, name in re.findall(r"^ (\d+)\(([^)]+)\)", out, re.M)}


def veth_peer(ifname: str) -> str:
    """The other end of a veth pair, by the kernel's ifindex link."""
    peer_index = sh("cat", f"/sys/class/net/{ifname}/iflink").strip()
    for name in os.listdir("/sys/class/net"):
        if sh("cat", f"/sys/class/net/{name}/ifindex").strip() == peer_index:
            return name
    return ""


def test_network_agrees_with_file_port_for_port(network_lock, metro_yaml):
    topo = load_topology(metro_yaml)
    with MetroNetwork(topo, ("127.0.0.1", 1)) as net:
        assert sorted(sh("ovs-vsctl", "list-br").split()) == sorted(topo.switches)
        for s in topo.switches.values():
            def get(col: str, bridge: str = s.name) -> str:
                return sh("ovs-vsctl", "get", "Bridge", bridge, col).strip()

            assert int(get("datapath_id").strip('"'), 16) == s.dpid
            assert get("datapath_type") == "netdev"
            assert get("fail_mode") == "secure"
            assert get("protocols").strip('[]"') == "OpenFlow13"
            expected = {p: intf_name(s.name, p) for p in topo.trunk_ports(s.name)}
            expected |= {h.port: intf_name(s.name, h.port) for h in topo.hosts_on(s.name)}
            assert ofports(s.name) == expected
        for link in topo.links:
            assert veth_peer(intf_name(link.a.switch, link.a.port)) == intf_name(
                link.b.switch, link.b.port)
        for h in topo.hosts.values():
            # the host end lives in the host's namespace: compare ifindex links there
            switch_end = intf_name(h.switch, h.port)
            host_end = intf_name(h.name, 0)
            index = sh("cat", f"/sys/class/net/{switch_end}/ifindex").strip()
            assert net.get(h.name).cmd(f"cat /sys/class/net/{host_end}/iflink").strip() == index
            out = net.get(h.name).cmd(f"ip -o addr show {host_end}; "
                                      f"cat /sys/class/net/{host_end}/address")
            assert h.ip in out and h.mac in out
    assert sh("ovs-vsctl", "list-br").split() == []


def start_mininet_cli(metro_yaml) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "metroshare.cli", "mininet", "--topology", str(metro_yaml),
         "--controller", "127.0.0.1:1", "--no-cli"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_running(proc: subprocess.Popen) -> None:
    for line in proc.stdout:
        if "network running" in line:
            return
    pytest.fail(f"metroshare mininet exited early with {proc.wait()}")


def test_mininet_command_cleans_up_on_sigterm_and_after_a_crash(network_lock, metro_yaml):
    topo = load_topology(metro_yaml)
    crashed = start_mininet_cli(metro_yaml)
    wait_running(crashed)
    crashed.kill()  # SIGKILL: leaves bridges, veths and host shells behind
    crashed.wait()
    assert set(sh("ovs-vsctl", "list-br").split()) == set(topo.switches)

    proc = start_mininet_cli(metro_yaml)
    wait_running(proc)
    assert set(sh("ovs-vsctl", "list-br").split()) == set(topo.switches)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.2)
    assert sh("ovs-vsctl", "list-br").split() == []
    leftovers = [n for n in os.listdir("/sys/class/net")
                 if n.split("-eth")[0] in {*topo.switches, *topo.hosts}]
    assert leftovers == []
    shells = subprocess.run(["pgrep", "-f", "mininet:h[0-9]"], capture_output=True, text=True)
    assert shells.stdout == ""
