"""The audit log filtered by party, service and action: pages of what the caller
may see anyway, narrowed; a bad filter is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.model import ADMIN
from tests.unit.test_core_fixtures import (
    World,
    build_world,
    ethernet_body,
    offer_and_accept,
    p2p,
    refused,
)

pytestmark = pytest.mark.usefixtures("core_engine")


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = build_world(tmp_path)
    first = p2p(w)
    offer_and_accept(w, first["id"], w.bob, "bob-if0")
    second = w.core.create_service(w.alice, ethernet_body("s2", "alice-if1",
                                                         "multipoint-to-multipoint"))
    w.core.create_offer(w.alice, second["id"], {"party": "carol"})
    w.ids = (first["id"], second["id"])
    return w


def actions(page) -> list[tuple[str, int | None, str | None]]:
    return [(e["action"], e["service_id"], e["party"]) for e in page]


def test_filters_narrow_the_log(world: World) -> None:
    first, second = world.ids
    by_service = world.core.list_events(ADMIN, service=second)
    assert {e["service_id"] for e in by_service} == {second} and len(by_service) == 2
    by_party = world.core.list_events(ADMIN, party="carol")
    assert actions(by_party) == [("offer_created", second, "carol"),
                                 ("party_created", None, "carol")]
    by_action = world.core.list_events(ADMIN, action="offer_accepted")
    assert actions(by_action) == [("offer_accepted", first, "bob")]
    both = world.core.list_events(ADMIN, service=first, action="member_provisioned")
    assert {e["party"] for e in both} == {"alice", "bob"}
    assert world.core.list_events(ADMIN, service=first, action="party_created") == []


def test_a_party_filters_only_what_it_sees(world: World) -> None:
    first, second = world.ids
    assert world.core.list_events(world.bob, service=second) == []  # not its service
    named = world.core.list_events(world.bob, party="bob")
    assert {e["service_id"] for e in named} == {first, None}  # None: its party_created
    assert all(e["party"] == "bob" for e in named)
    # Paged: the next page keeps the filter.
    page = world.core.list_events(ADMIN, service=first, limit=2)
    rest = world.core.list_events(ADMIN, service=first, limit=100, after=page.next_after)
    assert {e["service_id"] for e in [*page, *rest]} == {first}
    assert len(page) + len(rest) == len(world.core.list_events(ADMIN, service=first))


@pytest.mark.parametrize("bad", [{"party": "no one"}, {"action": "Offer"},
                                 {"action": "x" * 40}, {"service": -1}])
def test_a_bad_filter_is_refused_by_name(world: World, bad: dict) -> None:
    error = refused(lambda: world.core.list_events(ADMIN, **bad), world.store,
                    "invalid_field", 400)
    assert error.message.startswith(next(iter(bad)))
