"""Work orders of the utility kinds: the provider fulfils them, members follow."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from controller import validation
from controller.errors import conflict, not_found
from controller.model import ACCEPTED, ORDER_OPEN, PROVISIONED, Actor
from controller.schema import members, orders, parties
from controller.workflow import paging
from controller.workflow.context import Context, record, require_admin
from controller.workflow.rollout import refresh
from controller.workflow.views import ORDER_ROWS, order_fields, order_row, order_view


def list_orders(ctx: Context, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                after: int | None = None) -> paging.Page:
    """One page, by id, of the work orders: one query."""
    require_admin(actor)
    limit, after = paging.window(limit, after)
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, ORDER_ROWS, orders.c.id, limit, after)
        return paging.Page([order_fields(row) for row in rows], more)


def update_order(ctx: Context, actor: Actor, order_id: int, body: Any) -> dict[str, Any]:
    """Fulfilling an open order provisions its member."""
    require_admin(actor)
    state = validation.order_update(body)
    with ctx.lock, ctx.store.transaction() as conn:
        order = order_row(conn, order_id)
        if order is None:
            raise not_found("order", order_id)
        if order["state"] != ORDER_OPEN:
            raise conflict("order_not_open", f"order {order_id} is {order['state']}, not open")
        now = ctx.clock()
        conn.execute(update(orders).where(orders.c.id == order_id)
                     .values(state=state, fulfilled_at=now))
        conn.execute(update(members).where(members.c.id == order["member_id"],
                                           members.c.state == ACCEPTED)
                     .values(state=PROVISIONED))
        refresh(conn, ctx, order["service_id"])
        party = conn.execute(select(parties.c.name).join(
            members, members.c.party_id == parties.c.id).where(
            members.c.id == order["member_id"])).scalar_one()
        record(conn, ctx, actor, "order_fulfilled", order["service_id"], party, order=order_id)
        return order_view(conn, order_row(conn, order_id))
