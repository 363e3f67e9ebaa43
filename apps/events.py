"""Events the switch registry raises for the other apps, by switch name.

`apps.switches` is the one place that turns a datapath into a switch of the
topology (or warns about a stranger); the other apps listen for these.
"""

from __future__ import annotations

from typing import Any

from ryu.controller.event import EventBase

from topology.model import Switch


class EventSwitchUp(EventBase):
    """A switch of the topology finished its handshake (OpenFlow MAIN state)."""

    def __init__(self, switch: Switch, datapath: Any) -> None:
        super().__init__()
        self.switch = switch
        self.datapath = datapath


class EventSwitchDown(EventBase):
    """A connection of a topology switch closed. On a reconnect the new
    connection may be up before the old one is reported down: compare
    `datapath` with the one you hold."""

    def __init__(self, switch: Switch, datapath: Any) -> None:
        super().__init__()
        self.switch = switch
        self.datapath = datapath


class EventLeadership(EventBase):
    """This instance became the leader of several controllers (`generation`), or
    stopped being it (`leader` False, `generation` None). Only the leader writes
    to the switches and probes their links."""

    def __init__(self, leader: bool, generation: int | None) -> None:
        super().__init__()
        self.leader = leader
        self.generation = generation
