"""Verification: the one place that says whether an account may take a service.

An account may take part in a service when it is active, lists the service's
kind, allows its bandwidth (ethernet kinds) and has a free channel slot. A
channel slot is a live membership (accepted or provisioned) of any service;
a party joining needs one more than it uses, while the owner, already a
member of its own service, needs only not to exceed its limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from controller.errors import conflict
from controller.model import ACCOUNT_ACTIVE, LIVE_MEMBER_STATES
from controller.schema import members, parties

_CHANNELS = (select(func.count()).select_from(members)
             .where(members.c.party_id == parties.c.id, members.c.state.in_(LIVE_MEMBER_STATES))
             .correlate(parties).scalar_subquery())
# Parties with the channel slots they use (`channels`): every account an
# acceptance verifies, in one statement.
_ACCOUNTS = select(parties, _CHANNELS.label("channels")).where(
    parties.c.id.in_(bindparam("ids", expanding=True)))


def of(conn: Connection, party_ids: set[int]) -> dict[int, Mapping[str, Any]]:
    """The parties' rows with `channels`, the live memberships each holds, by id."""
    return {row["id"]: row for row in conn.execute(_ACCOUNTS, {"ids": sorted(party_ids)})
            .mappings()}


def verify(party: Mapping[str, Any], kind: str, attributes: Mapping[str, Any],
           joining: bool) -> None:
    """Raise 409 account_not_supported naming the account and the limit it breaks;
    `party` is a row of `of`."""
    who = f"account of party '{party['name']}'"
    if party["status"] != ACCOUNT_ACTIVE:
        _refuse(f"{who} is {party['status']}, not active")
    if kind not in party["service_kinds"]:
        _refuse(f"{who} does not list the service kind '{kind}'")
    verify_bandwidth(party, attributes)
    used, limit = party["channels"], party["max_channels"]
    if used + (1 if joining else 0) > limit:
        _refuse(f"{who} has no free channel slot: it uses {used} of max_channels {limit}")


def verify_bandwidth(party: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
    """409 account_not_supported unless the account allows the service's bandwidth."""
    bandwidth = attributes.get("bandwidth_mbps")
    if bandwidth is not None and bandwidth > party["max_bandwidth_mbps"]:
        _refuse(f"account of party '{party['name']}' allows at most "
                f"{party['max_bandwidth_mbps']} Mb/s (max_bandwidth_mbps); the service "
                f"needs {bandwidth}")


def _refuse(message: str) -> None:
    raise conflict("account_not_supported", message)
