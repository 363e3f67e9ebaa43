"""Offers and invitations: made by an owner, accepted, declined, withdrawn, expired.

Acceptance is the heart of the core. One transaction validates, verifies both
accounts, allocates the VLAN, reserves link capacity and records the member
as accepted; the provisioning then happens outside it (see `rollout`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, union, update

from controller import accounts, capacity, tokens, validation, vlans
from controller.errors import conflict, not_addressee, not_found, not_owner, provisioning_failed
from controller.model import (
    ACCEPTED,
    DECLINED,
    ETHERNET_KINDS,
    EXPIRED,
    FAILED,
    LIVE_MEMBER_STATES,
    OFFER_ACCEPTED,
    OFFER_PENDING,
    ORDER_OPEN,
    POINT_TO_POINT,
    REMOVED,
    SECURE_BANDWIDTH,
    WITHDRAWN,
    Actor,
    role_for,
)
from controller.provisioning import issue_orders
from controller.schema import members, offers, orders, parties, services
from controller.workflow import paging
from controller.workflow.context import (
    SERVICE,
    Context,
    Row,
    check_active,
    is_live,
    own_interface,
    party_by_name,
    party_row,
    record,
    require_active,
    require_party,
    visible_service,
)
from controller.workflow.rollout import (
    Rollout,
    announce,
    edge_ports,
    finish_new_member,
    live_rows,
    start,
    state_of,
)
from controller.workflow.services import (
    check_interface_free,
    check_live,
    check_room,
    live_member_count,
)
from controller.workflow.views import (
    OFFER_ROWS,
    iso,
    offer_fields,
    offer_row,
    offer_view,
    offered_service,
    service_state,
    service_view,
)
from topology.model import PortRef


def expire_offers(ctx: Context) -> int:
    """Mark every pending offer past its expiry as expired; return how many."""
    now = ctx.clock()
    due_query = select(offers.c.id).where(offers.c.state == OFFER_PENDING,
                                          offers.c.expires_at <= now)
    with ctx.store.read() as conn:
        if conn.execute(due_query.limit(1)).first() is None:
            return 0  # the common case needs no write lock
    with ctx.lock, ctx.store.transaction() as conn:
        due = conn.execute(select(offers.c.id, offers.c.service_id, offers.c.expires_at).where(
            offers.c.state == OFFER_PENDING, offers.c.expires_at <= now)).all()
        _mark_expired(conn, ctx, due, now)
    return len(due)


def _mark_expired(conn: Connection, ctx: Context, due: list[Any], now: float) -> None:
    """The offers `due` (rows with `id`, `service_id` and `expires_at`) are expired,
    each recorded with the time it expired at (the sweep may come later)."""
    if due:
        conn.execute(update(offers).where(offers.c.id.in_([o.id for o in due]))
                     .values(state=EXPIRED, decided_at=now))
    for offer in due:
        record(conn, ctx, "system", "offer_expired", offer.service_id, offer=offer.id,
               expires_at=iso(offer.expires_at))


def create_offer(ctx: Context, actor: Actor, service_id: int, body: Any) -> dict[str, Any]:
    """Owner only: to a named party, or an open invitation whose code is shown once."""
    party_id = require_party(actor)
    wanted = validation.new_offer(body)
    code = tokens.new_secret() if wanted["party"] is None else None
    with ctx.lock, ctx.store.transaction() as conn:
        require_active(conn, actor)
        service = visible_service(conn, actor, service_id)
        if service["owner_id"] != party_id:
            raise not_owner(service["id"])
        check_live(service)
        addressee = None
        if wanted["party"] is not None:
            addressee = party_by_name(conn, wanted["party"], "party")
            _check_not_member(conn, service, addressee)
            _check_no_pending_offer(conn, ctx, service, addressee)
        check_room(conn, service)
        if addressee is not None:
            # As acceptance will; an open invitation's redeemer is not known yet.
            accounts.verify(accounts.of(conn, {addressee["id"]})[addressee["id"]],
                            service["kind"], service["attributes"], joining=True)
        now = ctx.clock()
        offer_id = conn.execute(insert(offers).values(
            service_id=service_id, owner_id=service["owner_id"],
            party_id=addressee["id"] if addressee else None,
            code_hash=tokens.digest(code) if code else None, state=OFFER_PENDING,
            expires_at=now + wanted["expires_in_s"], created_at=now)).inserted_primary_key[0]
        record(conn, ctx, actor, "offer_created", service_id, wanted["party"], offer=offer_id,
               invitation=code is not None)
        view = offer_view(conn, offer_id)
    return {**view, "code": code} if code else view


def _check_not_member(conn: Connection, service: Row, party: Row) -> bool:
    """409 already_member if the party is a live member of the service; True if
    it has a failed membership there (the joiner's new member replaces it)."""
    states = conn.execute(select(members.c.state).where(
        members.c.service_id == service["id"], members.c.party_id == party["id"],
        members.c.state.in_((*LIVE_MEMBER_STATES, FAILED)))).scalars().all()
    if any(state != FAILED for state in states):
        raise conflict("already_member", f"party '{party['name']}' is already a member of "
                                         f"service {service['id']}")
    return bool(states)


def _check_no_pending_offer(conn: Connection, ctx: Context, service: Row, party: Row) -> None:
    """At most one pending offer per (service, addressee), also a unique index;
    one past its expiry that no sweep has marked yet is marked expired here."""
    pending = conn.execute(select(offers.c.id, offers.c.service_id, offers.c.expires_at).where(
        offers.c.service_id == service["id"], offers.c.party_id == party["id"],
        offers.c.state == OFFER_PENDING)).first()
    if pending is None:
        return
    now = ctx.clock()
    if pending.expires_at <= now:
        _mark_expired(conn, ctx, [pending], now)
        return
    raise conflict("offer_exists", f"party '{party['name']}' already has a pending offer "
                                   f"({pending.id}) of service {service['id']}; withdraw it "
                                   "or wait for its answer")


def list_offers(ctx: Context, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                after: int | None = None) -> paging.Page:
    """One page, by id, of the offers the actor made or received: one query."""
    limit, after = paging.window(limit, after)
    if not ctx.replica:  # an API worker only reads; the controller's timer expires them
        expire_offers(ctx)
    query = OFFER_ROWS
    if not actor.is_admin:
        # The page lies within the first ids of each set: two ordered index ranges.
        query = query.where(offers.c.id.in_(union(
            paging.leading(offers.c.id, limit, after, offers.c.party_id == actor.party_id),
            paging.leading(offers.c.id, limit, after, offers.c.owner_id == actor.party_id))))
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, query, offers.c.id, limit, after)
        return paging.Page([offer_fields(row) for row in rows], more)


def _visible_offer(conn: Connection, actor: Actor, offer_id: int) -> tuple[Row, Row]:
    """The offer and its service if the actor made it or is its addressee; else 404."""
    offer = offer_row(conn, offer_id)
    if offer is not None:
        service = conn.execute(SERVICE, {"id": offer["service_id"]}).mappings().one()
        if actor.is_admin or actor.party_id in (offer["party_id"], service["owner_id"]):
            return offer, service
    raise not_found("offer", offer_id)


def _state(ctx: Context, offer: Row) -> str:
    """The offer's state now: past its expiry is expired even if no sweep marked it yet."""
    if offer["state"] == OFFER_PENDING and offer["expires_at"] <= ctx.clock():
        return EXPIRED
    return offer["state"]


def _check_pending(ctx: Context, offer: Row) -> None:
    state = _state(ctx, offer)
    if state != OFFER_PENDING:
        raise conflict("offer_not_pending", f"offer {offer['id']} is {state}, not pending")


def _check_addressee(actor: Actor, offer: Row) -> None:
    if offer["party_id"] != actor.party_id:
        raise not_addressee(offer["id"])


def _decide(ctx: Context, actor: Actor, offer_id: int, state: str) -> dict[str, Any]:
    """Decline (the addressee) or withdraw (the owner) a pending offer."""
    with ctx.lock, ctx.store.transaction() as conn:
        require_active(conn, actor)
        offer, service = _visible_offer(conn, actor, offer_id)
        if state == DECLINED:
            _check_addressee(actor, offer)
        elif actor.party_id != service["owner_id"]:
            raise not_owner(service["id"])
        _check_pending(ctx, offer)
        conn.execute(update(offers).where(offers.c.id == offer_id)
                     .values(state=state, decided_at=ctx.clock()))
        addressee = None
        if offer["party_id"] is not None:
            addressee = party_row(conn, offer["party_id"])["name"]
        record(conn, ctx, actor, f"offer_{state}", service["id"], addressee, offer=offer_id)
        return offer_view(conn, offer_id)


def decline_offer(ctx: Context, actor: Actor, offer_id: int) -> dict[str, Any]:
    return _decide(ctx, actor, offer_id, DECLINED)


def withdraw_offer(ctx: Context, actor: Actor, offer_id: int) -> dict[str, Any]:
    return _decide(ctx, actor, offer_id, WITHDRAWN)


def accept_offer(ctx: Context, actor: Actor, offer_id: int, body: Any) -> dict[str, Any]:
    interface, ce_vlan = validation.acceptance(body)
    require_party(actor)
    with ctx.lock:
        with ctx.store.transaction() as conn:
            offer, service = _visible_offer(conn, actor, offer_id)
            _check_addressee(actor, offer)
            member_id, service = _join(conn, ctx, actor, offer, service, interface, ce_vlan)
            announced = announce(conn, ctx, service)
            read = state_of(conn, service)
        rollout = start(ctx, service["id"], read=read, announced=announced)
    return _provision(ctx, actor, offer_id, rollout, service["id"], member_id)


def accept_invitation(ctx: Context, actor: Actor, body: Any) -> dict[str, Any]:
    code, interface, ce_vlan = validation.invitation(body)
    require_party(actor)
    with ctx.lock:
        with ctx.store.transaction() as conn:
            offer = conn.execute(select(offers).where(
                offers.c.code_hash == tokens.digest(code))).mappings().first()
            if offer is None:
                raise not_found("invitation", "with that code")
            service = conn.execute(SERVICE, {"id": offer["service_id"]}).mappings().one()
            member_id, service = _join(conn, ctx, actor, offer, service, interface, ce_vlan)
            announced = announce(conn, ctx, service)
            read = state_of(conn, service)
        rollout = start(ctx, service["id"], read=read, announced=announced)
    return _provision(ctx, actor, offer["id"], rollout, service["id"], member_id)


def preview_invitation(ctx: Context, actor: Actor, body: Any) -> dict[str, Any]:
    """What redeeming a code would join, for any caller to judge first: reads only
    (nothing is marked, not even an expiry); 404 unless the code is pending."""
    code = validation.invitation_code(body)
    with ctx.store.read() as conn:
        offer = conn.execute(OFFER_ROWS.where(
            offers.c.code_hash == tokens.digest(code))).mappings().first()
    if offer is None or _state(ctx, offer) != OFFER_PENDING:
        raise not_found("invitation", "with that code")
    return {"service": offered_service(offer), "owner": offer["owner"],
            "expires_at": iso(offer["expires_at"])}


def _join(conn: Connection, ctx: Context, actor: Actor, offer: Row, service: Row,
          interface_name: str, ce_vlan: int) -> tuple[int, Row]:
    """Every check of an acceptance, then its writes; returns the new member's id
    and the service's row as the transaction leaves it."""
    account = accounts.of(conn, {actor.party_id, service["owner_id"]})
    joiner = account[actor.party_id]
    check_active(joiner)
    _check_pending(ctx, offer)
    check_live(service)
    validation.check_ce_vlan(service["kind"], ce_vlan)
    interface = own_interface(conn, joiner["id"], interface_name)
    failed_before = _check_not_member(conn, service, joiner)
    check_interface_free(conn, interface, ce_vlan)
    check_room(conn, service)
    accounts.verify(account[service["owner_id"]], service["kind"], service["attributes"],
                    joining=False)
    accounts.verify(joiner, service["kind"], service["attributes"], joining=True)
    vlan = service["vlan"]
    if service["kind"] in ETHERNET_KINDS and vlan is None:
        vlan = vlans.allocate(conn, ctx.vlan_pool)
    wanted: dict[str, int] = {}
    if service["kind"] == SECURE_BANDWIDTH:
        ports = [*edge_ports(live_rows(conn, service["id"])),
                 PortRef(interface["switch"], interface["port"])]
        wanted = capacity.hose(ctx.topology, ports, service["attributes"]["bandwidth_mbps"])
        capacity.admit(conn, ctx.topology, service["id"], wanted)
    # Every check passed: write.
    now = ctx.clock()
    if failed_before:
        conn.execute(update(members).where(members.c.service_id == service["id"],
                                           members.c.party_id == joiner["id"],
                                           members.c.state == FAILED).values(state=REMOVED))
    member_id = conn.execute(insert(members).values(
        service_id=service["id"], party_id=joiner["id"], interface_id=interface["id"],
        role=role_for(service["attributes"].get("type"), is_owner=False), state=ACCEPTED,
        ce_vlan=ce_vlan, created_at=now)).inserted_primary_key[0]
    if service["kind"] == SECURE_BANDWIDTH:
        capacity.reserve(conn, service["id"], wanted)
    if vlan != service["vlan"]:
        conn.execute(update(services).where(services.c.id == service["id"]).values(vlan=vlan))
    conn.execute(update(offers).where(offers.c.id == offer["id"]).values(
        state=OFFER_ACCEPTED, party_id=joiner["id"], decided_at=now))
    record(conn, ctx, actor, "offer_accepted", service["id"], joiner["name"], offer=offer["id"],
           interface=interface["name"], vlan=vlan, ce_vlan=ce_vlan or None)
    if service["attributes"].get("type") == POINT_TO_POINT \
            and live_member_count(conn, service["id"]) >= 2:
        _close_offers(conn, ctx, service["id"], now)
    if service["kind"] not in ETHERNET_KINDS:
        _issue_orders(conn, service["id"], now)
    return member_id, {**service, "vlan": vlan}


def _close_offers(conn: Connection, ctx: Context, service_id: int, now: float) -> None:
    """A full point-to-point service can take nobody else: its other pending offers
    are withdrawn (those already past their expiry are expired), each recorded."""
    pending = conn.execute(select(offers.c.id, offers.c.service_id, offers.c.expires_at,
                                  parties.c.name.label("party"))
                           .outerjoin(parties, parties.c.id == offers.c.party_id)
                           .where(offers.c.service_id == service_id,
                                  offers.c.state == OFFER_PENDING)).all()
    _mark_expired(conn, ctx, [o for o in pending if o.expires_at <= now], now)
    open_ = [o for o in pending if o.expires_at > now]
    if open_:
        conn.execute(update(offers).where(offers.c.id.in_([o.id for o in open_]))
                     .values(state=WITHDRAWN, decided_at=now))
    for offer in open_:
        record(conn, ctx, "system", "offer_withdrawn", service_id, offer.party, offer=offer.id,
               reason="point_to_point_full")


def _reopen(ctx: Context, actor: Actor, offer_id: int, member_id: int) -> None:
    """An acceptance the switches did not take leaves nothing behind: its member (whose
    rules, VLAN and reservations are already gone) is removed, and the offer is
    pending again — an invitation's code works again — so the party may retry."""
    with ctx.lock, ctx.store.transaction() as conn:
        offer = offer_row(conn, offer_id)
        conn.execute(update(members).where(members.c.id == member_id, members.c.state == FAILED)
                     .values(state=REMOVED))
        service = conn.execute(SERVICE, {"id": offer["service_id"]}).mappings().one()
        if offer["state"] != OFFER_ACCEPTED or not is_live(service):
            return  # the service was torn down meanwhile: nothing to retry
        conn.execute(update(offers).where(offers.c.id == offer_id).values(
            state=OFFER_PENDING, decided_at=None,
            party_id=None if offer["code_hash"] else offer["party_id"]))
        record(conn, ctx, actor, "offer_reopened", offer["service_id"], actor.name,
               offer=offer_id, reason="provisioning_failed")
        _undo_close(conn, ctx, offer)


def _undo_close(conn: Connection, ctx: Context, accepted: Row) -> None:
    """The other offers that this acceptance withdrew because it filled a
    point-to-point service (`_close_offers`, in the acceptance's transaction, so
    decided at the same instant) are pending again, unless they expired since."""
    closed = conn.execute(select(offers.c.id, parties.c.name.label("party"))
                          .outerjoin(parties, parties.c.id == offers.c.party_id)
                          .where(offers.c.service_id == accepted["service_id"],
                                 offers.c.state == WITHDRAWN,
                                 offers.c.decided_at == accepted["decided_at"],
                                 offers.c.expires_at > ctx.clock())).all()
    if closed:
        conn.execute(update(offers).where(offers.c.id.in_([o.id for o in closed]))
                     .values(state=OFFER_PENDING, decided_at=None))
    for offer in closed:
        record(conn, ctx, "system", "offer_reopened", accepted["service_id"], offer.party,
               offer=offer.id, reason="point_to_point_not_filled")


def _issue_orders(conn: Connection, service_id: int, now: float) -> None:
    """Utility kinds: every accepted member without an open order gets one."""
    open_for = select(orders.c.id).where(orders.c.member_id == members.c.id,
                                         orders.c.state == ORDER_OPEN)
    waiting = conn.execute(select(members.c.id).where(
        members.c.service_id == service_id, members.c.state == ACCEPTED,
        ~open_for.exists())).scalars().all()
    issue_orders(conn, service_id, waiting, now)


def _provision(ctx: Context, actor: Actor, offer_id: int, rollout: Rollout | None,
               service_id: int, member_id: int) -> dict[str, Any]:
    """After the acceptance committed: wait for the switches (no lock held), then
    answer; if they did not take the new member, 503 and the offer is open again."""
    finish_new_member(ctx, actor, rollout, member_id)
    with ctx.store.read() as conn:
        service, rows = service_state(conn, service_id)
        failed = [m for m in rows if m["id"] == member_id and m["state"] == FAILED]
        if not failed:
            return {**offer_view(conn, offer_id),
                    "service": service_view(conn, ctx, service, rows)}
    _reopen(ctx, actor, offer_id, member_id)
    raise provisioning_failed(f"{failed[0]['error']}; nothing was kept and offer {offer_id} "
                              "is pending again: retry")

