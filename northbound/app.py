"""The northbound WSGI application: routing, auth, rendering, the web UI files.

Errors are rendered here and only here: the core's `ServiceError` and the
shell's own `RequestError` carry the same (status, code, message), and any
other exception is logged and answered with a 500 in the same shape — a
bug, never an expected outcome.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from webob import Request, Response

from controller import metrics
from controller.errors import ServiceError
from northbound import render
from northbound.envelope import (
    RequestError,
    bearer_token,
    check_url,
    json_body,
    known_query,
)
from northbound.routes import Call, match, next_link

LOG = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
OPENAPI = HERE / "openapi.json"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


class NorthboundApp:
    """WSGI callable serving the API of CONTRACT §3, /healthz, /metrics and the UI."""

    def __init__(self, core: Any, switches_connected: Callable[[], int] = lambda: 0,
                 role: Callable[[], dict[str, str]] = lambda: {"role": "leader",
                                                                "instance": ""}) -> None:
        self.core = core
        self.switches_connected = switches_connected
        self.role = role  # this controller's role among several, and its name
        self.state_gauges = metrics.StateGauges(core.stats, switches_connected)
        self.webhook_backlog = metrics.WebhookBacklog(core.webhook_backlog)
        self.openapi = json.loads(OPENAPI.read_text())
        self.static = {p.name: p.read_bytes() for p in STATIC.iterdir() if p.suffix in _TYPES}

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        return self.handle(Request(environ))(environ, start_response)

    def handle(self, req: Request) -> Response:
        media = render.negotiate(req.accept)
        try:
            check_url(req)
            if req.method == "GET" and (req.path_info == "/" or req.path_info.startswith("/ui/")):
                return self._static(req.path_info)
            route, params = match(req.method, req.path_info)
            actor = self.core.authenticate(bearer_token(req)) if route.auth else None
            known_query(req, route.query)
            body = json_body(req, route.body) if req.method != "GET" else {}
            result = route.handler(Call(self.core, actor, params, body, req, route, self))
        except (ServiceError, RequestError) as err:
            return self.error(err.status, err.code, err.message, media,
                              getattr(err, "headers", None))
        except Exception:  # a bug: log it, keep the contract's shape
            LOG.exception("unexpected error on %s %s", req.method, req.path_info)
            return self.error(500, "internal_error", "the controller failed; see its log", media)
        if isinstance(result, Response):  # a stream, with its own type and headers
            return result
        if isinstance(result, str):
            return _response(200, result.encode(), metrics.CONTENT_TYPE)
        response = _response(route.status, render.render(result, media, route.root), media)
        following = next_link(req, result)
        if following:
            response.headers["Link"] = f'<{following}>; rel="next"'
        return response

    def error(self, status: int, code: str, message: str, media: str,
              headers: dict | None = None) -> Response:
        metrics.API_ERRORS.labels(code=code).inc()
        fields = {"code": code, "message": message}
        # XML: <error><code/><message/></error> — the JSON object's one key is the root.
        value = fields if media == render.XML else {"error": fields}
        response = _response(status, render.render(value, media, "error"), media)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="metroshare"'
        response.headers.update(headers or {})
        return response

    def metrics_text(self) -> str:
        """Scrape-time gauges of this app's core, then the process's counters and histograms."""
        return metrics.render(self.state_gauges, self.webhook_backlog)

    def _static(self, path: str) -> Response:
        name = "index.html" if path == "/" else path[len("/ui/"):]
        content = self.static.get(name)
        if content is None:
            raise RequestError(404, "not_found", f"no resource at {path}")
        response = _response(200, content, _TYPES[Path(name).suffix])
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["Cache-Control"] = "no-cache"
        return response


def _response(status: int, body: bytes, content_type: str) -> Response:
    response = Response(status=status, body=body)
    response.headers["Content-Type"] = (
        f"{content_type}; charset=utf-8" if content_type in (render.JSON, render.XML)
        else content_type)
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(_SECURITY_HEADERS)
    return response
