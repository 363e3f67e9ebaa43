"""The OpenAPI document is the one description of request bodies: every field it
documents is checked (a wrong value is refused naming that field), nothing it
does not document gets through (refused as unknown), and every endpoint that
takes a body is checked against its documented schema."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from controller import shapes
from controller.errors import ServiceError

INTERFACE = {"name": "if0", "switch": "acc1", "port": 2, "mac": "02:00:00:00:00:01",
             "location": "rack 1"}
ACCOUNT = {"status": "active", "service_kinds": ["ethernet-channel"],
           "max_bandwidth_mbps": 100, "max_channels": 5}
# A valid body of each schema with every documented field present (optional ones too).
VALID = {
    "NewParty": {"name": "acme", "account": ACCOUNT, "interfaces": [INTERFACE]},
    "PartyPatch": {"account": ACCOUNT, "interfaces": [INTERFACE]},
    "NewService": {"name": "s", "kind": "ethernet-channel", "interface": "if0", "ce_vlan": 100,
                   "attributes": {"type": "point-to-point", "bandwidth_mbps": 10}},
    "ServicePatch": {"name": "s", "attributes": {"bandwidth_mbps": 10}},
    "NewOffer": {"party": "beta", "expires_in_s": 60},
    "Acceptance": {"interface": "if0", "ce_vlan": 100},
    "InvitationAcceptance": {"code": "abc", "interface": "if0", "ce_vlan": 100},
    "InvitationCode": {"code": "abc"},
    "OrderUpdate": {"state": "fulfilled"},
    "NewWebhook": {"url": "https://example.net/hook", "secret": "s" * 16},
}
READ_ONLY = {"service", "services"}  # what a party view adds to an interface: ignored


def request_bodies() -> dict[str, str]:
    """Each endpoint that takes a body, and its schema's name."""
    out = {}
    for path, operations in shapes.document()["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "requestBody" in operation:
                ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                out[f"{method.upper()} {path}"] = ref.rsplit("/", 1)[1]
    return out


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = shapes.schema(schema["$ref"].rsplit("/", 1)[1])
    return schema


def fields(schema: dict[str, Any], value: Any, path: tuple = ()) -> Iterator[tuple]:
    """(path, field schema) of every documented field present in `value`."""
    schema = resolve(schema)
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None:  # a branch of oneOf / if-then describes it
                sub = next((resolve(b).get("properties", {})[key]
                            for b in [*schema.get("oneOf", []), *_branches(schema)]
                            if key in resolve(b).get("properties", {})), {})
            yield (*path, key), sub
            yield from fields(sub, item, (*path, key))
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            yield from fields(schema["items"], item, (*path, i))


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [part for rule in schema.get("allOf", []) for part in
            (rule.get("then", {}), rule.get("else", {}))]


def shown(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
                   for i, p in enumerate(path))


def replaced(body: Any, path: tuple, value: Any) -> Any:
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def refusal(name: str, body: Any) -> ServiceError:
    with pytest.raises(ServiceError) as info:
        shapes.check(name, body)
    assert (info.value.status, info.value.code) == (400, "invalid_field"), info.value
    return info.value


def test_every_endpoint_with_a_body_has_a_valid_example_here() -> None:
    assert set(request_bodies().values()) == set(VALID)
    for name, body in VALID.items():
        shapes.check(name, body)


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_documented_field_is_checked(name: str) -> None:
    """A value of the wrong type in any documented field is refused naming it."""
    checked = []
    for path, schema in fields(shapes.schema(name), VALID[name]):
        if path[-1] in READ_ONLY:
            continue
        wrong = {} if resolve(schema).get("type") != "object" else []
        error = refusal(name, replaced(VALID[name], path, wrong))
        assert error.message.startswith(shown(path) + ":"), (path, error.message)
        checked.append(shown(path))
    assert checked


@pytest.mark.parametrize("name", sorted(VALID))
def test_nothing_undocumented_gets_through(name: str) -> None:
    """An unknown field at any level of a body is refused naming it."""
    objects = [()] + [path for path, schema in fields(shapes.schema(name), VALID[name])
                      if isinstance(_at(VALID[name], path), dict)]
    for path in objects:
        body = copy.deepcopy(VALID[name])
        _at(body, path)["surplus"] = 1
        error = refusal(name, body)
        assert error.message == f"{shown((*path, 'surplus'))}: unknown field", error.message


def _at(body: Any, path: tuple) -> Any:
    for part in path:
        body = body[part]
    return body


def test_required_fields_are_named_when_missing() -> None:
    for name, body in VALID.items():
        for key in resolve(shapes.schema(name)).get("required", []):
            error = refusal(name, {k: v for k, v in body.items() if k != key})
            assert error.message == f"{key}: is required"


def test_attributes_follow_the_kind() -> None:
    body = replaced(VALID["NewService"], ("attributes",), {"quantity": 5, "unit": "l",
                                                           "location": "depot"})
    assert refusal("NewService", body).message.startswith("attributes.")
    fuel = {**body, "kind": "fuel"}
    del fuel["ce_vlan"]
    shapes.check("NewService", fuel)
    assert refusal("NewService", replaced(fuel, ("attributes", "quantity"), 0)).message \
        == "attributes.quantity: must be a number above 0 and at most 1000000000000, got 0"
