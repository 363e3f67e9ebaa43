"""No input produces a 5xx: random methods, URLs, headers and bodies against the app."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from northbound.routes import ROUTES
from tests.unit import test_northbound_api as base
from tests.unit.test_northbound_api import World

world, offered = base.world, base.offered  # the fixtures, shared

segment = st.one_of(st.sampled_from(["1", "2", "0", "999", "acme", "beta", "-1", "%ff", ".."]),
                    st.text(max_size=12).map(lambda t: quote(t, safe="")))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=4),
    max_leaves=12)
field_names = st.sampled_from(["name", "account", "interfaces", "kind", "attributes", "type",
                               "bandwidth_mbps", "interface", "party", "code", "state",
                               "expires_in_s", "status", "service_kinds", "max_channels"])
body_dict = st.dictionaries(field_names, json_value, max_size=5)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, str, str, bytes | None, dict[str, str]]:
    route = draw(st.sampled_from(ROUTES))
    path = route.template
    for name in ("{id}", "{party}"):
        while name in path:
            path = path.replace(name, draw(segment), 1)
    if draw(st.booleans()):
        path += "?" + draw(st.sampled_from(["since=1", "since=x", "a=b", "since=%ff", "since=",
                                            "limit=1", "limit=0", "limit=1001", "after=1",
                                            "limit=2&after=1", "after=-1", "limit=x"]))
    method = draw(st.sampled_from([route.method, route.method, "GET", "PUT", "HEAD"]))
    who = draw(st.sampled_from(["admin", "acme", "beta", "nobody", None]))
    body = draw(st.one_of(st.none(), body_dict.map(lambda d: json.dumps(d).encode()),
                          json_value.map(lambda v: json.dumps(v).encode()), st.binary(max_size=40)))
    headers = {}
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(["application/xml", "text/xml", "*/*", "x;q=z"]))
    if body is not None:
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain",
                                                        "application/merge-patch+json"]))
    return method, path, who, body, headers


@pytest.mark.filterwarnings("ignore")
def test_no_input_gives_a_5xx(world: World, offered) -> None:
    @settings(max_examples=400, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(requests())
    def check(request: tuple[str, str, str, bytes | None, dict[str, str]]) -> None:
        method, path, who, body, headers = request
        response = world.call(method, path, who, raw=body, **headers)  # asserts < 500
        if response.status_code >= 400 and method != "HEAD":
            if "xml" in response.content_type:
                assert b"<error>" in response.body
            else:
                assert set(response.json["error"]) == {"code", "message"}

    check()


def test_a_chunked_body_is_read_not_dropped() -> None:
    """Without Content-Length the body is still the request's: dropped, an offer to a
    named party would become an open invitation."""
    from io import BytesIO

    from webob import Request

    from northbound.envelope import json_body

    req = Request.blank("/", method="POST", headers={"Transfer-Encoding": "chunked",
                                                     "Content-Type": "application/json"})
    req.environ["wsgi.input"] = BytesIO(b'{"party": "globex"}')
    req.environ.pop("CONTENT_LENGTH", None)
    assert json_body(req, True) == {"party": "globex"}
