"""Builds the Mininet network of a topology file, exactly as the file says.

Switches get the file's dpids and port numbers, hosts its MACs and IPs; the
switches are userspace Open vSwitch bridges speaking OpenFlow 1.3, fail-mode
secure, attached to a remote controller.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import TracebackType

from mininet.link import Link
from mininet.net import Mininet
from mininet.node import OVSSwitch, RemoteController

from topology.model import Topology

RECONNECT_BACKOFF_MS = 1000  # longest wait between a switch's attempts to reach its controller


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@dataclass(frozen=True)
class SwitchTLS:
    """What every switch presents and trusts on an OpenFlow-over-TLS channel
    (one set per Open vSwitch: `ovs-vsctl set-ssl` is global)."""

    cert: Path
    key: Path
    ca_cert: Path


def intf_name(node: str, port: int) -> str:
    """Mininet's name for the interface of `node` at `port`."""
    return f"{node}-eth{port}"


def clean_leftovers(topology: Topology) -> None:
    """Remove what a crashed earlier run of this topology left behind: its
    bridges, veth interfaces and host shells. Other networks are untouched."""
    for name in topology.switches:
        _run("ovs-vsctl", "--if-exists", "del-br", name)
    links = _run("ip", "-o", "link", "show").stdout.splitlines()
    prefixes = tuple(f"{n}-eth" for n in [*topology.switches, *topology.hosts])
    for line in links:
        ifname = line.split(":")[1].strip().split("@")[0]
        if ifname.startswith(prefixes):
            _run("ip", "link", "del", ifname)
    for host in topology.hosts:
        _run("pkill", "-9", "-f", f"mininet:{host}$")


class MetroNetwork:
    """A running Mininet network of `topology`; use as a context manager."""

    def __init__(self, topology: Topology,
                 controller: tuple[str, int] | Sequence[tuple[str, int]] = ("127.0.0.1", 6653),
                 tls: SwitchTLS | None = None):
        """`controller`: one (HOST, PORT), or several, which every switch connects to
        (several controllers on one database); with `tls`, at ssl:HOST:PORT."""
        self.topology = topology
        self.controllers = [controller] if isinstance(controller[0], str) else list(controller)
        self.tls = tls
        self.net: Mininet | None = None

    def start(self) -> Mininet:
        clean_leftovers(self.topology)
        switch = partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode="secure")
        net = Mininet(switch=switch, controller=None, link=Link, build=False,
                      autoSetMacs=False, autoStaticArp=False, waitConnected=False)
        self.net = net
        if self.tls is not None:
            _run("ovs-vsctl", "set-ssl", str(self.tls.key), str(self.tls.cert),
                 str(self.tls.ca_cert))
        for i, (host, port) in enumerate(self.controllers):
            net.addController(RemoteController(f"c{i}", ip=host, port=port,
                                               protocol="tcp" if self.tls is None else "ssl"))
        for s in self.topology.switches.values():
            net.addSwitch(s.name, dpid=f"{s.dpid:016x}")
        for link in self.topology.links:
            net.addLink(link.a.switch, link.b.switch, port1=link.a.port, port2=link.b.port,
                        intfName1=intf_name(link.a.switch, link.a.port),
                        intfName2=intf_name(link.b.switch, link.b.port))
        for h in self.topology.hosts.values():
            net.addHost(h.name, ip=h.ip, mac=h.mac)
            net.addLink(h.name, h.switch, port2=h.port,
                        intfName1=intf_name(h.name, 0), intfName2=intf_name(h.switch, h.port))
        net.build()
        net.start()
        for name in self.topology.switches:
            # OVS backs off up to 8 s between reconnects; a restarted controller then
            # waits for its switches. Try again within a second instead.
            refs = _run("ovs-vsctl", "get", "Bridge", name, "controller").stdout
            for ref in refs.strip().strip("[]").split(", "):
                if ref:
                    _run("ovs-vsctl", "set", "Controller", ref,
                         f"max_backoff={RECONNECT_BACKOFF_MS}")
        for h in self.topology.hosts.values():
            # Userspace datapath: checksum offload would leave TCP segments broken.
            net.get(h.name).cmd(f"ethtool -K {intf_name(h.name, 0)} tx off >/dev/null 2>&1")
        return net

    def stop(self) -> None:
        if self.net is not None:
            self.net.stop()
            self.net = None
        clean_leftovers(self.topology)
        if self.tls is not None:
            _run("ovs-vsctl", "del-ssl")

    def __enter__(self) -> Mininet:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
