"""Delivers the webhooks' outbox (issue 10 §3): each event POSTed as JSON, the
same object as in `GET /api/v1/events`, signed with the webhook's secret.

At least once, in event order per webhook: only a webhook's oldest pending
delivery is tried, and the next waits until it is delivered or given up. A
failure (no connection, a timeout, an answer other than 2xx) is retried after
`retry_delay`: doubling from the base, at most 300 × base apart, until the
waits add up to 3600 × base (an hour by default) — then it is given up and
the webhook's next event goes. Event ids follow commit order (every workflow
step holds the write lock: SQLite's, or the `write_gate` row on PostgreSQL),
so a later event is never visible before an earlier one.

`python -m controller.delivery` is a process of its own, started by the
leading controller (`apps/webhooks.py`): plain threads, blocking sockets and
its own database connection, so a slow receiver never holds up the hub that
answers the switches. It reads the outbox from the database, so deliveries
queued before a restart go out after it. With several controllers it is
given the leader's generation and sends nothing once another leads.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import json
import logging
import os
import queue
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, event, func, select, update

from controller.schema import deliveries, events, leadership, webhooks
from controller.store import DB_CONNECTIONS, Store, open_store
from controller.workflow.views import event_view

LOG = logging.getLogger("metroshare.webhooks")
EVENT_HEADER = "X-Metroshare-Event"
SIGNATURE_HEADER = "X-Metroshare-Signature"
TIMEOUT_S = 5.0          # to connect, and for each read of the answer
POLL_S = 0.2             # how often the outbox is read while nothing is due
RETRY_BASE_S = 1.0
RETRY_CAP = 300          # × base: the longest wait between two attempts
RETRY_FOR = 3600         # × base: how long a delivery is retried before it is given up
SENDERS = 8              # webhooks served at once (one attempt per webhook at a time)
MAX_ERROR = 500          # characters of `last_error`


def sign(secret: str, body: bytes) -> str:
    """`X-Metroshare-Signature`: sha256=<hex HMAC-SHA256 of the raw body, keyed with the secret>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int, base: float = RETRY_BASE_S) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, or None to give up:
    base × 1, 2, 4 … 256, then 300 each, until the waits before this attempt add
    up to RETRY_FOR × base (so the last attempt comes at least that long after
    the first)."""
    waits = [min(2**k, RETRY_CAP) for k in range(attempts)]
    if sum(waits[:-1]) >= RETRY_FOR:
        return None
    return waits[-1] * base


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = TIMEOUT_S
         ) -> str | None:
    """POST `body` to `url`; None if the receiver answered 2xx, else what went wrong."""
    parts = urlsplit(url)
    # The port always given: http.client would read one off the end of an IPv6 host.
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout,
            context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body,
                     headers={"Content-Type": "application/json", **headers})
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException, ValueError) as exc:  # ValueError: a bad name
        return f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
    finally:
        conn.close()
    return None if 200 <= status < 300 else f"HTTP {status}"


# Each active webhook's oldest pending delivery, if it is due.
_pending = deliveries.alias("pending")
_HEAD = (select(func.min(_pending.c.event_id))
         .where(_pending.c.webhook_id == deliveries.c.webhook_id,
                _pending.c.next_attempt_at.is_not(None)).scalar_subquery())
_DUE = (select(deliveries.c.webhook_id, deliveries.c.attempts, webhooks.c.url,
               webhooks.c.secret, *events.c)
        .join(webhooks, webhooks.c.id == deliveries.c.webhook_id)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(webhooks.c.active, deliveries.c.next_attempt_at.is_not(None),
               deliveries.c.next_attempt_at <= bindparam("now"),
               deliveries.c.event_id == _HEAD)
        .order_by(deliveries.c.next_attempt_at).limit(bindparam("limit")))
_SETTLE = (update(deliveries)
           .where(deliveries.c.webhook_id == bindparam("w"),
                  deliveries.c.event_id == bindparam("e"),
                  deliveries.c.next_attempt_at.is_not(None))  # not if deleted meanwhile
           .values(attempts=deliveries.c.attempts + 1, next_attempt_at=bindparam("next"),
                   delivered_at=bindparam("done"), last_error=bindparam("error")))


_GENERATION = select(leadership.c.generation).where(leadership.c.id == 1)


def due(store: Store, now: float, generation: int | None = None, limit: int = 100
        ) -> list[dict[str, Any]]:
    """The deliveries to try now: at most one per webhook, its oldest pending one;
    none once a leader other than `generation` took over (None: a lone controller)."""
    with store.read() as conn:
        if generation is not None and conn.execute(_GENERATION).scalar_one() != generation:
            return []
        return [dict(row) for row in conn.execute(_DUE, {"now": now, "limit": limit})
                .mappings()]


def attempt(row: dict[str, Any]) -> str | None:
    body = body_of(event_view(row))
    return post(row["url"], body, {EVENT_HEADER: row["action"],
                                   SIGNATURE_HEADER: sign(row["secret"], body)})


def settle(store: Store, tried: Sequence[tuple[dict[str, Any], str | None]], now: float,
           base: float) -> None:
    """Record the outcomes of one round in one short write transaction."""
    rows = []
    for row, error in tried:
        if error is None:
            rows.append({"w": row["webhook_id"], "e": row["id"], "next": None, "done": now,
                         "error": None})
            continue
        delay = retry_delay(row["attempts"] + 1, base)
        if delay is None:
            LOG.warning("webhook %d: gave up event %d after %d attempts: %s",
                        row["webhook_id"], row["id"], row["attempts"] + 1, error)
        rows.append({"w": row["webhook_id"], "e": row["id"], "done": None, "error": error,
                     "next": None if delay is None else now + delay})
    with store.engine.begin() as conn:
        conn.execute(_SETTLE, rows)


class Sender:
    """Keeps every due webhook's oldest delivery going, up to SENDERS at once, and
    records each outcome as soon as it is known: a slow or silent receiver holds
    its own webhook's next event, never another webhook's."""

    def __init__(self, store: Store, pool: ThreadPoolExecutor, base: float,
                 clock: Callable[[], float] = time.time, generation: int | None = None) -> None:
        self.store, self.pool, self.base = store, pool, base
        self.clock, self.generation = clock, generation
        self.in_flight: set[int] = set()  # webhooks with an attempt not yet recorded
        self._done: queue.Queue[tuple[dict[str, Any], str | None]] = queue.Queue()

    def start_due(self) -> int:
        """Start an attempt for each due delivery whose webhook has none going; how many."""
        rows = [row for row in due(self.store, self.clock(), self.generation)
                if row["webhook_id"] not in self.in_flight]
        for row in rows:
            self.in_flight.add(row["webhook_id"])
            self.pool.submit(self._attempt, row)
        return len(rows)

    def _attempt(self, row: dict[str, Any]) -> None:
        try:
            error = attempt(row)
        except Exception as exc:  # noqa: BLE001 - recorded as the attempt's error
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        self._done.put((row, error))

    def settle_done(self, wait: float = 0.0) -> int:
        """Record, in one transaction, every attempt finished by now (waiting up to
        `wait` seconds for the first); how many. One whose outcome could not be
        recorded is tried again later (at least once)."""
        tried = []
        try:
            tried.append(self._done.get(timeout=wait) if wait > 0 else self._done.get_nowait())
            while True:
                tried.append(self._done.get_nowait())
        except queue.Empty:
            pass
        if tried:
            try:
                settle(self.store, tried, self.clock(), self.base)
            finally:
                self.in_flight -= {row["webhook_id"] for row, _ in tried}
        return len(tried)


def deliver_due(store: Store, pool: ThreadPoolExecutor, base: float,
                clock: Callable[[], float] = time.time, generation: int | None = None) -> int:
    """One round, all at once: try every due delivery and record every outcome; how
    many were tried. (`run` does not wait for a round; this is for a stepped clock.)"""
    sender = Sender(store, pool, base, clock, generation)
    started = sender.start_due()
    while sender.in_flight:
        sender.settle_done(wait=POLL_S)
    return started


def run(store: Store, base: float, stop: threading.Event, generation: int | None = None,
        clock: Callable[[], float] = time.time) -> None:
    """Until `stop`: start what is due, record what finished; while nothing new is
    due, wait up to POLL_S for an attempt to finish. The attempts going when it
    stops are waited for and recorded."""
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook") as pool:
        sender = Sender(store, pool, base, clock, generation)
        while not stop.is_set():
            try:
                if sender.start_due():
                    sender.settle_done()
                elif sender.in_flight:
                    sender.settle_done(wait=POLL_S)
                else:
                    stop.wait(POLL_S)
            except Exception:  # a database hiccup must not end deliveries
                LOG.exception("webhook round failed")
                stop.wait(POLL_S)
    sender.settle_done()  # the attempts that were going: all finished by now


def main(argv: list[str] | None = None) -> None:
    """`python -m controller.delivery`: started by the leading controller, never by hand."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--db-connections", type=int, default=DB_CONNECTIONS)
    parser.add_argument("--retry-base", type=float, default=RETRY_BASE_S)
    parser.add_argument("--generation", type=int, help="the leader's, with several controllers")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"webhooks {os.getpid()}: %(message)s")
    run(open_outbox(args.db, args.db_connections), args.retry_base, threading.Event(),
        args.generation)


def open_outbox(db: str, connections: int = DB_CONNECTIONS) -> Store:
    """The store, with SQLite's commits not waiting for the disk: this process shares
    the write lock with the controller, which must not wait for its fsyncs. A mark
    lost to a power cut only sends an event again (at least once)."""
    store = open_store(db, connections=connections)
    if store.engine.dialect.name == "sqlite":
        event.listen(store.engine, "connect", _no_fsync)
        store.engine.dispose()  # the connection that migrated was made before the listener
    return store


def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


if __name__ == "__main__":
    main()
