"""What every workflow step shares: the store, the topology, the clock, the
lock, the provisioners, and the lookups that apply the visibility rules."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from controller.errors import account_suspended, forbidden, invalid, not_found
from controller.model import ACCOUNT_SUSPENDED, LIVE_SERVICE_STATES, REMOVED, Actor
from controller.provisioning import EthernetProvisioner
from controller.schema import events, interfaces, members, network_down, parties, services
from controller.store import Store
from controller.workflow import outbox
from topology.model import Topology

Row = Mapping[str, Any]
DOWN_STALE_S = 0.5  # how old an API worker's view of down switches and links may be


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
    # The controller that talks to the switches keeps these and writes them to
    # `network_down`; an API worker process (`replica`) reads them from there.
    replica: bool = False
    # The leader's generation when several controllers share the database (None:
    # a lone controller); what records the switches' answers is fenced by it.
    generation: int | None = None
    clustered: bool = False  # one of several controllers (PostgreSQL)
    _down: tuple[set[str], set[str]] = field(default_factory=lambda: (set(), set()))
    _down_read_at: float = float("-inf")

    @property
    def follows_network(self) -> bool:
        """Down switches and links come from the database (the leader writes them)."""
        return self.replica or (self.clustered and self.generation is None)

    def reset_down(self) -> None:
        self._down, self._down_read_at = (set(), set()), float("-inf")

    def network_down(self, conn: Connection | None = None) -> tuple[set[str], set[str]]:
        """(down switches, down links). This instance's own, or, where it follows
        the network, the leader's as recorded at most DOWN_STALE_S ago: read through
        `conn` when the caller holds one. A second connection from the same pool,
        taken while holding one, waits forever once every connection is held by a
        request doing the same."""
        if self.follows_network and time.monotonic() - self._down_read_at > DOWN_STALE_S:
            if conn is None:
                with self.store.read() as own:
                    rows = own.execute(_DOWN).all()
            else:
                rows = conn.execute(_DOWN).all()
            self._down = ({n for k, n in rows if k == "switch"},
                          {n for k, n in rows if k == "link"})
            self._down_read_at = time.monotonic()
        return self._down


# Built once and executed with parameters: building and keying a statement costs
# more than SQLite running it, and these run on every request.
_RECORD = insert(events)
_PARTY = select(parties).where(parties.c.id == bindparam("id"))
_STATUS = select(parties.c.name, parties.c.status).where(parties.c.id == bindparam("id"))
_PARTY_BY_NAME = select(parties).where(parties.c.name == bindparam("name"))
_OWN_INTERFACE = select(interfaces).where(interfaces.c.party_id == bindparam("party_id"),
                                          interfaces.c.name == bindparam("name"))
_PARTICIPANT = select(members.c.id).where(
    members.c.service_id == bindparam("service_id"), members.c.party_id == bindparam("party_id"),
    members.c.state != REMOVED).limit(1)
SERVICE = select(services).where(services.c.id == bindparam("id"))
_DOWN = select(network_down.c.kind, network_down.c.name)


def record(conn: Connection, ctx: Context, actor: Actor | str, action: str,
           service_id: int | None = None, party: str | None = None, **detail: Any) -> None:
    """Append to the audit log: who did what to which service or party, when; and
    queue the event for the webhooks that may see it, in the same transaction."""
    who = actor if isinstance(actor, str) else actor.name
    at = ctx.clock()
    event_id = conn.execute(_RECORD, {"at": at, "actor": who, "action": action,
                                      "service_id": service_id, "party": party,
                                      "detail": detail}).inserted_primary_key[0]
    outbox.fan_out(conn, event_id, at)


def require_party(actor: Actor) -> int:
    if actor.party_id is None:
        raise forbidden("this action is taken by a party with its own token, not the provider")
    return actor.party_id


def require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise forbidden("only the provider (admin token) may do this")


def require_active(conn: Connection, actor: Actor) -> None:
    """403 account_suspended on any write of a party whose account is suspended
    (create, offer, accept, redeem, decline, withdraw, leave, tear down, change,
    webhooks); reads are not checked. The provider is never suspended. Read in
    the write's own transaction, as its first statement."""
    if actor.party_id is None:
        return
    row = conn.execute(_STATUS, {"id": actor.party_id}).mappings().first()
    if row is not None:
        check_active(row)


def check_active(party: Row) -> None:
    """`require_active` for a party row the write reads anyway."""
    if party["status"] == ACCOUNT_SUSPENDED:
        raise account_suspended(party["name"])


def party_row(conn: Connection, party_id: int) -> Row:
    row = conn.execute(_PARTY, {"id": party_id}).mappings().first()
    if row is None:
        raise not_found("party", party_id)
    return row


def party_by_name(conn: Connection, name: str, field_name: str) -> Row:
    row = conn.execute(_PARTY_BY_NAME, {"name": name}).mappings().first()
    if row is None:
        raise invalid(field_name, f"no party named '{name}'")
    return row


def own_interface(conn: Connection, party_id: int, name: str) -> Row:
    row = conn.execute(_OWN_INTERFACE, {"party_id": party_id, "name": name}).mappings().first()
    if row is None:
        raise invalid("interface", f"you have no interface named '{name}'")
    return row


def is_participant(conn: Connection, service: Row, party_id: int) -> bool:
    """Owner, or a member not removed: who may see a service."""
    if service["owner_id"] == party_id:
        return True
    return conn.execute(_PARTICIPANT, {"service_id": service["id"],
                                       "party_id": party_id}).first() is not None


def visible_service(conn: Connection, actor: Actor, service_id: int) -> Row:
    """The service if the actor may see it; 404 otherwise (as if it did not exist)."""
    row = conn.execute(SERVICE, {"id": service_id}).mappings().first()
    if row is None or not (actor.is_admin or is_participant(conn, row, actor.party_id)):
        raise not_found("service", service_id)
    return row


def is_live(service: Row) -> bool:
    return service["state"] in LIVE_SERVICE_STATES
