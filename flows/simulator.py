"""A table simulator, in the manner of Faucet's fakeoftable, for proving rules.

`SwitchSimulator` runs one frame through a switch's compiled tables with the
OpenFlow 1.3 / Open vSwitch semantics the compiler relies on: the highest
priority match wins (a tie between overlapping flows is an error, since
OpenFlow leaves it undefined), masked matches, table-miss drops, apply-actions
in order, goto, ALL groups copying the frame per bucket, push/set/pop of
802.1Q tags with their PCP bits, no output back to the ingress port, and
output to the controller (packet-in). `NetworkSimulator` carries the output
frames across the fiber links of the topology until they leave at edge ports
or reach the controller, so isolation and connectivity can be checked for
every pair of ports, and that no customer frame is ever punted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from flows.rules import (
    OFPP_CONTROLLER,
    OFPVID_PRESENT,
    VLAN_UNTAGGED,
    Action,
    Flow,
    SwitchTables,
)
from topology.model import PortRef, Topology


@dataclass(frozen=True)
class Frame:
    """An Ethernet frame as the pipeline sees it; `vlans` are VIDs, outermost first
    (VID 0: a priority tag), `pcps` the 802.1p bits of those tags.

    `eth_type` is the ethertype of the payload. As in OVS (vlan-limit 1) and
    OpenFlow 1.3, a match on `eth_type` sees the type after the outer tag:
    the payload's under at most one tag, 0x8100 under two or more. (A frame
    whose inner tag is 802.1ad is, to OVS, one tag over payload type 0x88a8.)
    `pcps` is padded with 0 to the length of `vlans`, so a frame written
    without PCP bits equals one with zeros.
    """

    eth_src: str
    eth_dst: str
    vlans: tuple[int, ...] = ()
    eth_type: int = 0x0800
    pcps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if len(self.pcps) > len(self.vlans):
            raise ValueError(f"{len(self.pcps)} PCPs for {len(self.vlans)} tags")
        padded = self.pcps + (0,) * (len(self.vlans) - len(self.pcps))
        object.__setattr__(self, "pcps", padded)

    @property
    def vlan_vid(self) -> int:
        """The OXM vlan_vid of the frame: 0 untagged, OFPVID_PRESENT | vid tagged."""
        return OFPVID_PRESENT | self.vlans[0] if self.vlans else VLAN_UNTAGGED

    @property
    def matched_eth_type(self) -> int:
        """The OXM eth_type of the frame: the type after the outer tag."""
        return 0x8100 if len(self.vlans) > 1 else self.eth_type


@dataclass(frozen=True)
class Output:
    """A frame leaving a switch port, with the meters it passed on the way."""

    port: int
    frame: Frame
    meters: tuple[int, ...] = ()


@dataclass(frozen=True)
class Delivery:
    """A frame leaving the network at an edge port."""

    port: PortRef
    frame: Frame
    meters: tuple[int, ...] = ()


@dataclass(frozen=True)
class Trace:
    """What became of one frame: its deliveries at edge ports, the fiber ports
    it was sent out of on the way (a copy per crossing), and the copies handed
    to the controller (`port`: where the copy entered the switch that punted it)."""

    deliveries: list[Delivery]
    crossings: list[PortRef]
    packet_ins: list[Delivery] = field(default_factory=list)


class SimulationError(AssertionError):
    """The rules do something OpenFlow leaves undefined or a switch would refuse."""


def _as_int(value: object) -> int:
    if isinstance(value, str):
        return int(value.replace(":", ""), 16)
    if isinstance(value, int):
        return value
    raise SimulationError(f"cannot match on value {value!r}")


def _field_matches(wanted: object, actual: object) -> bool:
    if isinstance(wanted, tuple):
        value, mask = wanted
        return _as_int(actual) & _as_int(mask) == _as_int(value) & _as_int(mask)
    return _as_int(actual) == _as_int(wanted)


class SwitchSimulator:
    """One switch holding a SwitchTables."""

    def __init__(self, tables: SwitchTables) -> None:
        self.groups = {g.group_id: g for g in tables.groups}
        self.meters = {m.meter_id: m for m in tables.meters}
        self.tables: dict[int, list[Flow]] = {}
        for flow in tables.flows:
            self._check_references(flow)
            self.tables.setdefault(flow.table, []).append(flow)
        for flows in self.tables.values():
            flows.sort(key=lambda f: -f.priority)

    def _check_references(self, flow: Flow) -> None:
        """Refuse what a switch would refuse: missing meters, groups, backwards gotos."""
        if flow.meter is not None and flow.meter not in self.meters:
            raise SimulationError(f"flow {flow} uses missing meter {flow.meter}")
        if flow.goto is not None and flow.goto <= flow.table:
            raise SimulationError(f"flow {flow} goes back to table {flow.goto}")
        for action in flow.actions:
            if action[0] == "group" and action[1] not in self.groups:
                raise SimulationError(f"flow {flow} uses missing group {action[1]}")

    def lookup(self, table: int, in_port: int, frame: Frame) -> Flow | None:
        """The flow that wins in `table`, or None on a table-miss."""
        fields = {"in_port": in_port, "eth_src": frame.eth_src, "eth_dst": frame.eth_dst,
                  "vlan_vid": frame.vlan_vid, "eth_type": frame.matched_eth_type}
        best: Flow | None = None
        for flow in self.tables.get(table, ()):
            if best is not None and flow.priority < best.priority:
                break
            if all(_field_matches(v, fields[k]) for k, v in flow.match):
                if best is not None:
                    raise SimulationError(f"flows {best} and {flow} overlap at one priority")
                best = flow
        return best

    def process(self, in_port: int, frame: Frame) -> list[Output]:
        """Every frame the switch sends out for `frame` arriving on `in_port`
        (port OFPP_CONTROLLER: a packet-in)."""
        outputs: list[Output] = []
        meters: tuple[int, ...] = ()
        table: int | None = 0
        while table is not None:
            flow = self.lookup(table, in_port, frame)
            if flow is None:
                break  # table-miss without a flow drops, as does our explicit miss
            if flow.meter is not None:
                meters += (flow.meter,)
            frame = self._apply(flow.actions, in_port, frame, meters, outputs)
            table = flow.goto
        return outputs

    def _apply(self, actions: tuple[Action, ...], in_port: int, frame: Frame,
               meters: tuple[int, ...], outputs: list[Output]) -> Frame:
        for action in actions:
            kind = action[0]
            if kind == "push_vlan":
                # OVS 3.1 (ofproto/trace, checked): the new tag is VID 0, PCP 0,
                # also over another tag (OpenFlow 1.3 would copy that tag's fields).
                frame = replace(frame, vlans=(0,) + frame.vlans, pcps=(0,) + frame.pcps)
            elif kind == "set_vlan_vid":
                if not frame.vlans:
                    raise SimulationError("set_vlan_vid on an untagged frame")
                # Only the VID changes: the PCP bits stay (OVS 3.1, checked).
                frame = replace(frame, vlans=(action[1],) + frame.vlans[1:])
            elif kind == "pop_vlan":
                if not frame.vlans:
                    raise SimulationError("pop_vlan on an untagged frame")
                frame = replace(frame, vlans=frame.vlans[1:], pcps=frame.pcps[1:])
            elif kind == "output":
                if action[1] != in_port:  # OVS never hairpins unless told OFPP_IN_PORT
                    outputs.append(Output(action[1], frame, meters))
            elif kind == "group":
                for bucket in self.groups[action[1]].buckets:
                    self._apply(bucket, in_port, frame, meters, outputs)
            else:
                raise SimulationError(f"unknown action {action!r}")
        return frame


class NetworkSimulator:
    """The whole metro tree: frames cross fiber links until they leave at edge ports."""

    def __init__(self, topology: Topology, tables: Mapping[str, SwitchTables]) -> None:
        self.topology = topology
        empty = SwitchTables(frozenset(), frozenset(), frozenset())
        self.switches = {name: SwitchSimulator(tables.get(name, empty))
                         for name in topology.switches}

    def send(self, edge_port: PortRef, frame: Frame) -> list[Delivery]:
        """Every copy of `frame`, sent into `edge_port`, that leaves the network."""
        return self.trace(edge_port, frame).deliveries

    def trace(self, edge_port: PortRef, frame: Frame) -> Trace:
        """Where the copies of `frame` leave the network, and every fiber they cross.

        No frame can loop: the links form a tree and no switch sends a frame
        back out of the port it came in on.
        """
        trace = Trace([], [])
        queue = deque([(edge_port.switch, edge_port.port, frame, ())])
        while queue:
            switch, in_port, frame, meters = queue.popleft()
            for out in self.switches[switch].process(in_port, frame):
                if out.port == OFPP_CONTROLLER:
                    trace.packet_ins.append(
                        Delivery(PortRef(switch, in_port), out.frame, meters + out.meters))
                    continue
                here = PortRef(switch, out.port)
                link = self.topology.link_at(here)
                if link is None:
                    trace.deliveries.append(Delivery(here, out.frame, meters + out.meters))
                    continue
                trace.crossings.append(here)
                there = link.b if link.a == here else link.a
                queue.append((there.switch, there.port, out.frame, meters + out.meters))
        return trace
