"""diff and normalise: what reconciliation sends to make a switch right."""

from __future__ import annotations

from dataclasses import replace

from flows.compiler import compile_switch
from flows.diff import ADD, DELETE, MODIFY, Change, diff, normalise
from flows.intent import MULTIPOINT
from flows.rules import Group, Meter, SwitchTables
from tests.unit.test_flows_trees import build_tree, service

EMPTY = SwitchTables(frozenset(), frozenset(), frozenset())


def desired() -> SwitchTables:
    topology = build_tree([0, 0])
    hosts = [topology.hosts_on(s)[0] for s in ("s0", "s1", "s2")]
    return compile_switch(topology, [service(1, 10, MULTIPOINT, hosts)], "s0")


def test_nothing_to_do_when_tables_are_right() -> None:
    assert diff(desired(), desired()) == ()


def test_empty_switch_gets_everything_meters_and_groups_before_flows() -> None:
    want = desired()
    changes = diff(EMPTY, want)
    assert all(c.op == ADD for c in changes)
    phases = [{Meter: 0, Group: 1}.get(type(c.item), 2) for c in changes]
    assert phases == sorted(phases)
    assert {c.item for c in changes} == set(want.flows | want.groups | want.meters)


def test_stale_rules_are_deleted_first() -> None:
    want = desired()
    changes = diff(want, EMPTY)
    assert all(c.op == DELETE for c in changes)
    flows_end = max(i for i, c in enumerate(changes) if c.item in want.flows)
    assert all(i > flows_end for i, c in enumerate(changes) if c.item not in want.flows)


def test_changed_rules_are_replaced_in_place() -> None:
    want = desired()
    flow = next(f for f in want.flows if f.actions and f.cookie)
    group = next(iter(want.groups))
    meter = next(iter(want.meters))
    actual = SwitchTables(
        (want.flows - {flow}) | {replace(flow, actions=(("output", 9),))},
        frozenset({replace(group, buckets=group.buckets[:1])}),
        frozenset({replace(meter, rate_kbps=1)}),
    )
    assert diff(actual, want) == (Change(MODIFY, meter), Change(MODIFY, group),
                                  Change(ADD, flow))
    recookied = replace(flow, cookie=flow.cookie + 1)
    actual = replace(want, flows=(want.flows - {flow}) | {recookied})
    assert diff(actual, want) == (Change(ADD, flow),)


def test_normalise_orders_deletes_before_adds_and_drops_duplicates() -> None:
    want = desired()
    flow = next(iter(want.flows))
    group = next(iter(want.groups))
    batch = [Change(ADD, flow), Change(DELETE, group), Change(ADD, flow), Change(DELETE, flow)]
    assert normalise(batch) == (Change(DELETE, flow), Change(DELETE, group), Change(ADD, flow))
