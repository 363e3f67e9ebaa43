"""The route table: every endpoint, its auth rule, and the one core call it makes.

Nearly every endpoint is one core method called with the actor, the path
parameters and the body: the core owns every rule (who may see what, what a
field may hold). The table is also the list of implemented routes
that the OpenAPI document is checked against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from webob import Request

from controller.workflow.paging import Page
from northbound.envelope import RequestError, query_int
from northbound.stream import event_stream

# Ids are SQLite integers: more than 18 digits cannot name anything, so 404.
_PARAM_PATTERNS = {"id": r"(?P<id>[0-9]{1,18})", "party": r"(?P<party>[^/]+)"}


@dataclass
class Call:
    """What a handler gets: the core, the authenticated actor, path params, body."""

    core: Any
    actor: Any
    params: dict[str, Any]
    body: dict[str, Any]
    req: Request
    route: Route
    site: Any = None


@dataclass(frozen=True)
class Route:
    """One endpoint; `handler` answers it (see `core_call` for the usual one)."""

    method: str
    template: str
    handler: Callable[[Call], Any]
    status: int = 200
    root: str = "result"          # XML root element
    body: bool = False            # takes a JSON object body
    auth: bool = True             # needs a bearer token
    live: bool = False            # needs the switches' live state: the controller answers
    query: tuple[str, ...] = ()   # the query parameters it knows; others are refused
    pattern: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", lambda m: _PARAM_PATTERNS[m.group(1)], self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


def core_call(name: str) -> Callable[[Call], Any]:
    """`core.<name>(actor, *path params, body?)`: how nearly every endpoint is served."""
    def handler(c: Call) -> Any:
        args = [*c.params.values(), c.body] if c.route.body else [*c.params.values()]
        return getattr(c.core, name)(c.actor, *args)
    handler.__name__ = name
    return handler


def match(method: str, path: str) -> tuple[Route, dict[str, Any]]:
    """The route for a request, or 404 (no such path) / 405 (path, other method)."""
    allowed = []
    for candidate in ROUTES:
        found = candidate.pattern.match(path)
        if not found:
            continue
        if candidate.method == method:
            params = {k: int(v) if k == "id" else v for k, v in found.groupdict().items()}
            return candidate, params
        allowed.append(candidate.method)
    if allowed:
        raise RequestError(405, "method_not_allowed", f"{method} is not allowed on {path}",
                           {"Allow": ", ".join(sorted(set(allowed)))})
    raise RequestError(404, "not_found", f"no resource at {path}")


API = "/api/v1"


PAGE_QUERY = ("limit", "after")


def page_args(req: Request) -> dict[str, int]:
    """`?limit=` and `?after=` as given; the core checks their range and sets the default."""
    args = {name: query_int(req, name) for name in PAGE_QUERY}
    return {name: value for name, value in args.items() if value is not None}


def list_call(name: str) -> Callable[[Call], Any]:
    """`core.<name>(actor, limit=, after=)`: one page of a list (CONTRACT §3)."""
    def handler(c: Call) -> Any:
        return getattr(c.core, name)(c.actor, **page_args(c.req))
    handler.__name__ = name
    return handler


def next_link(req: Request, result: Any) -> str | None:
    """The URL of the next page (the same query with `after` moved on), if more remain."""
    after = result.next_after if isinstance(result, Page) else None
    if after is None:
        return None
    query = [(k, v) for k, v in req.GET.items() if k != "after"] + [("after", str(after))]
    return f"{req.path_url}?{urlencode(query)}"


def _events(c: Call) -> Any:
    return c.core.list_events(c.actor, since=query_int(c.req, "since"),
                              party=c.req.GET.get("party"),
                              service=query_int(c.req, "service"),
                              action=c.req.GET.get("action"), **page_args(c.req))


def _openapi(c: Call) -> Any:
    return c.site.openapi


def _healthz(c: Call) -> Any:
    return {"status": "ok", "switches_connected": c.site.switches_connected(), **c.site.role()}


def _metrics(c: Call) -> Any:
    if not c.actor.is_admin:
        raise RequestError(403, "forbidden", "/metrics needs the admin token")
    return c.site.metrics_text()


ROUTES: list[Route] = [
    Route("POST", f"{API}/parties", core_call("create_party"), 201, "party", body=True),
    Route("GET", f"{API}/parties", list_call("list_parties"), root="parties",
          query=PAGE_QUERY),
    Route("GET", f"{API}/parties/{{id}}", core_call("get_party"), root="party"),
    Route("PATCH", f"{API}/parties/{{id}}", core_call("update_party"), root="party", body=True),
    Route("POST", f"{API}/parties/{{id}}/token", core_call("issue_token"), root="token"),
    Route("GET", f"{API}/me", core_call("me"), root="party"),
    Route("GET", f"{API}/topology", core_call("topology_view"), root="topology", live=True),
    Route("GET", f"{API}/events", _events, root="events",
          query=("since", "party", "service", "action", *PAGE_QUERY)),
    Route("GET", f"{API}/events/stream", event_stream, root="events"),
    Route("POST", f"{API}/services", core_call("create_service"), 201, "service", body=True),
    Route("GET", f"{API}/services", list_call("list_services"), root="services",
          query=PAGE_QUERY),
    Route("GET", f"{API}/services/{{id}}", core_call("get_service"), root="service"),
    Route("PATCH", f"{API}/services/{{id}}", core_call("update_service"), root="service",
          body=True),
    Route("DELETE", f"{API}/services/{{id}}", core_call("teardown_service"), root="service"),
    Route("POST", f"{API}/services/{{id}}/offers", core_call("create_offer"), 201, "offer",
          body=True),
    Route("DELETE", f"{API}/services/{{id}}/members/{{party}}", core_call("remove_member"),
          root="service"),
    Route("GET", f"{API}/offers", list_call("list_offers"), root="offers", query=PAGE_QUERY),
    Route("POST", f"{API}/offers/{{id}}/accept", core_call("accept_offer"), root="offer",
          body=True),
    Route("POST", f"{API}/offers/{{id}}/decline", core_call("decline_offer"), root="offer"),
    Route("DELETE", f"{API}/offers/{{id}}", core_call("withdraw_offer"), root="offer"),
    Route("POST", f"{API}/invitations/accept", core_call("accept_invitation"), root="offer",
          body=True),
    Route("POST", f"{API}/invitations/preview", core_call("preview_invitation"),
          root="invitation", body=True),
    Route("GET", f"{API}/orders", list_call("list_orders"), root="orders", query=PAGE_QUERY),
    Route("PATCH", f"{API}/orders/{{id}}", core_call("update_order"), root="order", body=True),
    Route("POST", f"{API}/webhooks", core_call("create_webhook"), 201, "webhook", body=True),
    Route("GET", f"{API}/webhooks", list_call("list_webhooks"), root="webhooks",
          query=PAGE_QUERY),
    Route("DELETE", f"{API}/webhooks/{{id}}", core_call("delete_webhook"), root="webhook"),
    Route("GET", f"{API}/openapi.json", _openapi, root="openapi"),
    Route("GET", "/healthz", _healthz, root="health", auth=False, live=True),
    Route("GET", "/metrics", _metrics, live=True),
]


def serves_without_controller(method: str, path: str) -> bool:
    """True for a read an API worker answers from the database alone (the UI's
    files, and every GET route but the live ones); a change or a live read goes
    to the controller process."""
    if method != "GET":
        return False
    if path == "/" or path.startswith("/ui/"):
        return True
    try:
        route, _ = match(method, path)
    except RequestError:
        return True  # the worker answers 404 / 405 the same way
    return not route.live
