"""Reading the audit log: the provider sees everything, a party its own story."""

from __future__ import annotations

from sqlalchemy import or_, select

from controller import validation
from controller.model import Actor
from controller.schema import events, members, services
from controller.workflow import paging
from controller.workflow.context import Context
from controller.workflow.views import event_view


def list_events(ctx: Context, actor: Actor, since: int | None = None,
                limit: int = paging.DEFAULT_LIMIT, after: int | None = None) -> paging.Page:
    """Newest first: one page of the events with an id above `since` and, to
    continue a list, below `after` (the next page starts below the last id)."""
    limit, after = paging.window(limit, after)
    query = select(events)
    if since is not None:
        query = query.where(events.c.id > validation.integer(since, "since", 0, paging.MAX_ID))
    if not actor.is_admin:
        owned = select(services.c.id).where(services.c.owner_id == actor.party_id)
        joined = select(members.c.service_id).where(members.c.party_id == actor.party_id)
        query = query.where(or_(events.c.service_id.in_(owned), events.c.service_id.in_(joined),
                                events.c.party == actor.name))
    with ctx.store.read() as conn:
        rows, more = paging.read(conn, query, events.c.id, limit, after, newest_first=True)
        return paging.Page([event_view(row) for row in rows], more)
