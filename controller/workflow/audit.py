"""Reading the audit log: the provider sees everything, a party its own story
(`visibility.visible_to`)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from controller import validation
from controller.errors import invalid
from controller.model import Actor
from controller.schema import events
from controller.workflow import paging
from controller.workflow.context import Context
from controller.workflow.views import event_view
from controller.workflow.visibility import visible_to

ACTION = re.compile(r"[a-z][a-z_]{0,31}")


def list_events(ctx: Context, actor: Actor, since: int | None = None,
                limit: int = paging.DEFAULT_LIMIT, after: int | None = None,
                party: str | None = None, service: int | None = None,
                action: str | None = None) -> paging.Page:
    """Newest first: one page of the events with an id above `since` and, to
    continue a list, below `after` (the next page starts below the last id);
    only those naming `party`, of `service`, or of `action`, when given."""
    limit, after = paging.window(limit, after)
    query = select(events)
    if since is not None:
        query = query.where(events.c.id > validation.integer(since, "since", 0, paging.MAX_ID))
    if party is not None:
        query = query.where(events.c.party == validation.name(party, "party"))
    if service is not None:
        query = query.where(events.c.service_id == validation.integer(
            service, "service", 0, paging.MAX_ID))
    if action is not None:
        if not isinstance(action, str) or not ACTION.fullmatch(action):
            raise invalid("action", f"must be an event action like offer_accepted, got {action!r}")
        query = query.where(events.c.action == action)
    if not actor.is_admin:
        query = query.where(visible_to(actor))
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, query, events.c.id, limit, after, newest_first=True)
        return paging.Page([event_view(row) for row in rows], more)


def events_after(ctx: Context, actor: Actor, after: int, limit: int) -> list[dict[str, Any]]:
    """Oldest first: up to `limit` events the actor may see with an id above
    `after` (what a stream sends next)."""
    query = select(events).where(events.c.id > after)
    if not actor.is_admin:
        query = query.where(visible_to(actor))
    with ctx.store.read() as conn:
        rows = conn.execute(query.order_by(events.c.id).limit(limit)).mappings().all()
        return [event_view(row) for row in rows]


def latest_event_id(ctx: Context) -> int:
    """The newest event's id (0 for an empty log): where a new stream starts."""
    with ctx.store.read() as conn:
        return conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one()
