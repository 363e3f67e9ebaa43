"""Parties: authentication, registration by the provider, accounts, interfaces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, or_, select, update

from controller import tokens, validation
from controller.errors import conflict, forbidden, not_found, unauthorized
from controller.model import (
    ACCOUNT_SUSPENDED,
    ADMIN,
    HOLDING_MEMBER_STATES,
    LIVE_MEMBER_STATES,
    Actor,
)
from controller.schema import interfaces, members, parties
from controller.workflow import paging, rollout
from controller.workflow.context import Context, Row, party_row, record, require_admin
from controller.workflow.views import party_view, party_views

_BY_TOKEN = select(parties.c.id, parties.c.name, parties.c.token_hash).where(
    parties.c.token_hash == bindparam("hash"))


def authenticate(ctx: Context, token: str | None) -> Actor:
    """The actor a bearer token stands for; 401 for none or an unknown one."""
    if not token:
        raise unauthorized()
    if tokens.same_secret(token, ctx.admin_token):
        return ADMIN
    wanted = tokens.digest(token)
    with ctx.store.read() as conn:
        row = conn.execute(_BY_TOKEN, {"hash": wanted}).first()
    if row is None or not tokens.same_secret(wanted, row.token_hash):
        raise unauthorized("the bearer token is not valid")
    return Actor(is_admin=False, party_id=row.id, name=row.name)


def create_party(ctx: Context, actor: Actor, body: Any) -> dict[str, Any]:
    require_admin(actor)
    party = validation.new_party(body, ctx.topology)
    token = tokens.new_secret()
    with ctx.lock, ctx.store.transaction() as conn:
        if conn.execute(select(parties.c.id).where(parties.c.name == party["name"])).first():
            raise conflict("name_taken", f"a party named '{party['name']}' exists already")
        _check_ports_free(conn, party["interfaces"], party_id=None)
        party_id = conn.execute(insert(parties).values(
            name=party["name"], token_hash=tokens.digest(token), created_at=ctx.clock(),
            **party["account"])).inserted_primary_key[0]
        for iface in party["interfaces"]:
            conn.execute(insert(interfaces).values(party_id=party_id, **iface))
        record(conn, ctx, actor, "party_created", party=party["name"],
               interfaces=[i["name"] for i in party["interfaces"]])
        view = party_view(conn, party_row(conn, party_id))
    return {**view, "token": token}


def issue_token(ctx: Context, actor: Actor, party_id: int) -> dict[str, str]:
    """A new bearer token for the party, shown once; its old one stops working
    with this commit (a token is looked up by its hash on every request)."""
    require_admin(actor)
    token = tokens.new_secret()
    with ctx.lock, ctx.store.transaction() as conn:
        party = party_row(conn, party_id)
        conn.execute(update(parties).where(parties.c.id == party_id)
                     .values(token_hash=tokens.digest(token)))
        record(conn, ctx, actor, "token_issued", party=party["name"])
    return {"token": token}


def update_party(ctx: Context, actor: Actor, party_id: int, body: Any) -> dict[str, Any]:
    """Account fields change as given; `interfaces`, when given, replaces the list."""
    require_admin(actor)
    patch = validation.party_patch(body, ctx.topology)
    with ctx.lock, ctx.store.transaction() as conn:
        party = party_row(conn, party_id)
        if patch.get("account"):
            conn.execute(update(parties).where(parties.c.id == party_id)
                         .values(**patch["account"]))
        if "interfaces" in patch:
            _replace_interfaces(conn, party, patch["interfaces"])
        record(conn, ctx, actor, "party_updated", party=party["name"], fields=sorted(patch))
    status = (patch.get("account") or {}).get("status", party["status"])
    if status != party["status"]:  # its members come off the switches, or back on
        (rollout.suspend_party if status == ACCOUNT_SUSPENDED else rollout.resume_party)(
            ctx, actor, party_id)
    with ctx.store.read() as conn:
        return party_view(conn, party_row(conn, party_id))


def _check_ports_free(conn: Connection, wanted: list[dict[str, Any]],
                      party_id: int | None) -> None:
    """Each edge port and MAC holds one interface across all parties.

    One indexed lookup per wanted interface (the unique constraints on port
    and MAC index them), so registering stays cheap however many exist."""
    for iface in wanted:
        query = select(interfaces.c.switch, interfaces.c.port, interfaces.c.name,
                       parties.c.name.label("party")).join(
            parties, parties.c.id == interfaces.c.party_id).where(or_(
                and_(interfaces.c.switch == iface["switch"], interfaces.c.port == iface["port"]),
                interfaces.c.mac == iface["mac"]))
        if party_id is not None:
            query = query.where(interfaces.c.party_id != party_id)
        other = conn.execute(query.limit(1)).first()
        if other is not None:
            same_port = (other.switch, other.port) == (iface["switch"], iface["port"])
            what = f"port {iface['switch']}:{iface['port']}" if same_port \
                else f"MAC {iface['mac']}"
            raise conflict("interface_busy",
                           f"interface '{iface['name']}': {what} is already registered "
                           f"as interface '{other.name}' of party '{other.party}'")


def _replace_interfaces(conn: Connection, party: Row, wanted: list[dict[str, Any]]) -> None:
    """Keep, change, add and delete interfaces; one in a live service must stay as it is."""
    _check_ports_free(conn, wanted, party_id=party["id"])
    current = {row["name"]: row for row in conn.execute(
        select(interfaces).where(interfaces.c.party_id == party["id"])).mappings()}
    busy = set(conn.execute(select(members.c.interface_id).where(
        members.c.party_id == party["id"],
        members.c.state.in_(HOLDING_MEMBER_STATES))).scalars())
    by_name = {iface["name"]: iface for iface in wanted}
    for name, row in current.items():
        new = by_name.get(name)
        changed = new is None or any(new[k] != row[k] for k in ("switch", "port", "mac"))
        if row["id"] in busy and changed:
            raise conflict("interface_busy", f"interface '{name}' of party '{party['name']}' "
                                             f"is used by service {_service_of(conn, row['id'])}")
    # Delete first, then update and insert, so swapped ports never collide.
    for name, row in current.items():
        if name not in by_name:
            conn.execute(update(members).where(members.c.interface_id == row["id"])
                         .values(interface_id=None))
            conn.execute(delete(interfaces).where(interfaces.c.id == row["id"]))
    kept = [current[name]["id"] for name in by_name if name in current]
    # Park kept rows on placeholder ports and MACs so swaps never collide.
    for row_id in kept:
        conn.execute(update(interfaces).where(interfaces.c.id == row_id)
                     .values(port=-row_id, mac=f"moving-{row_id}"))
    for name, iface in by_name.items():
        if name in current:
            conn.execute(update(interfaces).where(interfaces.c.id == current[name]["id"])
                         .values(**iface))
        else:
            conn.execute(insert(interfaces).values(party_id=party["id"], **iface))


def _service_of(conn: Connection, interface_id: int) -> int:
    return conn.execute(select(members.c.service_id).where(
        members.c.interface_id == interface_id,
        members.c.state.in_(LIVE_MEMBER_STATES))).scalar_one()


def list_parties(ctx: Context, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                 after: int | None = None) -> paging.Page:
    """One page, by id, of the parties (a party sees itself): two queries."""
    limit, after = paging.window(limit, after)
    query = select(parties)
    if not actor.is_admin:
        query = query.where(parties.c.id == actor.party_id)
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, query, parties.c.id, limit, after)
        return paging.Page(party_views(conn, rows), more)


def get_party(ctx: Context, actor: Actor, party_id: int) -> dict[str, Any]:
    if not actor.is_admin and actor.party_id != party_id:
        raise not_found("party", party_id)
    with ctx.store.read() as conn:
        return party_view(conn, party_row(conn, party_id))


def me(ctx: Context, actor: Actor) -> dict[str, Any]:
    if actor.party_id is None:
        raise forbidden("the provider is not a party; /me is for party tokens")
    with ctx.store.read() as conn:
        return party_view(conn, party_row(conn, actor.party_id))
