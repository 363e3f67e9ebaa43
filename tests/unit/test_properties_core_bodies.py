"""No body makes the core fail with anything but a `ServiceError`: random JSON,
and valid bodies with one field replaced by random JSON. A refusal changes
nothing; what is accepted keeps the invariants."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.errors import ServiceError
from controller.model import ADMIN
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    check_invariants,
    ethernet_body,
    party_body,
    snapshot,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=4),
    max_leaves=12)

_WORLD: list[World] = []


def world() -> World:
    """One world for all examples: each example either is refused (checked to
    change nothing) or succeeds (and must keep the invariants)."""
    if not _WORLD:
        _WORLD.append(build_world(Path(tempfile.mkdtemp(prefix="core-bodies-"))))
        w = _WORLD[0]
        service = w.core.create_service(w.alice, ethernet_body("base", "alice-if0",
                                                               "multipoint-to-multipoint"))
        w.offer = w.core.create_offer(w.alice, service["id"], {"party": "bob"})["id"]
        w.service = service["id"]
    return _WORLD[0]


def _replace(body: Any, path: list[Any], value: Any) -> Any:
    if not path:
        return value
    if isinstance(body, dict):
        return {**body, path[0]: _replace(body.get(path[0]), path[1:], value)}
    if isinstance(body, list) and body:
        i = path[0] % len(body) if isinstance(path[0], int) else 0
        return [*body[:i], _replace(body[i], path[1:], value), *body[i + 1:]]
    return value


def _calls(w: World, body: Any) -> list:
    return [
        lambda: w.core.create_party(ADMIN, body),
        lambda: w.core.update_party(ADMIN, w.carol.party_id, body),
        lambda: w.core.create_service(w.dave, body),
        lambda: w.core.create_offer(w.alice, w.service, body),
        lambda: w.core.accept_offer(w.bob, w.offer, body),
        lambda: w.core.accept_invitation(w.carol, body),
        lambda: w.core.update_order(ADMIN, 1, body),
    ]


def _try(w: World, call) -> None:
    before = snapshot(w.store)
    try:
        call()
    except ServiceError as err:
        assert err.status in (400, 403, 404, 409) and err.message
        assert snapshot(w.store) == before, err
    check_invariants(w.core, w.store)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=json_values, which=st.integers(0, 6))
def test_random_bodies_are_refused_cleanly(body: Any, which: int) -> None:
    w = world()
    _try(w, _calls(w, body)[which])


VALID = [
    party_body("zed", [("acc4", 20)], first_mac=0xE0),
    ethernet_body("svc", "dave-if0", "point-to-multipoint", 100, "secure-bandwidth"),
    {"party": "carol", "expires_in_s": 60},
    {"code": "x" * 43, "interface": "bob-if0"},
]
PATHS = st.lists(st.one_of(st.sampled_from(["name", "account", "interfaces", "attributes",
                                            "status", "port", "mac", "type", "party",
                                            "bandwidth_mbps", "max_channels", "interface",
                                            "expires_in_s", "code", "switch"]),
                           st.integers(0, 3)), min_size=1, max_size=3)


@SETTINGS
@given(which=st.integers(0, 3), path=PATHS, value=json_values)
def test_valid_bodies_with_one_field_changed(which: int, path: list, value: Any) -> None:
    w = world()
    body = _replace(VALID[which], path, value)
    call = [lambda: w.core.create_party(ADMIN, body),
            lambda: w.core.create_service(w.dave, body),
            lambda: w.core.create_offer(w.alice, w.service, body),
            lambda: w.core.accept_invitation(w.bob, body)][which]
    _try(w, call)
