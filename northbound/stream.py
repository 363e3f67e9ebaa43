"""`GET /api/v1/events/stream`: the audit log as Server-Sent Events.

The caller receives the events it may see (the rule of `GET /api/v1/events`)
as they are recorded: `id:` is the event's id, `event:` its action, `data:`
the event as JSON. A client that reconnects with `Last-Event-ID` gets what it
missed first; without it, the stream starts after the newest event. The
stream reads the database (it runs in an API worker like any read), every
`POLL_S` while nothing is new, and re-checks the caller's token every
`REAUTH_S`: a token rotated or a party deleted meanwhile ends the stream.
A comment line every `HEARTBEAT_S` keeps proxies from closing a quiet one.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from webob import Response

from controller.errors import ServiceError
from controller.model import MAX_ID
from northbound.envelope import RequestError, bearer_token

POLL_S = 0.25
HEARTBEAT_S = 15.0
REAUTH_S = 5.0
BATCH = 100
RETRY_MS = 2000  # what an EventSource waits before it reconnects


def resume_point(header: str | None) -> int | None:
    """The id in a `Last-Event-ID` header, or None when there is none."""
    if header is None or header.strip() == "":
        return None
    value = header.strip()
    if not value.isascii() or not value.isdigit() or int(value) > MAX_ID:
        raise RequestError(400, "invalid_field",
                           f"Last-Event-ID: must be an event id (a whole number), got {value!r}")
    return int(value)


def frame(event: dict[str, Any]) -> bytes:
    """One Server-Sent Event; JSON has no raw newline, so `data:` is one line."""
    return (f"id: {event['id']}\nevent: {event['action']}\n"
            f"data: {json.dumps(event, separators=(',', ':'))}\n\n").encode()


def event_stream(c: Any) -> Response:
    """The handler of the route: a streaming response that never ends on its own."""
    last = resume_point(c.req.headers.get("Last-Event-ID"))
    if last is None:
        last = c.core.latest_event_id()
    token = bearer_token(c.req)
    # eventlet's server holds writes back until 4 KiB gathered: each event goes at once.
    c.req.environ["eventlet.minimum_write_chunk_size"] = 0
    response = Response(status=200, app_iter=_frames(c.core, c.actor, token, last))
    response.headers.update({"Content-Type": "text/event-stream; charset=utf-8",
                             "Cache-Control": "no-store", "X-Accel-Buffering": "no",
                             "X-Content-Type-Options": "nosniff"})
    return response


def _frames(core: Any, actor: Any, token: str | None, last: int) -> Iterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    quiet = checked = time.monotonic()
    while True:
        batch = core.events_after(actor, last, BATCH)
        for event in batch:
            yield frame(event)
            last = event["id"]
        now = time.monotonic()
        if batch:
            quiet = now
            continue
        if now - checked >= REAUTH_S:
            try:
                core.authenticate(token)
            except ServiceError:
                return  # the token no longer works: the stream ends
            checked = now
        if now - quiet >= HEARTBEAT_S:
            yield b": keep-alive\n\n"
            quiet = now
        time.sleep(POLL_S)
