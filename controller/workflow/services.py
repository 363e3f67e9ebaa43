"""Services: creation by their owner, membership changes, teardown."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, union, update

from controller import accounts, capacity, validation
from controller.errors import conflict, forbidden, not_found, not_owner
from controller.model import (
    ACCEPTED,
    DELETED,
    HOLDING_MEMBER_STATES,
    LEAVING,
    LIVE_MEMBER_STATES,
    OFFER_PENDING,
    ORDER_CANCELLED,
    ORDER_OPEN,
    PENDING,
    POINT_TO_POINT,
    REMOVED,
    SECURE_BANDWIDTH,
    SUSPENDED,
    WITHDRAWN,
    Actor,
    role_for,
)
from controller.schema import members, offers, orders, parties, services
from controller.workflow import paging
from controller.workflow.context import (
    Context,
    Row,
    check_active,
    is_live,
    own_interface,
    party_row,
    record,
    require_active,
    require_party,
    visible_service,
)
from controller.workflow.rollout import (
    announce,
    edge_ports,
    finish_change,
    finish_withdrawal,
    refresh,
    start,
    state_of,
)
from controller.workflow.views import (
    member_rows,
    preview_view,
    service_state,
    service_view,
    service_views,
)


def check_interface_free(conn: Connection, interface: Row, ce_vlan: int) -> None:
    """Each (interface, customer VLAN) holds one service; 0 is the untagged one."""
    holder = conn.execute(select(members.c.service_id, members.c.state).where(
        members.c.interface_id == interface["id"], members.c.ce_vlan == ce_vlan,
        members.c.state.in_(HOLDING_MEMBER_STATES))).first()
    if holder is None:
        return
    what = f"interface '{interface['name']}'" + (
        f" with customer VLAN {ce_vlan}" if ce_vlan else " untagged")
    if holder.state == LEAVING:
        raise conflict("interface_busy", f"{what} is still held by service "
                                         f"{holder.service_id}: a switch has yet to "
                                         f"confirm that its rules are gone")
    raise conflict("interface_busy", f"{what} is already used by service {holder.service_id}")


def live_member_count(conn: Connection, service_id: int) -> int:
    return len(conn.execute(select(members.c.id).where(
        members.c.service_id == service_id,
        members.c.state.in_((*LIVE_MEMBER_STATES, SUSPENDED)))).all())


def check_room(conn: Connection, service: Row) -> None:
    """A point-to-point service takes two members at most."""
    if service["attributes"].get("type") == POINT_TO_POINT \
            and live_member_count(conn, service["id"]) >= 2:
        raise conflict("point_to_point_full",
                       f"point-to-point service {service['id']} already has two members")


def check_live(service: Row) -> None:
    if not is_live(service):
        raise conflict("service_not_live", f"service {service['id']} is {service['state']}")


def create_service(ctx: Context, actor: Actor, body: Any) -> dict[str, Any]:
    """The creator becomes owner and first member (accepted; root if point-to-multipoint)."""
    party_id = require_party(actor)
    wanted = validation.new_service(body)
    with ctx.lock, ctx.store.transaction() as conn:
        owner = accounts.of(conn, {party_id})[party_id]
        check_active(owner)
        interface = own_interface(conn, party_id, wanted["interface"])
        accounts.verify(owner, wanted["kind"], wanted["attributes"], joining=True)
        check_interface_free(conn, interface, wanted["ce_vlan"])
        check_name_free(conn, party_id, wanted["name"])
        now = ctx.clock()
        service_id = conn.execute(insert(services).values(
            name=wanted["name"], kind=wanted["kind"], attributes=wanted["attributes"],
            owner_id=party_id, state=PENDING, vlan=None, provisioning={},
            created_at=now)).inserted_primary_key[0]
        conn.execute(insert(members).values(
            service_id=service_id, party_id=party_id, interface_id=interface["id"],
            role=role_for(wanted["attributes"].get("type"), is_owner=True), state=ACCEPTED,
            ce_vlan=wanted["ce_vlan"], created_at=now))
        record(conn, ctx, actor, "service_created", service_id, actor.name,
               kind=wanted["kind"], attributes=wanted["attributes"], interface=interface["name"],
               ce_vlan=wanted["ce_vlan"] or None)
        return service_view(conn, ctx, *service_state(conn, service_id))


def list_services(ctx: Context, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                  after: int | None = None) -> paging.Page:
    """One page, by id, of the services the actor may see: three queries."""
    limit, after = paging.window(limit, after)
    query = select(services)
    if not actor.is_admin:
        # Owned, or joined and not removed. The page lies within the first ids of
        # each set: two ordered index ranges, however many services either holds.
        query = query.where(services.c.id.in_(union(
            paging.leading(services.c.id, limit, after, services.c.owner_id == actor.party_id),
            paging.leading(members.c.service_id, limit, after,
                           members.c.party_id == actor.party_id, members.c.state != REMOVED))))
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, query, services.c.id, limit, after)
        return paging.Page(service_views(conn, ctx, rows), more)


# A pending offer of the service to the party, not yet past its expiry.
_OFFERED = select(offers.c.id).where(
    offers.c.service_id == bindparam("service_id"), offers.c.party_id == bindparam("party_id"),
    offers.c.state == OFFER_PENDING, offers.c.expires_at > bindparam("now")).limit(1)


def get_service(ctx: Context, actor: Actor, service_id: int) -> dict[str, Any]:
    """Participants see the service; the addressee of a pending offer of it, a
    preview so that it can judge the offer. Only this read: every write still
    goes through `visible_service`, which refuses the addressee (404)."""
    with ctx.store.read() as conn:
        service, rows = service_state(conn, service_id)
        # A participant: the owner, or a member not removed (every one of `rows`).
        if actor.is_admin or actor.party_id in (service["owner_id"],
                                                *(m["party_id"] for m in rows)):
            return service_view(conn, ctx, service, rows)
        if conn.execute(_OFFERED, {"service_id": service_id, "party_id": actor.party_id,
                                   "now": ctx.clock()}).first() is not None:
            return preview_view(conn, ctx, service, rows)
        raise not_found("service", service_id)


def update_service(ctx: Context, actor: Actor, service_id: int, body: Any) -> dict[str, Any]:
    """The owner renames a live service or changes its bandwidth without an outage.

    A new bandwidth is verified against every member's account and, for secure
    bandwidth, admitted on the links, in the same transaction: a refusal changes
    nothing. The switches then modify the members' meters in place (same ids:
    no flow is removed, the VLAN stays); if they refuse, the previous bandwidth
    is put back and the answer is 503 provisioning_failed."""
    party_id = require_party(actor)
    with ctx.lock:
        with ctx.store.transaction() as conn:
            require_active(conn, actor)
            service = visible_service(conn, actor, service_id)
            if service["owner_id"] != party_id:
                raise not_owner(service["id"])
            wanted = validation.service_patch(service["kind"], body)
            check_live(service)
            changes = _renamed(conn, service, wanted.get("name"))
            bandwidth = wanted.get("bandwidth_mbps", service["attributes"].get("bandwidth_mbps"))
            resized = bandwidth != service["attributes"].get("bandwidth_mbps")
            if resized:
                changes["attributes"] = {**service["attributes"], "bandwidth_mbps": bandwidth}
                _admit_bandwidth(conn, ctx, service, changes["attributes"])
            if not changes:
                return service_view(conn, ctx, service)
            conn.execute(update(services).where(services.c.id == service_id).values(**changes))
            record(conn, ctx, actor, "service_changed", service_id, **{
                key: {"from": service[key], "to": value} for key, value in changes.items()})
            announced = announce(conn, ctx, service) if resized and service["vlan"] else None
            read = state_of(conn, {**service, **changes})
        rollout = start(ctx, service_id, read=read, announced=announced) if resized else None
    # No lock held while the switches answer.
    finish_change(ctx, actor, rollout, service)
    with ctx.store.read() as conn:
        return service_view(conn, ctx, *service_state(conn, service_id))


def check_name_free(conn: Connection, owner_id: int, name: str) -> None:
    """An owner's live services have different names (also a unique index)."""
    if conn.execute(select(services.c.id).where(
            services.c.owner_id == owner_id, services.c.name == name,
            services.c.state != DELETED)).first():
        raise conflict("name_taken", f"you already have a live service named '{name}'")


def _renamed(conn: Connection, service: Row, name: str | None) -> dict[str, Any]:
    """{"name": name} if it changes and is free among the owner's live services."""
    if name is None or name == service["name"]:
        return {}
    check_name_free(conn, service["owner_id"], name)
    return {"name": name}


def _admit_bandwidth(conn: Connection, ctx: Context, service: Row,
                     attributes: dict[str, Any]) -> None:
    """Every member's account allows `attributes`' bandwidth and, for secure
    bandwidth, the links carry it (the reservations follow), or 409."""
    rows = [m for m in member_rows(conn, service["id"])
            if m["state"] in (*LIVE_MEMBER_STATES, LEAVING, SUSPENDED)]
    for party_id in sorted({m["party_id"] for m in rows if m["state"] != LEAVING}):
        accounts.verify_bandwidth(party_row(conn, party_id), attributes)
    if service["kind"] == SECURE_BANDWIDTH:
        wanted = capacity.hose(ctx.topology, edge_ports(rows), attributes["bandwidth_mbps"])
        capacity.admit(conn, ctx.topology, service["id"], wanted)
        capacity.reserve(conn, service["id"], wanted)


def remove_member(ctx: Context, actor: Actor, service_id: int, party_name: str) -> dict[str, Any]:
    """The owner (or the provider) removes a member, or a member leaves."""
    with ctx.lock:
        with ctx.store.transaction() as conn:
            require_active(conn, actor)
            service = visible_service(conn, actor, service_id)
            target = conn.execute(select(parties.c.id).where(
                parties.c.name == party_name)).scalar()
            rows = conn.execute(select(members).where(
                members.c.service_id == service_id, members.c.party_id == target,
                members.c.state != REMOVED)).mappings().all()
            if not rows:
                raise not_found("member", f"'{party_name}' in service {service_id}")
            if not (actor.is_admin or actor.party_id in (service["owner_id"], target)):
                raise not_owner(service["id"])
            if target == service["owner_id"]:
                raise forbidden(f"the owner cannot leave service {service_id}; tear it down")
            check_live(service)
            ids = [m["id"] for m in rows]
            _leave(conn, rows)
            _cancel_orders(conn, ids)
            refresh(conn, ctx, service_id)
            action = "member_left" if actor.party_id == target else "member_removed"
            record(conn, ctx, actor, action, service_id, party_name)
            was_live = any(m["state"] in LIVE_MEMBER_STATES for m in rows)
            # A service without a VLAN has no rules to withdraw: nothing to ask for.
            announced = (announce(conn, ctx, service)
                         if was_live and service["vlan"] is not None else None)
        withdrawal = (start(ctx, service_id, service["vlan"], announced=announced)
                      if was_live else None)
    # No lock held while the switches answer.
    finish_withdrawal(ctx, actor, withdrawal, service_id)
    with ctx.store.read() as conn:
        return service_view(conn, ctx, *service_state(conn, service_id))


def _leave(conn: Connection, rows: list[Row]) -> None:
    """Members on their way out: live ones leave (holding what they have until the
    switches confirm their rules are gone), the others are removed at once."""
    live = [m["id"] for m in rows if m["state"] in LIVE_MEMBER_STATES]
    conn.execute(update(members).where(members.c.id.in_(live)).values(state=LEAVING))
    rest = [m["id"] for m in rows if m["state"] not in LIVE_MEMBER_STATES]
    conn.execute(update(members).where(members.c.id.in_(rest)).values(state=REMOVED))


def _cancel_orders(conn: Connection, member_ids: list[int]) -> None:
    conn.execute(update(orders).where(orders.c.member_id.in_(member_ids),
                                      orders.c.state == ORDER_OPEN)
                 .values(state=ORDER_CANCELLED))


def teardown_service(ctx: Context, actor: Actor, service_id: int) -> dict[str, Any]:
    """Delete the service: members out, pending offers withdrawn, VLAN and links freed."""
    with ctx.lock:
        with ctx.store.transaction() as conn:
            require_active(conn, actor)
            service = visible_service(conn, actor, service_id)
            if not (actor.is_admin or actor.party_id == service["owner_id"]):
                raise not_owner(service["id"])
            check_live(service)
            rows = conn.execute(select(members.c.id, members.c.state).where(
                members.c.service_id == service_id, members.c.state != REMOVED)).mappings().all()
            _leave(conn, rows)
            _cancel_orders(conn, [m["id"] for m in rows])
            conn.execute(update(offers).where(offers.c.service_id == service_id,
                                              offers.c.state == OFFER_PENDING)
                         .values(state=WITHDRAWN, decided_at=ctx.clock()))
            # The VLAN and the link reservations stay until the switches confirm.
            conn.execute(update(services).where(services.c.id == service_id)
                         .values(state=DELETED))
            record(conn, ctx, actor, "service_deleted", service_id, vlan=service["vlan"])
            announced = announce(conn, ctx, service) if service["vlan"] is not None else None
        withdrawal = start(ctx, service_id, service["vlan"], announced=announced)
    # No lock held while the switches answer.
    finish_withdrawal(ctx, actor, withdrawal, service_id)
    with ctx.store.read() as conn:
        return service_view(conn, ctx, *service_state(conn, service_id))

