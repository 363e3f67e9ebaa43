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
from controller.model import ADMIN, MAX_BANDWIDTH_MBPS, MAX_METER_RATE_KBPS
from controller.validation import HIDDEN_CATEGORIES
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


# Names with what fools a reader: a trailing newline, invisible formatting
# characters (U+200B, U+202E, U+FEFF, U+2066), controls, separators.
TRICKY = st.sampled_from(["\n", "\r\n", "\u200b", "\u202e", "\ufeff", "\u2066", "\x00",
                          "\x7f", "\x85", "\u2028", " ", "é", "-", "."])
NAMES = st.one_of(st.text(max_size=70), st.builds(
    lambda a, t, b: a + t + b, st.from_regex(r"[a-z0-9]{0,63}", fullmatch=True), TRICKY,
    st.from_regex(r"[a-z0-9]{0,3}", fullmatch=True)))


@SETTINGS
@given(name=NAMES, bandwidth=st.integers(-1, 2**33))
def test_names_and_bandwidth_are_taken_whole_or_refused(name: str, bandwidth: int) -> None:
    """A party or service is created with exactly the name given, or refused naming
    the field; a bandwidth is taken only if its meter rate fits 32 bits."""
    import re
    import unicodedata

    w = world()
    party_ok = re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) is not None \
        and name not in ("admin", "system")
    # Its shape (the schema, checked first, in the body's order) and its characters.
    service_shape_ok = 1 <= len(name) <= 64
    service_ok = service_shape_ok \
        and not any(unicodedata.category(c) in HIDDEN_CATEGORIES for c in name)
    bandwidth_ok = 1 <= bandwidth <= MAX_BANDWIDTH_MBPS
    account = {"status": "active", "service_kinds": ["ethernet-channel"],
               "max_bandwidth_mbps": MAX_BANDWIDTH_MBPS, "max_channels": 5}
    w.core.update_party(ADMIN, w.dave.party_id, {"account": account})
    for ok, call, field in (
            (party_ok, lambda: w.core.create_party(ADMIN, {"name": name, "account": account}),
             "name"),
            (service_ok and bandwidth_ok,
             lambda: w.core.create_service(w.dave, ethernet_body(name, "dave-if1",
                                                                 bandwidth=bandwidth)),
             "name" if not service_shape_ok or bandwidth_ok and not service_ok
             else "attributes.bandwidth_mbps")):
        before = snapshot(w.store)
        try:
            made = call()
        except ServiceError as err:
            assert not ok or err.status == 409, err   # e.g. name_taken: valid, but clashes
            if err.code == "invalid_field":
                assert err.message.startswith(f"{field}:"), err
            assert snapshot(w.store) == before
            continue
        assert ok and made["name"] == name
        if "attributes" in made:
            assert made["attributes"]["bandwidth_mbps"] * 1000 <= MAX_METER_RATE_KBPS
            w.core.teardown_service(w.dave, made["id"])
    check_invariants(w.core, w.store)
