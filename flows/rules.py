"""The rule values the compiler produces and the Ryu apps translate.

Values are frozen and hashable so that a switch's desired and actual tables
can be compared as sets during reconciliation. Field and action names follow
Ryu's OFPMatch keyword names so the translation in `apps/` is mechanical.
"""

from __future__ import annotations

from dataclasses import dataclass

# A match is a sorted tuple of (field, value) or (field, (value, mask)),
# field names as in ryu's OFPMatch: in_port, eth_src, eth_dst, vlan_vid.
Match = tuple[tuple[str, object], ...]

# Actions, as small tuples:
#   ("push_vlan",)          push an 802.1Q tag (ethertype 0x8100)
#   ("set_vlan_vid", vid)   set the tag's VID (plain VID; the OFPVID_PRESENT bit is added on the wire)
#   ("pop_vlan",)
#   ("output", port)
#   ("group", group_id)
Action = tuple


def match(**fields: object) -> Match:
    """A canonical Match from keyword fields."""
    return tuple(sorted(fields.items()))


@dataclass(frozen=True, order=True)
class Flow:
    """One flow entry. `cookie` identifies the service that owns it."""

    table: int
    priority: int
    match: Match
    actions: tuple[Action, ...] = ()
    goto: int | None = None
    meter: int | None = None
    cookie: int = 0


@dataclass(frozen=True, order=True)
class Group:
    """An ALL group: every bucket gets a copy of the frame."""

    group_id: int
    buckets: tuple[tuple[Action, ...], ...]


@dataclass(frozen=True, order=True)
class Meter:
    """A DROP-band meter in kb/s (the only band the userspace datapath has)."""

    meter_id: int
    rate_kbps: int
    burst_kb: int


@dataclass(frozen=True)
class SwitchTables:
    """The complete desired state of one switch."""

    flows: frozenset[Flow]
    groups: frozenset[Group]
    meters: frozenset[Meter]
