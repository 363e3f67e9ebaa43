"""What every workflow step shares: the store, the topology, the clock, the
lock, the provisioners, and the lookups that apply the visibility rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from controller.errors import forbidden, invalid, not_found
from controller.model import LIVE_SERVICE_STATES, REMOVED, Actor
from controller.provisioning import EthernetProvisioner
from controller.schema import events, interfaces, members, parties, services
from controller.store import Store
from topology.model import Topology

Row = Mapping[str, Any]


@dataclass
class Context:
    topology: Topology
    store: Store
    clock: Callable[[], float]
    lock: AbstractContextManager[Any]
    vlan_pool: range | tuple[int, ...]
    admin_token: str
    ethernet: EthernetProvisioner
    connected: set[str] = field(default_factory=set)
    down_switches: set[str] = field(default_factory=set)
    down_links: set[str] = field(default_factory=set)


def record(conn: Connection, ctx: Context, actor: Actor | str, action: str,
           service_id: int | None = None, party: str | None = None, **detail: Any) -> None:
    """Append to the audit log: who did what to which service or party, when."""
    who = actor if isinstance(actor, str) else actor.name
    conn.execute(insert(events).values(at=ctx.clock(), actor=who, action=action,
                                       service_id=service_id, party=party, detail=detail))


def require_party(actor: Actor) -> int:
    if actor.party_id is None:
        raise forbidden("this action is taken by a party with its own token, not the provider")
    return actor.party_id


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise forbidden("only the provider (admin token) may do this")


def party_row(conn: Connection, party_id: int) -> Row:
    row = conn.execute(select(parties).where(parties.c.id == party_id)).mappings().first()
    if row is None:
        raise not_found("party", party_id)
    return row


def party_by_name(conn: Connection, name: str, field_name: str) -> Row:
    row = conn.execute(select(parties).where(parties.c.name == name)).mappings().first()
    if row is None:
        raise invalid(field_name, f"no party named '{name}'")
    return row


def own_interface(conn: Connection, party_id: int, name: str) -> Row:
    row = conn.execute(select(interfaces).where(
        interfaces.c.party_id == party_id, interfaces.c.name == name)).mappings().first()
    if row is None:
        raise invalid("interface", f"you have no interface named '{name}'")
    return row


def is_participant(conn: Connection, service: Row, party_id: int) -> bool:
    """Owner, or a member not removed: who may see a service."""
    if service["owner_id"] == party_id:
        return True
    return conn.execute(select(members.c.id).where(
        members.c.service_id == service["id"], members.c.party_id == party_id,
        members.c.state != REMOVED)).first() is not None


def visible_service(conn: Connection, actor: Actor, service_id: int) -> Row:
    """The service if the actor may see it; 404 otherwise (as if it did not exist)."""
    row = conn.execute(select(services).where(services.c.id == service_id)).mappings().first()
    if row is None or not (actor.is_admin or is_participant(conn, row, actor.party_id)):
        raise not_found("service", service_id)
    return row


def is_live(service: Row) -> bool:
    return service["state"] in LIVE_SERVICE_STATES
