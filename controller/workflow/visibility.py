"""Which events of the audit log a party may see: one rule for `GET /events` and
for the events its webhooks receive. Apart from the workflow's context, so that
recording an event can apply it (the outbox) without an import cycle."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select

from controller.model import MAX_ID, Actor
from controller.schema import events, members, services

# The events that start and end a party's membership of a service: it accepted
# an offer (or redeemed an invitation); it left, was removed, or the service was
# torn down. A former member's view of the service stops at the end.
JOINED = "offer_accepted"
DEPARTURES = ("member_left", "member_removed")
TEARDOWN = "service_deleted"


def visible_to(actor: Actor) -> Any:
    """The condition on `events` of what a party may see (CONTRACT §3):

    - every event of a service it owns;
    - of a service it joined (it has a member row), every event up to and
      including the one that ended its last membership — the first
      `member_left` / `member_removed` naming it, or `service_deleted`, after its
      last `offer_accepted` — and nothing later; while that membership lasts
      (whatever the member's state), every event, history before it joined
      included;
    - every event that names it (`party`), such as an offer addressed to it.

    Read from the log itself, so it holds whatever states members pass through
    while the switches confirm a removal.
    """
    owned = select(services.c.id).where(services.c.owner_id == actor.party_id)
    joined_any = select(members.c.service_id).where(members.c.party_id == actor.party_id)
    joined, ended = events.alias("joined"), events.alias("ended")
    last_join = select(func.coalesce(func.max(joined.c.id), 0)).where(
        joined.c.service_id == events.c.service_id, joined.c.action == JOINED,
        joined.c.party == actor.name).scalar_subquery()
    departure = select(func.min(ended.c.id)).where(
        ended.c.service_id == events.c.service_id, ended.c.id > last_join,
        or_(and_(ended.c.action.in_(DEPARTURES), ended.c.party == actor.name),
            ended.c.action == TEARDOWN)).scalar_subquery()
    return or_(events.c.service_id.in_(owned), events.c.party == actor.name,
               and_(events.c.service_id.in_(joined_any),
                    events.c.id <= func.coalesce(departure, MAX_ID)))
