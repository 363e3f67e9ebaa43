"""Webhooks (issue 10 §3): a party registers URLs for its own events, the
provider for every event; `controller.delivery` POSTs them from the outbox."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, func, insert, select, update

from controller import validation
from controller.errors import not_found
from controller.model import Actor
from controller.schema import deliveries, parties, webhooks
from controller.workflow import outbox, paging
from controller.workflow.context import Context, Row, record, require_active
from controller.workflow.views import iso

_ROWS = (select(webhooks, parties.c.name.label("party"))
         .select_from(webhooks.outerjoin(parties, parties.c.id == webhooks.c.party_id)))


def webhook_view(row: Row) -> dict[str, Any]:
    """Never the secret: the caller chose it, and nobody reads it back."""
    return {"id": row["id"], "url": row["url"], "party": row["party"],
            "created_at": iso(row["created_at"]), "active": row["active"]}


def _visible(actor: Actor) -> Any:
    """A party's own webhooks; the provider's and every party's for the provider."""
    return webhooks.c.active if actor.is_admin else (
        webhooks.c.active & (webhooks.c.party_id == actor.party_id))


def create_webhook(ctx: Context, actor: Actor, body: Any) -> dict[str, Any]:
    url, secret = validation.new_webhook(body)
    with ctx.lock, ctx.store.transaction() as conn:
        require_active(conn, actor)
        webhook_id = conn.execute(insert(webhooks).values(
            party_id=actor.party_id, url=url, secret=secret, created_at=ctx.clock(),
            active=True)).inserted_primary_key[0]
        outbox.forget(conn)
        view = webhook_view(conn.execute(_ROWS.where(webhooks.c.id == webhook_id))
                            .mappings().one())
        _record(conn, ctx, actor, "webhook_created", view)
        return view


def _record(conn: Connection, ctx: Context, actor: Actor, action: str,
            view: dict[str, Any]) -> None:
    """In the audit log: who, whose webhook, and the host it posts to (a URL may
    carry credentials; the host does not)."""
    record(conn, ctx, actor, action, party=view["party"], webhook=view["id"],
           host=urlsplit(view["url"]).hostname)


def list_webhooks(ctx: Context, actor: Actor, limit: int = paging.DEFAULT_LIMIT,
                  after: int | None = None) -> paging.Page:
    """One page, by id, of the active webhooks the actor may see."""
    limit, after = paging.window(limit, after)
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, _ROWS.where(_visible(actor)), webhooks.c.id, limit,
                                 after)
        return paging.Page([webhook_view(row) for row in rows], more)


def backlog(ctx: Context) -> int:
    """Deliveries neither made nor given up: a count of the pending index's rows."""
    with ctx.store.read() as conn:
        return conn.execute(select(func.count()).select_from(deliveries).where(
            deliveries.c.next_attempt_at.is_not(None))).scalar_one()


def delete_webhook(ctx: Context, actor: Actor, webhook_id: int) -> dict[str, Any]:
    """Inactive from this commit on: no new event is queued for it, and what was
    queued is not sent (a delivery under way may still arrive)."""
    with ctx.lock, ctx.store.transaction() as conn:
        require_active(conn, actor)
        found = _ROWS.where(webhooks.c.id == webhook_id)
        if conn.execute(found.where(_visible(actor))).first() is None:
            raise not_found("webhook", webhook_id)
        conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(active=False))
        outbox.forget(conn)
        conn.execute(update(deliveries).where(
            deliveries.c.webhook_id == webhook_id, deliveries.c.next_attempt_at.is_not(None))
            .values(next_attempt_at=None, last_error="webhook deleted"))
        view = webhook_view(conn.execute(found).mappings().one())
        _record(conn, ctx, actor, "webhook_deleted", view)
        return view
