"""apps.reconcile.plan: only the difference, in an order that never breaks traffic."""

from __future__ import annotations

from apps.reconcile import EMPTY, plan
from flows.rules import Flow, Group, Meter, SwitchTables, match

A = 0x6D73 << 48 | 1
B = 0x6D73 << 48 | 2
MISS = Flow(0, 0, (), cookie=0x6D69 << 48)


def tables(*items) -> SwitchTables:
    return SwitchTables(frozenset(i for i in items if isinstance(i, Flow)),
                        frozenset(i for i in items if isinstance(i, Group)),
                        frozenset(i for i in items if isinstance(i, Meter)))


def fwd(cookie: int, vid: int, port: int) -> Flow:
    return Flow(1, 1000, match(vlan_vid=0x1000 | vid), actions=(("output", port),),
                cookie=cookie)


def kinds(ops) -> list[str]:
    return [op.kind for op in ops]


def test_equal_tables_need_nothing() -> None:
    state = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    assert plan(state, state) == []


def test_install_from_empty_orders_meters_groups_then_flows() -> None:
    desired = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    assert kinds(plan(EMPTY, desired)) == ["meter_add", "group_add", "flow_add", "flow_add"]


def test_changed_entries_are_replaced_in_place_not_deleted() -> None:
    actual = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    desired = tables(MISS, fwd(A, 10, 2), Group(10, ((("output", 2),),)), Meter(3, 2000, 200))
    assert kinds(plan(actual, desired)) == ["meter_modify", "group_modify", "flow_add"]


def test_a_service_gone_from_a_switch_leaves_by_cookie_with_its_group_and_meter() -> None:
    actual = tables(MISS, fwd(A, 10, 1), fwd(B, 11, 1), Group(10, ()), Group(11, ()),
                    Meter(3, 1, 1), Meter(4, 1, 1))
    desired = tables(MISS, fwd(A, 10, 1), Group(10, ()), Meter(3, 1, 1))
    ops = plan(actual, desired)
    assert kinds(ops) == ["flows_delete_cookie", "group_delete", "meter_delete"]
    assert [op.value for op in ops][0] == B


def test_stale_flow_of_a_kept_service_is_deleted_strictly_after_the_adds() -> None:
    stale = Flow(1, 2000, match(vlan_vid=0x1000 | 10, eth_dst="00:00:00:00:00:09"),
                 actions=(("output", 4),), cookie=A)
    new = Flow(1, 2000, match(vlan_vid=0x1000 | 10, eth_dst="00:00:00:00:00:08"),
               actions=(("output", 4),), cookie=A)
    ops = plan(tables(MISS, fwd(A, 10, 1), stale), tables(MISS, fwd(A, 10, 1), new))
    assert kinds(ops) == ["flow_add", "flow_delete"]
    assert ops[1].value == stale


def test_foreign_flows_are_removed() -> None:
    foreign = Flow(0, 5, match(in_port=1), actions=(("output", 2),), cookie=0)
    assert kinds(plan(tables(MISS, foreign), tables(MISS))) == ["flows_delete_cookie"]
