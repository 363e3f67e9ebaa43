"""The pure pieces of the northbound: XML rendering, the envelope, routing, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from prometheus_client.parser import text_string_to_metric_families
from webob import Request

import northbound
from controller import metrics
from northbound import render
from northbound.envelope import MAX_BODY_BYTES, RequestError, bearer_token, json_body, query_int
from northbound.routes import ROUTES, match


def test_xml_has_the_same_fields_as_json() -> None:
    service = {"id": 3, "name": "a&b <c>", "vlan": None, "ok": True, "ratio": 0.5,
               "members": [{"party": "acme", "role": "peer"}],
               "provisioning": {"acc1": "installed", "1bad name": "failed: x"}}
    root = ET.fromstring(render.to_xml(service, "service"))
    assert root.tag == "service"
    assert root.findtext("name") == "a&b <c>"
    assert root.find("vlan").get("nil") == "true"
    assert root.find("id").get("type") == "int" and root.findtext("id") == "3"
    assert root.findtext("ok") == "true" and root.findtext("ratio") == "0.5"
    assert [m.findtext("party") for m in root.find("members").findall("member")] == ["acme"]
    assert root.find("provisioning").findtext("acc1") == "installed"
    entry = root.find("provisioning").find("entry")
    assert entry.get("key") == "1bad name" and entry.text == "failed: x"


def test_xml_survives_characters_xml_cannot_carry() -> None:
    root = ET.fromstring(render.to_xml({"name": "a\x00b\x1fc\ud800"}, "party"))
    assert root.findtext("name") == "a\ufffdb\ufffdc\ufffd"


def test_xml_list_root_names_its_items() -> None:
    root = ET.fromstring(render.to_xml([{"id": 1}, {"id": 2}], "offers"))
    assert [o.findtext("id") for o in root.findall("offer")] == ["1", "2"]


@pytest.mark.parametrize("accept,expected", [
    (None, render.JSON), ("*/*", render.JSON), ("application/json", render.JSON),
    ("application/xml", render.XML), ("text/xml", render.XML), ("text/html", render.JSON),
    ("application/json;q=0.5, application/xml", render.XML), ("garbage;;q=x", render.JSON),
])
def test_negotiation(accept: str | None, expected: str) -> None:
    headers = {"Accept": accept} if accept else {}
    assert render.negotiate(Request.blank("/", headers=headers).accept) == expected


@pytest.mark.parametrize("header,token", [
    ("Bearer abc", "abc"), ("bearer  abc ", "abc"), ("Basic abc", None), ("Bearer", None),
    ("", None),
])
def test_bearer_token(header: str, token: str | None) -> None:
    assert bearer_token(Request.blank("/", headers={"Authorization": header})) == token


def _post(body: bytes, content_type: str | None = "application/json") -> Request:
    req = Request.blank("/", method="POST", body=body)
    if content_type is None:
        req.environ.pop("CONTENT_TYPE", None)
    else:
        req.content_type = content_type
    return req


def test_body_is_a_json_object_or_empty() -> None:
    assert json_body(_post(b'{"a": 1}'), True) == {"a": 1}
    assert json_body(_post(b""), True) == {}
    assert json_body(_post(b"{}"), False) == {}
    assert json_body(_post(b'{"a": 1}', None), True) == {"a": 1}


@pytest.mark.parametrize("body,content_type,status,code", [
    (b"{", "application/json", 400, "invalid_json"),
    (b"\xff\xfe", "application/json", 400, "invalid_json"),
    (b'{"a": NaN}', "application/json", 400, "invalid_json"),
    (b"[" * 100000 + b"]" * 100000, "application/json", 413, "payload_too_large"),
    (b"[1]", "application/json", 400, "invalid_body"),
    (b'"x"', "application/json", 400, "invalid_body"),
    (b"a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    (b" " * (MAX_BODY_BYTES + 1), "application/json", 413, "payload_too_large"),
])
def test_body_refusals(body: bytes, content_type: str, status: int, code: str) -> None:
    with pytest.raises(RequestError) as err:
        json_body(_post(body, content_type), True)
    assert (err.value.status, err.value.code) == (status, code)


def test_deep_nesting_is_a_400_not_a_crash() -> None:
    with pytest.raises(RequestError) as err:
        json_body(_post(b"[" * 30000 + b"]" * 30000), True)
    assert err.value.status == 400


def test_no_body_endpoint_refuses_fields() -> None:
    with pytest.raises(RequestError) as err:
        json_body(_post(b'{"interface": "x"}'), False)
    assert err.value.code == "invalid_field" and "interface" in err.value.message


@pytest.mark.parametrize("query,value", [("", None), ("since=0", 0), ("since=42", 42)])
def test_query_int(query: str, value: int | None) -> None:
    assert query_int(Request.blank("/?" + query), "since") == value


@pytest.mark.parametrize("query", ["since=-1", "since=x", "since=1.5", "since=", "since=%C2%B2",
                                   "since=99999999999999999999"])
def test_query_int_refusals(query: str) -> None:
    with pytest.raises(RequestError) as err:
        query_int(Request.blank("/?" + query), "since")
    assert err.value.code == "invalid_field" and "since" in err.value.message


def test_routing() -> None:
    route, params = match("DELETE", "/api/v1/services/12/members/acme.corp")
    assert route.handler.__name__ == "remove_member"
    assert params == {"id": 12, "party": "acme.corp"}
    with pytest.raises(RequestError) as err:
        match("PUT", "/api/v1/services/12")
    assert err.value.status == 405 and err.value.headers["Allow"] == "DELETE, GET, PATCH"
    for path in ("/api/v1/services/abc", "/api/v1/services/" + "9" * 19, "/api/v1/nothing",
                 "/api/v1/services/1/"):
        with pytest.raises(RequestError) as err:
            match("GET", path)
        assert err.value.status == 404


def test_every_route_is_unique() -> None:
    keys = [(r.method, r.template) for r in ROUTES]
    assert len(keys) == len(set(keys))


def _page(stats: dict | None = None, switches: int = 2) -> str:
    stats = stats or {"parties": 0, "services": {}, "offers": {}, "members": {}}
    return metrics.render(metrics.StateGauges(lambda: stats, lambda: switches))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_family_is_on_the_page_from_the_start() -> None:
    """Every state at zero, and every counter and histogram described before its first sample."""
    text = _page()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert _samples(text)[("metroshare_switches_connected", ())] == 2
    assert _samples(text)[("metroshare_parties", ())] == 0
    for family, states in metrics.STATES.items():
        series = {s.labels["state"]: s.value for s in families[f"metroshare_{family}"].samples}
        assert series == dict.fromkeys(states, 0), family
    for name in ("flow_mods_sent", "api_errors", "provisioning_seconds",
                 "provisioning_batch_size", "provisioning_queue_depth", "barrier_seconds"):
        assert families[f"metroshare_{name}"].documentation, name
    assert "metroshare_flow_mods_sent_total " in text
    assert 'metroshare_provisioning_seconds_bucket{le="+Inf"} ' in text
    assert "_created" not in text


def test_provisioning_families_appear_on_the_page() -> None:
    """Batch sizes, queue depth and per-switch barrier latency, as the provisioner feeds them."""
    before = _samples(_page())
    depth = metrics.REGISTRY.get_sample_value("metroshare_provisioning_queue_depth")
    try:
        metrics.BATCH_SIZE.observe(3)
        metrics.QUEUE_DEPTH.set(4)
        metrics.BARRIER_SECONDS.labels(switch="agg1").observe(0.003)
        text = _page()
    finally:
        metrics.QUEUE_DEPTH.set(depth)
    after = _samples(text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert "# TYPE metroshare_provisioning_batch_size histogram" in text
    assert grew("metroshare_provisioning_batch_size_count") == 1
    assert grew("metroshare_provisioning_batch_size_bucket", le="2.0") == 0
    assert grew("metroshare_provisioning_batch_size_bucket", le="5.0") == 1
    assert "# TYPE metroshare_provisioning_queue_depth gauge" in text
    assert after[("metroshare_provisioning_queue_depth", ())] == 4
    assert "# TYPE metroshare_barrier_seconds histogram" in text
    assert grew("metroshare_barrier_seconds_count", switch="agg1") == 1
    assert grew("metroshare_barrier_seconds_bucket", switch="agg1", le="0.005") == 1


def test_metrics_text_format() -> None:
    before = _samples(_page())
    metrics.FLOW_MODS_SENT.inc(3)
    metrics.API_ERRORS.labels(code='x"y').inc()
    metrics.PROVISIONING_SECONDS.observe(0.02)
    metrics.PROVISIONING_SECONDS.observe(3.0)
    text = _page({"parties": 1, "services": {"active": 1}, "offers": {}, "members": {}})
    after = _samples(text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert "metroshare_switches_connected 2.0" in text
    assert 'metroshare_services{state="active"} 1.0' in text
    assert grew("metroshare_flow_mods_sent_total") == 3
    assert 'metroshare_api_errors_total{code="x\\"y"} ' in text
    assert grew("metroshare_provisioning_seconds_bucket", le="0.025") == 1
    assert grew("metroshare_provisioning_seconds_bucket", le="+Inf") == 2
    assert grew("metroshare_provisioning_seconds_count") == 2
    label = r'[a-z]+="(?:[^"\\]|\\.)*"'
    sample = re.compile(rf'^metroshare_[a-z_]+(\{{{label}(,{label})*\}})? [0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# ") or sample.match(line), line


def test_openapi_document_is_json_with_every_route() -> None:
    doc = json.loads((Path(northbound.__file__).parent / "openapi.json").read_text())
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    implemented = {(r.method, r.template) for r in ROUTES}
    assert documented == implemented


def test_api_workers_answer_reads_and_forward_changes_and_live_state() -> None:
    from northbound.routes import serves_without_controller

    for path in ("/", "/ui/app.js", "/api/v1/services", "/api/v1/services/7", "/api/v1/offers",
                 "/api/v1/parties", "/api/v1/me", "/api/v1/events", "/api/v1/nowhere"):
        assert serves_without_controller("GET", path), path
    for path in ("/healthz", "/metrics", "/api/v1/topology"):
        assert not serves_without_controller("GET", path), path
    for method, path in (("POST", "/api/v1/services"), ("DELETE", "/api/v1/services/7"),
                         ("POST", "/api/v1/offers/3/accept"), ("PATCH", "/api/v1/parties/1")):
        assert not serves_without_controller(method, path), (method, path)
