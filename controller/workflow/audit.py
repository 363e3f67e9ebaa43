"""Reading the audit log: the provider sees everything, a party its own story."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from controller.model import Actor
from controller.schema import events, members, services
from controller.workflow.context import Context
from controller.workflow.views import event_view


def list_events(ctx: Context, actor: Actor, since: int | None = None) -> list[dict[str, Any]]:
    """Newest first; `since` keeps only events after that id."""
    query = select(events).order_by(events.c.id.desc())
    if since is not None:
        query = query.where(events.c.id > since)
    if not actor.is_admin:
        owned = select(services.c.id).where(services.c.owner_id == actor.party_id)
        joined = select(members.c.service_id).where(members.c.party_id == actor.party_id)
        query = query.where(or_(events.c.service_id.in_(owned), events.c.service_id.in_(joined),
                                events.c.party == actor.name))
    with ctx.store.read() as conn:
        return [event_view(row) for row in conn.execute(query).mappings().all()]
