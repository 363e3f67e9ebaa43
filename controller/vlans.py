"""VLAN tags: allocated from a configurable pool, lowest free first.

A tag belongs to at most one live service (the partial unique index in
`controller.schema` says so too). A service holds its tag while it has two
or more live members, so that the pool is not drained by services nobody
joined; when it drops back to one member, or is torn down, the tag returns
to the pool and the next acceptance allocates again (lowest free).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from controller.errors import conflict
from controller.model import DELETED
from controller.schema import services


def allocate(conn: Connection, pool: Iterable[int]) -> int:
    """The lowest tag of `pool` no live service holds; 409 when none is left."""
    taken = set(conn.execute(select(services.c.vlan).where(
        services.c.vlan.is_not(None), services.c.state != DELETED)).scalars())
    for vlan in pool:
        if vlan not in taken:
            return vlan
    raise conflict("vlan_pool_exhausted", "every VLAN of the pool is in use by a live service")


def check_pool(pool: Iterable[int]) -> range | tuple[int, ...]:
    """The pool as given, refused if it holds a tag outside 1..4094."""
    tags = pool if isinstance(pool, range) else tuple(sorted(set(pool)))
    if any(not 1 <= tag <= 4094 for tag in (min(tags, default=2), max(tags, default=2))):
        raise ValueError("VLAN pool must hold tags from 1 to 4094")
    return tags
