"""The webhooks' outbox, written in the transaction of each event: one delivery
per active webhook that may see the event at that moment (the provider's see
every event, a party's what `GET /events` would show it). Committed with the
event or not at all, so no event is lost to a restart, and none is announced
that did not happen."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from controller.model import Actor
from controller.schema import deliveries, events, parties, webhooks
from controller.store import recall, remember
from controller.workflow.visibility import visible_to

_ACTIVE = (select(webhooks.c.id, webhooks.c.party_id, parties.c.name)
           .select_from(webhooks.outerjoin(parties, parties.c.id == webhooks.c.party_id))
           .where(webhooks.c.active))
_ADD = insert(deliveries)
_HOOKS = "metroshare.active_webhooks"  # the transaction's read of them (`store.recall`)


def fan_out(conn: Connection, event_id: int, at: float) -> None:
    """Queue the event for each webhook entitled to it, due at once (`at`). The
    active webhooks are read once per transaction, however many events it records."""
    hooks = recall(conn, _HOOKS)
    if hooks is None:
        hooks = conn.execute(_ACTIVE).all()
        remember(conn, _HOOKS, hooks)
    if not hooks:
        return
    sees: dict[int, bool] = {}
    for hook in hooks:
        if hook.party_id is not None and hook.party_id not in sees:
            party = Actor(is_admin=False, party_id=hook.party_id, name=hook.name)
            sees[hook.party_id] = conn.execute(select(events.c.id).where(
                events.c.id == event_id, visible_to(party))).first() is not None
    rows = [{"webhook_id": hook.id, "event_id": event_id, "next_attempt_at": at}
            for hook in hooks if hook.party_id is None or sees[hook.party_id]]
    if rows:
        conn.execute(_ADD, rows)


def forget(conn: Connection) -> None:
    """The transaction changed the webhooks: the next event reads them again."""
    remember(conn, _HOOKS, None)
