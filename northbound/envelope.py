"""The request envelope: token, size, media type and JSON shape of a body.

What a field may hold is the core's business; this module only makes sure
the core is handed a JSON object (or nothing) and refuses everything else
with the contract's error shape, before any state is touched.
"""

from __future__ import annotations

import json
from typing import Any

from webob import Request

MAX_BODY_BYTES = 64 * 1024
_MAX_INT = 2**63 - 1


class RequestError(Exception):
    """A refusal decided by the HTTP shell itself (same fields as ServiceError)."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def check_url(req: Request) -> None:
    """Path and query must decode as UTF-8 before any route or parameter is read."""
    try:
        req.path_info  # noqa: B018 (decoding is the check)
        req.GET  # noqa: B018
    except UnicodeDecodeError:
        raise RequestError(400, "invalid_url", "the URL is not valid UTF-8") from None


def bearer_token(req: Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None (the core says 401)."""
    scheme, _, token = req.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def raw_body(req: Request) -> bytes:
    """The request's body, at most MAX_BODY_BYTES + 1 bytes of it.

    A chunked body has no Content-Length: webob then reads nothing unless told
    the server ends the input (eventlet decodes the chunks), and ignoring it
    would change the request's meaning (`{}` is an open invitation)."""
    if "chunked" in req.headers.get("Transfer-Encoding", "").lower():
        req.environ["wsgi.input_terminated"] = True
    return req.body_file.read(MAX_BODY_BYTES + 1) if req.is_body_readable else b""


def json_body(req: Request, accepts_body: bool) -> dict[str, Any]:
    """The body as a JSON object; empty means `{}`.

    An endpoint that takes no body still accepts `{}`, but any field in it
    is refused like an unknown field anywhere else.
    """
    if req.content_length is not None and req.content_length > MAX_BODY_BYTES:
        raise _too_large()
    raw = raw_body(req)
    if len(raw) > MAX_BODY_BYTES:
        raise _too_large()
    if not raw.strip():
        return {}
    media = (req.content_type or "").lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise RequestError(415, "unsupported_media_type",
                           f"the body must be application/json, not {media}")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RequestError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise RequestError(400, "invalid_body", "the body must be a JSON object")
    if not accepts_body and value:
        field = next(iter(value))
        raise RequestError(400, "invalid_field", f"{field}: unknown field "
                           "(this request takes no body)")
    return value


def known_query(req: Request, known: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not know, as for body fields."""
    for name in req.GET:
        if name not in known:
            raise RequestError(400, "invalid_field", f"{name}: unknown query parameter")


def query_int(req: Request, name: str) -> int | None:
    """An optional non-negative integer query parameter."""
    text = req.GET.get(name)
    if text is None:
        return None
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_INT:
        raise RequestError(400, "invalid_field", f"{name}: must be a non-negative integer")
    return int(text)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _too_large() -> RequestError:
    return RequestError(413, "payload_too_large",
                        f"the body is larger than {MAX_BODY_BYTES} bytes")
