"""VLAN tags: allocated from a configurable pool, lowest free first.

A tag belongs to at most one live service (the partial unique index in
`controller.schema` says so too). A service holds its tag while it has two
or more live members, so that the pool is not drained by services nobody
joined; when it drops back to one member, or is torn down, the tag returns
to the pool and the next acceptance allocates again (lowest free).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, case, func, select

from controller.errors import conflict
from controller.model import DELETED
from controller.schema import services


def allocate(conn: Connection, pool: Iterable[int]) -> int:
    """The first tag of `pool` (the lowest, for a range) no live service holds; 409
    when none is left. A range costs one query, however many tags are held."""
    for run in _runs(pool):
        vlan = _first_free(conn, run)
        if vlan is not None:
            return vlan
    raise conflict("vlan_pool_exhausted", "every VLAN of the pool is in use by a live service")


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
    """How many live services hold a tag from `low` to `high`."""
    return select(func.count()).where(services.c.vlan.between(low, high),
                                      services.c.state != DELETED).scalar_subquery()


def _first_free_query() -> Select:
    """The lowest free tag from `low` to `high`, by halving inside the database.

    Live services hold distinct tags (the unique index), so [lo, mid] is all
    held exactly when it holds mid - lo + 1 of them: each step keeps the half
    where the first free tag lies, in about twelve counts over the index."""
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
