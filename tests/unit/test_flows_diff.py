"""flows.diff.plan: only the difference, in an order that never breaks traffic.

`states` is a small switch: it applies each change with OVS semantics (ADD
replaces the entry of its identity, strict delete, delete-by-cookie in every
table, group and meter commands by id) and refuses what would break traffic
or what a switch would refuse: a flow added before the group or meter it
uses, a group or meter deleted while a flow still uses it (OVS would delete
that flow with it), an ADD of an id already there, a MODIFY or DELETE of one
that is not. `check_plan` holds every guarantee of a plan in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from flows.compiler import compile_switch
from flows.diff import EMPTY, Op, flow_identity, plan
from flows.intent import MULTIPOINT
from flows.rules import Flow, Group, Meter, SwitchTables, match
from tests.unit.test_flows_trees import build_tree, service

A = 0x6D73 << 48 | 1
B = 0x6D73 << 48 | 2
MISS = Flow(0, 0, (), cookie=0x6D69 << 48)

# Make before break: every change falls in one of these phases, in this order.
PHASES = ({"meter_add", "meter_modify"}, {"group_add", "group_modify"}, {"flow_add"},
          {"flows_delete_cookie"}, {"flow_delete"}, {"group_delete"}, {"meter_delete"})


def phase(op: Op) -> int:
    return next(i for i, kinds in enumerate(PHASES) if op.kind in kinds)


def _uses(flow: Flow) -> tuple[set[int], set[int]]:
    """The group ids and meter ids a flow points at."""
    groups = {a[1] for a in flow.actions if a[0] == "group"}
    return groups, ({flow.meter} if flow.meter is not None else set())


def states(tables: SwitchTables, ops: list[Op]) -> Iterator[SwitchTables]:
    """What the switch holds after each change of `ops`, in turn."""
    flows = {flow_identity(f): f for f in tables.flows}
    groups = {g.group_id: g for g in tables.groups}
    meters = {m.meter_id: m for m in tables.meters}
    for op in ops:
        kind, value = op.kind, op.value
        if kind == "flow_add":
            used_groups, used_meters = _uses(value)
            assert used_groups <= groups.keys() and used_meters <= meters.keys(), op
            flows[flow_identity(value)] = value
        elif kind == "flow_delete":  # strict, cookie mask all ones
            assert flows.pop(flow_identity(value)) == value, op
        elif kind == "flows_delete_cookie":
            doomed = [k for k, f in flows.items() if f.cookie == value]
            assert doomed, op
            for k in doomed:
                del flows[k]
        else:
            held, ident = ((groups, value.group_id) if kind.startswith("group_")
                           else (meters, value.meter_id))
            if kind.endswith("_add"):
                assert ident not in held, op
                held[ident] = value
            elif kind.endswith("_modify"):
                assert ident in held, op
                held[ident] = value
            else:
                assert held.pop(ident) == value, op
                index = 0 if held is groups else 1
                assert not any(ident in _uses(f)[index] for f in flows.values()), \
                    f"{op} would delete the flows that use it"
        yield SwitchTables(frozenset(flows.values()), frozenset(groups.values()),
                           frozenset(meters.values()))


def check_plan(actual: SwitchTables, desired: SwitchTables) -> list[Op]:
    """The plan from `actual` to `desired`, with every guarantee it must keep checked."""
    ops = plan(actual, desired)
    assert len(ops) == len(set(ops)), "each change once"
    assert [phase(op) for op in ops] == sorted(phase(op) for op in ops), "make before break"
    untouched = (actual.flows & desired.flows) | (actual.groups & desired.groups) \
        | (actual.meters & desired.meters)
    assert not any(op.value in untouched for op in ops), "correct entries never touched"
    kept = {flow_identity(f) for f in desired.flows} & {flow_identity(f) for f in actual.flows}
    after = actual
    for after in states(actual, ops):
        assert untouched <= after.flows | after.groups | after.meters, "correct rules never flap"
        assert kept <= {flow_identity(f) for f in after.flows}, "no gap in a changed path"
    assert after == desired
    assert plan(desired, desired) == []
    return ops


def tables(*items) -> SwitchTables:
    return SwitchTables(frozenset(i for i in items if isinstance(i, Flow)),
                        frozenset(i for i in items if isinstance(i, Group)),
                        frozenset(i for i in items if isinstance(i, Meter)))


def fwd(cookie: int, vid: int, port: int) -> Flow:
    return Flow(1, 1000, match(vlan_vid=0x1000 | vid), actions=(("output", port),),
                cookie=cookie)


def kinds(ops) -> list[str]:
    return [op.kind for op in ops]


def desired() -> SwitchTables:
    topology = build_tree([0, 0])
    hosts = [topology.hosts_on(s)[0] for s in ("s0", "s1", "s2")]
    return compile_switch(topology, [service(1, 10, MULTIPOINT, hosts)], "s0")


def test_nothing_to_do_when_tables_are_right() -> None:
    assert plan(desired(), desired()) == []
    state = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    assert plan(state, state) == []


def test_empty_switch_gets_everything_meters_and_groups_before_flows() -> None:
    want = desired()
    ops = check_plan(EMPTY, want)
    assert all(op.kind.endswith("_add") for op in ops)
    phases = [{Meter: 0, Group: 1}.get(type(op.value), 2) for op in ops]
    assert phases == sorted(phases)
    assert [op.value for op in ops if isinstance(op.value, Flow)] == sorted(want.flows)
    assert {op.value for op in ops} == set(want.flows | want.groups | want.meters)
    hand = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    assert kinds(check_plan(EMPTY, hand)) == ["meter_add", "group_add", "flow_add", "flow_add"]


def test_a_switch_emptied_loses_flows_before_groups_and_meters() -> None:
    want = desired()
    ops = check_plan(want, EMPTY)
    assert all(op.kind.endswith("delete") or op.kind == "flows_delete_cookie" for op in ops)
    flows_end = max(i for i, op in enumerate(ops) if op.kind.startswith("flow"))
    assert all(i > flows_end for i, op in enumerate(ops) if not op.kind.startswith("flow"))
    assert {op.value for op in ops if not op.kind.startswith("flow")} == want.groups | want.meters
    # Each service (and the table-miss drops) leaves with one delete-by-cookie.
    assert sorted(op.value for op in ops if op.kind.startswith("flow")) \
        == sorted({f.cookie for f in want.flows})


def test_changed_rules_are_replaced_in_place() -> None:
    want = desired()
    flow = next(f for f in want.flows if f.actions and f.cookie)
    group = next(iter(want.groups))
    meter = next(m for m in want.meters if not m.pktps)  # a member's, not the probe cap
    actual = SwitchTables(
        (want.flows - {flow}) | {replace(flow, actions=(("output", 9),))},
        frozenset({replace(group, buckets=group.buckets[:1])}),
        (want.meters - {meter}) | {replace(meter, rate_kbps=1)},
    )
    assert check_plan(actual, want) == [Op("meter_modify", meter), Op("group_modify", group),
                                        Op("flow_add", flow)]
    recookied = replace(flow, cookie=flow.cookie + 1)
    actual = replace(want, flows=(want.flows - {flow}) | {recookied})
    assert check_plan(actual, want) == [Op("flow_add", flow)]
    actual = tables(MISS, fwd(A, 10, 1), Group(10, ((("output", 1),),)), Meter(3, 1000, 100))
    wanted = tables(MISS, fwd(A, 10, 2), Group(10, ((("output", 2),),)), Meter(3, 2000, 200))
    assert kinds(check_plan(actual, wanted)) == ["meter_modify", "group_modify", "flow_add"]


def test_a_service_gone_from_a_switch_leaves_by_cookie_with_its_group_and_meter() -> None:
    actual = tables(MISS, fwd(A, 10, 1), fwd(B, 11, 1), Group(10, ()), Group(11, ()),
                    Meter(3, 1, 1), Meter(4, 1, 1))
    wanted = tables(MISS, fwd(A, 10, 1), Group(10, ()), Meter(3, 1, 1))
    ops = check_plan(actual, wanted)
    assert kinds(ops) == ["flows_delete_cookie", "group_delete", "meter_delete"]
    assert [op.value for op in ops][0] == B


def test_stale_flow_of_a_kept_service_is_deleted_strictly_after_the_adds() -> None:
    stale = Flow(1, 2000, match(vlan_vid=0x1000 | 10, eth_dst="00:00:00:00:00:09"),
                 actions=(("output", 4),), cookie=A)
    new = Flow(1, 2000, match(vlan_vid=0x1000 | 10, eth_dst="00:00:00:00:00:08"),
               actions=(("output", 4),), cookie=A)
    ops = check_plan(tables(MISS, fwd(A, 10, 1), stale), tables(MISS, fwd(A, 10, 1), new))
    assert kinds(ops) == ["flow_add", "flow_delete"]
    assert ops[1].value == stale


def test_foreign_flows_are_removed() -> None:
    foreign = Flow(0, 5, match(in_port=1), actions=(("output", 2),), cookie=0)
    assert kinds(check_plan(tables(MISS, foreign), tables(MISS))) == ["flows_delete_cookie"]


def test_the_applier_refuses_what_breaks_traffic() -> None:
    """`states` itself must catch a wrong order, or the checks above prove nothing."""
    group, meter = Group(10, ((("output", 1),),)), Meter(3, 1000, 100)
    user = Flow(1, 1000, match(vlan_vid=0x1000 | 10), actions=(("group", 10),), meter=3,
                cookie=A)
    full = tables(MISS, user, group, meter)
    wrong = [[Op("flow_add", user), Op("group_add", group), Op("meter_add", meter)],
             [Op("group_delete", group), Op("flow_delete", user), Op("meter_delete", meter)],
             [Op("meter_delete", meter), Op("flows_delete_cookie", A), Op("group_delete", group)]]
    for start, ops in zip((tables(MISS), full, full), wrong, strict=True):
        try:
            list(states(start, ops))
        except AssertionError:
            continue
        raise AssertionError(f"{ops} accepted")
