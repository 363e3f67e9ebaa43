"""VLAN tags: allocated from a configurable pool, never-used first, then the
least recently freed.

A tag belongs to at most one service (the partial unique index in
`controller.schema` says so too for live ones). A service holds its tag while
it has two or more live members, so that the pool is not drained by services
nobody joined, and while a switch has yet to confirm the removal of its rules
(a leaving member). When the tag returns to the pool (`release`) it is
stamped; allocation takes the lowest tag never used, and only when none is
left the one freed longest ago, so a tag whose stale rules may still sit on a
switch that was away is the last to be given to another service.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, case, delete, func, insert, select

from controller.errors import conflict
from controller.schema import services, vlan_freed


def allocate(conn: Connection, pool: Iterable[int]) -> int:
    """The first tag of `pool` (the lowest, for a range) that no service holds and
    none ever released; else the free tag released longest ago; 409 when none is
    left. A range costs one or two queries, however many tags are held."""
    runs = list(_runs(pool))
    for run in runs:
        vlan = _first_free(conn, run)
        if vlan is not None:
            return vlan
    oldest = None
    for run in runs:
        found = conn.execute(_OLDEST_FREED, {"low": run.start, "high": run.stop - 1}).first()
        if found is not None and (oldest is None or found.at < oldest.at):
            oldest = found
    if oldest is None:
        raise conflict("vlan_pool_exhausted", "every VLAN of the pool is in use by a service")
    conn.execute(delete(vlan_freed).where(vlan_freed.c.vlan == oldest.vlan))
    return oldest.vlan


def release(conn: Connection, vlan: int | None, now: float) -> None:
    """A service gave `vlan` back: it is free again, stamped with when."""
    if vlan is not None:
        conn.execute(delete(vlan_freed).where(vlan_freed.c.vlan == vlan))
        conn.execute(insert(vlan_freed).values(vlan=vlan, at=now))


_OLDEST_FREED = (select(vlan_freed.c.vlan, vlan_freed.c.at)
                 .where(vlan_freed.c.vlan.between(bindparam("low"), bindparam("high")))
                 .order_by(vlan_freed.c.at).limit(1))


def _runs(pool: Iterable[int]) -> Iterator[range]:
    """The pool as ranges of consecutive tags, in the pool's order."""
    if isinstance(pool, range) and pool.step == 1:
        yield from [pool] if pool else []
        return
    start = stop = None
    for tag in pool:
        if tag != stop:
            if start is not None:
                yield range(start, stop)
            start = tag
        stop = tag + 1
    if start is not None:
        yield range(start, stop)


def _held(low: Any, high: Any) -> Any:
    """How many tags from `low` to `high` a service holds or was ever released.

    A service holds its tag exactly while `services.vlan` is set (a removal
    that waits for a switch keeps it set), and a tag leaves `vlan_freed` when
    it is taken, so the two counts never count one tag twice."""
    held = select(func.count()).where(services.c.vlan.between(low, high)).scalar_subquery()
    freed = select(func.count()).where(vlan_freed.c.vlan.between(low, high)).scalar_subquery()
    return held + freed


def _first_free_query() -> Select:
    """The lowest free tag from `low` to `high`, by halving inside the database.

    Services hold distinct tags, so [lo, mid] is all held (or used before)
    exactly when it counts mid - lo + 1 of them: each step keeps the half
    where the first free tag lies, in about twelve counts over the indexes."""
    halves = select(bindparam("low", type_=Integer).label("lo"),
                    bindparam("high", type_=Integer).label("hi")).cte("halves", recursive=True)
    lo, hi = halves.c.lo, halves.c.hi
    mid = (lo + hi) // 2
    full = _held(lo, mid) == mid - lo + 1
    halves = halves.union_all(select(case((full, mid + 1), else_=lo), case((full, hi), else_=mid))
                              .where(lo < hi))
    last = halves.c.lo
    return select(last).where(last == halves.c.hi, _held(last, last) == 0)


_FIRST_FREE = _first_free_query()


def _first_free(conn: Connection, run: range) -> int | None:
    """The lowest tag of `run` no live service holds, or None."""
    return conn.execute(_FIRST_FREE, {"low": run.start, "high": run.stop - 1}).scalar()


def check_pool(pool: Iterable[int]) -> range | tuple[int, ...]:
    """The pool as given, refused if it holds a tag outside 1..4094."""
    tags = pool if isinstance(pool, range) else tuple(sorted(set(pool)))
    if any(not 1 <= tag <= 4094 for tag in (min(tags, default=2), max(tags, default=2))):
        raise ValueError("VLAN pool must hold tags from 1 to 4094")
    return tags
