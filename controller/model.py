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

# Offer states.
OFFER_PENDING, DECLINED, WITHDRAWN, EXPIRED = "pending", "declined", "withdrawn", "expired"
OFFER_ACCEPTED = ACCEPTED
OFFER_STATES = (OFFER_PENDING, OFFER_ACCEPTED, DECLINED, WITHDRAWN, EXPIRED)

# Work-order states.
ORDER_OPEN, ORDER_FULFILLED, ORDER_CANCELLED = "open", "fulfilled", "cancelled"

DEFAULT_OFFER_TTL_S = 7 * 24 * 3600
MAX_OFFER_TTL_S = 365 * 24 * 3600
DEFAULT_VLAN_POOL = range(2, 4095)
MAX_BANDWIDTH_MBPS = 10**7


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
