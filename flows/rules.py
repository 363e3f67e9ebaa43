"""The rule values the compiler produces and the Ryu apps translate.

Values are frozen and hashable so that a switch's desired and actual tables
can be compared as sets during reconciliation. Field and action names follow
Ryu's OFPMatch keyword names so the translation in `apps/` is mechanical.
"""

from __future__ import annotations

from dataclasses import dataclass

# A match is a sorted tuple of (field, value) or (field, (value, mask)),
# field names as in ryu's OFPMatch: in_port, eth_src, eth_dst, vlan_vid.
# Values are exactly what goes into OFPMatch: vlan_vid is VLAN_UNTAGGED (0)
# for "no tag" and vlan_tag(vid) == OFPVID_PRESENT | vid for a tag; MACs are
# lower-case "aa:bb:cc:dd:ee:ff" strings.
Match = tuple[tuple[str, object], ...]

OFPVID_PRESENT = 0x1000
VLAN_UNTAGGED = 0x0000
# A priority tag (802.1p only, VID 0): OVS matches it as vlan_tci=0x1000/0x1fff.
VLAN_PRIORITY_TAGGED = OFPVID_PRESENT
OFPP_CONTROLLER = 0xFFFFFFFD  # ("output", OFPP_CONTROLLER): a packet-in

# Cookies: the top 16 bits say who owns a flow, the low 48 bits which service.
COOKIE_SERVICE_PREFIX = 0x6D73  # "ms"
COOKIE_INFRA = 0x6D69 << 48     # "mi": fixed flows every switch has (table-miss drops)
COOKIE_LLDP = 0x6D6C << 48      # "ml": the LLDP probe rules of fiber ports (packet-in)
_SERVICE_ID_BITS = 48

# Actions, as small tuples:
#   ("push_vlan",)          push an 802.1Q tag (ethertype 0x8100)
#   ("set_vlan_vid", vid)   set the tag's VID: a PLAIN VID (1..4094); the app adds
#                           OFPVID_PRESENT when it builds OFPActionSetField. The
#                           tag's PCP (802.1p) bits are kept (OVS 3.1, checked)
#   ("pop_vlan",)
#   ("output", port)        port OFPP_CONTROLLER: to the controller (packet-in)
#   ("group", group_id)
Action = tuple


def match(**fields: object) -> Match:
    """A canonical Match from keyword fields."""
    return match_of(fields)


def match_of(fields: dict[str, object]) -> Match:
    """A canonical Match from a dict of fields."""
    return tuple(sorted(fields.items()))


def vlan_tag(vid: int) -> int:
    """The vlan_vid match value of a frame tagged `vid` (OFPVID_PRESENT set)."""
    if not 1 <= vid <= 4094:
        raise ValueError(f"VLAN {vid} is outside 1..4094")
    return OFPVID_PRESENT | vid


def service_cookie(service_id: int) -> int:
    """The cookie of every flow of a service, so its rules can be found and removed alone."""
    if not 0 <= service_id < 1 << _SERVICE_ID_BITS:
        raise ValueError(f"service id {service_id} does not fit in a cookie")
    return COOKIE_SERVICE_PREFIX << _SERVICE_ID_BITS | service_id


def service_of_cookie(cookie: int) -> int | None:
    """The service id a cookie names, or None for infrastructure and foreign flows."""
    if cookie >> _SERVICE_ID_BITS != COOKIE_SERVICE_PREFIX:
        return None
    return cookie & ((1 << _SERVICE_ID_BITS) - 1)


@dataclass(frozen=True, order=True, slots=True)
class Flow:
    """One flow entry. `cookie` identifies the service that owns it.

    Its instructions run in OpenFlow order: `meter`, then `actions` (apply),
    then `goto` a later table (flows/pipeline.py declares the tables).
    """

    table: int
    priority: int
    match: Match
    actions: tuple[Action, ...] = ()
    goto: int | None = None
    meter: int | None = None
    cookie: int = 0


@dataclass(frozen=True, order=True, slots=True)
class Group:
    """An ALL group: every bucket gets a copy of the frame.

    `group_id` is the service's VLAN: a service has at most one group per
    switch and VLANs are unique in the network, so ids never collide.
    """

    group_id: int
    buckets: tuple[tuple[Action, ...], ...]


@dataclass(frozen=True, order=True, slots=True)
class Meter:
    """A DROP-band meter in kb/s (the only band the userspace datapath has).

    Install with flags KBPS | BURST. `meter_id` is the member's id
    (MemberIntent.member_id), unique across the network. With `pktps` the
    meter counts packets instead (flags PKTPS | BURST): `rate_kbps` is then
    packets/s and `burst_kb` packets — the cap of the packet-in rules, whose
    id is reserved (`flows.compiler.PROBE_METER_ID`).
    """

    meter_id: int
    rate_kbps: int
    burst_kb: int
    pktps: bool = False


@dataclass(frozen=True, slots=True)
class SwitchTables:
    """The complete desired state of one switch."""

    flows: frozenset[Flow]
    groups: frozenset[Group]
    meters: frozenset[Meter]
