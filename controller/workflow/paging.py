"""Pages of the list views (CONTRACT §3): at most `limit` items after an id.

A list is ordered by id (the audit log newest first), so a page is one
indexed range read of `limit + 1` rows, the extra row only saying that more
remain: the millionth page costs what the first does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Connection, Select, select

from controller import validation
from controller.model import MAX_ID
from controller.workflow.context import Row

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page(list):
    """One page of views; a plain list to its callers, with `more` when others follow."""

    def __init__(self, items: Iterable[Any] = (), more: bool = False) -> None:
        super().__init__(items)
        self.more = more

    @property
    def next_after(self) -> int | None:
        """The `after` that reads the next page; None on the last one."""
        return self[-1]["id"] if self.more and self else None


def window(limit: Any, after: Any) -> tuple[int, int | None]:
    """`limit` 1..1000 and `after` an id or None; else 400 naming the field."""
    limit = validation.integer(limit, "limit", 1, MAX_LIMIT)
    if after is not None:
        after = validation.integer(after, "after", 0, MAX_ID)
    return limit, after


def leading(column: Column, limit: int, after: int | None, *conditions: Any) -> Select:
    """The first `limit + 1` distinct values of `column` past `after` among the rows
    meeting `conditions`, for an index that yields them in order. A page of a
    union of such sets lies within the union of their leading values."""
    query = select(column).where(*conditions).distinct()
    if after is not None:
        query = query.where(column > after)
    return select(query.order_by(column).limit(limit + 1).subquery())


def read(conn: Connection, query: Select, id_column: Column, limit: int, after: int | None,
         newest_first: bool = False) -> tuple[list[Row], bool]:
    """The rows of one page of `query` and whether more remain.

    Ascending lists continue above `after`; newest-first ones below it."""
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    order = id_column.desc() if newest_first else id_column
    rows = conn.execute(query.order_by(order).limit(limit + 1)).mappings().all()
    return list(rows[:limit]), len(rows) > limit
