"""Names of the things the core keeps: kinds, types, roles and states.

Strings, not enums, because they are stored and rendered as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from flows.intent import MULTIPOINT, POINT_TO_MULTIPOINT, POINT_TO_POINT

ETHERNET_CHANNEL = "ethernet-channel"
SECURE_BANDWIDTH = "secure-bandwidth"
ETHERNET_KINDS = (ETHERNET_CHANNEL, SECURE_BANDWIDTH)
UTILITY_KINDS = ("electric-power", "fuel", "water")
KINDS = ETHERNET_KINDS + UTILITY_KINDS
SERVICE_TYPES = (POINT_TO_POINT, POINT_TO_MULTIPOINT, MULTIPOINT)

ROOT, LEAF, PEER = "root", "leaf", "peer"

ACCOUNT_ACTIVE, ACCOUNT_SUSPENDED = "active", "suspended"
ACCOUNT_STATUSES = (ACCOUNT_ACTIVE, ACCOUNT_SUSPENDED)

# Service states; `degraded` is derived from switch/link health, never stored.
PENDING, ACTIVE, DEGRADED, DELETED = "pending", "active", "degraded", "deleted"
LIVE_SERVICE_STATES = (PENDING, ACTIVE)

# Member states; `removed` members (left, removed, torn down) are history only.
ACCEPTED, PROVISIONED, FAILED, REMOVED = "accepted", "provisioned", "failed", "removed"
LIVE_MEMBER_STATES = (ACCEPTED, PROVISIONED)
# A member that left (or was removed, or whose service was torn down) while a
# switch on its path had not yet confirmed the removal of its rules: it still
# holds its interface, the VLAN and its link reservations until that switch does.
LEAVING = "leaving"
# A member of a party the provider suspended: its rules are removed, and it keeps
# its interface, the VLAN and its reservations until the party is resumed.
SUSPENDED = "suspended"
HOLDING_MEMBER_STATES = (ACCEPTED, PROVISIONED, LEAVING, SUSPENDED)
# A switch's provisioning status while it has yet to confirm a removal.
REMOVAL_PENDING = "removal_pending"

# Offer states.
OFFER_PENDING, DECLINED, WITHDRAWN, EXPIRED = "pending", "declined", "withdrawn", "expired"
OFFER_ACCEPTED = ACCEPTED
OFFER_STATES = (OFFER_PENDING, OFFER_ACCEPTED, DECLINED, WITHDRAWN, EXPIRED)

# Work-order states.
ORDER_OPEN, ORDER_FULFILLED, ORDER_CANCELLED = "open", "fulfilled", "cancelled"

MAX_ID = 2**63 - 1  # the largest id either engine stores (a signed 64-bit integer)
DEFAULT_OFFER_TTL_S = 7 * 24 * 3600
MAX_OFFER_TTL_S = 365 * 24 * 3600
DEFAULT_VLAN_POOL = range(2, 4095)
# A member's meter rate is bandwidth_mbps × 1000 kb/s (flows/compiler.py `meter_for`;
# its burst is a tenth of that): OpenFlow carries both in 32 bits.
MAX_METER_RATE_KBPS = 2**32 - 1
MAX_BANDWIDTH_MBPS = MAX_METER_RATE_KBPS // 1000   # 4294967 Mb/s


def role_for(service_type: str | None, is_owner: bool) -> str:
    """Point-to-multipoint has a root (the owner) and leaves; others are peers."""
    if service_type == POINT_TO_MULTIPOINT:
        return ROOT if is_owner else LEAF
    return PEER


@dataclass(frozen=True)
class Actor:
    """Who calls: the provider (admin) or one party."""

    is_admin: bool
    party_id: int | None
    name: str


ADMIN = Actor(is_admin=True, party_id=None, name="admin")
