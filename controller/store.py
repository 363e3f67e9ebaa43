"""Where the core keeps its state: a database reached through SQLAlchemy Core.

SQLite by default (WAL, foreign keys, `BEGIN IMMEDIATE` so a workflow step
takes the write lock before it reads what it will decide on), for one
controller; PostgreSQL (`postgresql://USER@HOST/DB` or
`postgresql://USER@/DB?host=/var/run/postgresql`, driven by psycopg2 made
green under eventlet) for several, where the `write_gate` row lock
serialises the steps instead. Each workflow step is one `transaction()`.

A dedicated PostgreSQL connection (LISTEN/NOTIFY, a session advisory lock)
is `dedicated_connection(store.engine.url)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from os import PathLike
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, select, update
from sqlalchemy.exc import DisconnectionError, IntegrityError

from controller.errors import ServiceError, conflict
from controller.migrations import upgrade
from controller.schema import leadership, write_gate

# A unique index the database enforced although the core checked first: only
# a concurrent writer elsewhere can cause it. SQLite names the columns,
# PostgreSQL the index or constraint (`<table>_<columns>_key` for a UNIQUE
# column); either fragment identifies the clash.
_CLASHES = (
    (("services.vlan", "uq_live_service_vlan"), "vlan_pool_exhausted",
     "the VLAN was taken by a concurrent request; retry"),
    (("members.interface_id", "uq_live_member_interface"), "interface_busy",
     "the interface was taken by a concurrent request"),
    (("members.service_id, members.party_id", "uq_live_member_party"), "already_member",
     "the party joined the service in a concurrent request"),
    (("services.owner_id, services.name", "uq_live_service_name", "parties.name",
      "parties_name_key"), "name_taken",
     "the name was taken by a concurrent request"),
    (("interfaces.switch", "interfaces.mac", "interfaces_switch_port_key",
      "interfaces_mac_key"), "interface_busy",
     "the port or MAC was registered by a concurrent request"),
    (("offers.service_id, offers.party_id", "uq_pending_offer_party"), "offer_exists",
     "the party was offered the service in a concurrent request"),
)


def _sqlite_url(url_or_path: str) -> str:
    return url_or_path if "://" in url_or_path else f"sqlite:///{url_or_path}"


def is_postgresql(url: str | PathLike[str]) -> bool:
    """Whether a --db value names a PostgreSQL database (any driver suffix)."""
    return str(url).startswith(("postgresql:", "postgresql+", "postgres:"))


def _psycopg2_url(url: str) -> str:
    """The contract's `postgresql://...` with the driver we chose spelled out
    (a URL naming its driver, `postgresql+...://`, is kept)."""
    scheme, rest = url.split("://", 1)
    return url if "+" in scheme else f"postgresql+psycopg2://{rest}"


def dedicated_connection(url: str | URL) -> Any:
    """A DBAPI connection of its own (not from a pool), in autocommit: for a
    PostgreSQL session that must outlive transactions (LISTEN, a session
    advisory lock) or must not run migrations (creating databases)."""
    url = make_url(_psycopg2_url(str(url)) if is_postgresql(str(url)) else url)
    dialect_class = url.get_dialect()
    dialect = dialect_class(dbapi=dialect_class.import_dbapi())
    args, kwargs = dialect.create_connect_args(url)
    conn = dialect.connect(*args, **kwargs)
    conn.autocommit = True
    return conn


_green_psycopg2 = False


def _make_psycopg2_green() -> None:
    """Under eventlet (sockets patched, as Ryu does) psycopg2 must wait through
    the hub, or each query blocks every switch's connection."""
    global _green_psycopg2
    import eventlet.patcher

    if not _green_psycopg2 and eventlet.patcher.is_monkey_patched("socket"):
        import psycogreen.eventlet

        psycogreen.eventlet.patch_psycopg()
        _green_psycopg2 = True


DB_CONNECTIONS = 30  # per process, on a database server: 20 for transactions, 10 for reads
MIN_CONNECTIONS = 2  # one for transactions, one for reads
# A pooled connection used this recently is not pinged before it is used again.
IDLE_PING_S = 1.0
_IDLE_SINCE = "metroshare.idle_since"


def _ping_when_idle(engine: Engine) -> None:
    """`pool_pre_ping` for a connection idle longer than `IDLE_PING_S` only.

    A ping on every checkout was a round trip in each of an acceptance's five
    or six checkouts on PostgreSQL. A connection the server served within the
    last second is alive unless the server restarted within that second; a
    restart that quick costs the one request that finds it an error (nothing
    changed: its transaction never opened), and the pool reconnects after it."""

    @event.listens_for(engine, "connect")
    def _connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, float("-inf")) <= IDLE_PING_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # dead: the pool drops it and checks out another
            raise DisconnectionError(str(exc)) from exc


def _tune_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and explicit BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


# The gate also reads the leader's generation: a new leader takes it behind the
# gate, so it holds for the whole transaction, and `generation_at_gate` saves a
# fenced step (one that records what the switches did) a statement of its own.
_OPEN_GATE = update(write_gate).values(generation=write_gate.c.generation + 1).returning(
    select(leadership.c.generation).where(leadership.c.id == 1).scalar_subquery())
_GATE_READ = "metroshare.generation_at_gate"


def remember(conn: Connection, key: str, value: Any) -> None:
    """Keep `value` for the rest of this transaction (`recall`). `conn.info`
    outlives transactions (it is the pooled connection's), so the value is kept
    with the transaction it belongs to."""
    conn.info[key] = (conn.get_transaction(), value)


def recall(conn: Connection, key: str) -> Any:
    """What this transaction `remember`ed under `key`; None if nothing."""
    transaction, value = conn.info.get(key, (None, None))
    return value if transaction is conn.get_transaction() else None


def generation_at_gate(conn: Connection) -> int | None:
    """The leader's generation read when this transaction opened the gate (None:
    not a `Store.transaction`)."""
    return recall(conn, _GATE_READ)


def _inline(call: Callable[[], Any]) -> Any:
    return call()


class Store:
    """An engine with the schema brought up to date.

    `offload` runs each commit, the one call that waits for the disk (fsync):
    under eventlet the controller passes `eventlet.tpool.execute`, so a commit
    blocks only its own request, never the hub that answers the switches.
    """

    def __init__(self, engine: Engine, offload: Callable[[Callable[[], Any]], Any] = _inline,
                 reader: Engine | None = None) -> None:
        self.engine = engine
        self.offload = offload
        self.reader = reader
        with engine.begin() as conn:
            self.version = upgrade(conn)  # the Alembic revision, e.g. "0007"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One workflow step: commit on success, roll back on any exception."""
        try:
            with self.engine.connect() as conn:
                trans = conn.begin()
                try:
                    remember(conn, _GATE_READ, conn.execute(_OPEN_GATE).scalar_one())
                    yield conn
                except BaseException:
                    trans.rollback()
                    raise
                self.offload(trans.commit)
        except IntegrityError as exc:
            raise _clash(exc) from exc

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read that does not take the write lock. On SQLite one snapshot (a
        deferred transaction); on PostgreSQL each statement sees what was
        committed before it began, which is all a READ COMMITTED transaction
        gives reads there too, so none is opened (`reader`, a pool of its own
        in autocommit): no BEGIN and COMMIT round trips, two of a
        one-statement read's four."""
        if self.reader is not None:
            with self.reader.connect() as conn:
                yield conn
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_begin="DEFERRED")
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()
        if self.reader is not None:
            self.reader.dispose()


def _clash(exc: IntegrityError) -> ServiceError | IntegrityError:
    message = str(exc.orig)
    for fragments, code, sentence in _CLASHES:
        if any(fragment in message for fragment in fragments):
            return conflict(code, sentence)
    return exc


def pool_sizes(connections: int) -> tuple[int, int]:
    """How a process's `connections` to a database server are shared: (at most for
    transactions, at most for reads)."""
    if connections < MIN_CONNECTIONS:
        raise ValueError(f"at least {MIN_CONNECTIONS} connections, got {connections}")
    reads = max(1, connections // 3)
    return connections - reads, reads


def _pooled(url: str, most: int, **options: Any) -> Engine:
    """A pool of at most `most` connections, half of them kept open between uses."""
    kept = (most + 1) // 2
    engine = create_engine(url, pool_size=kept, max_overflow=most - kept, **options)
    _ping_when_idle(engine)
    return engine


def open_store(url_or_path: str | PathLike[str],
               offload: Callable[[Callable[[], Any]], Any] = _inline,
               connections: int = DB_CONNECTIONS) -> Store:
    """Open (and migrate) the database at a SQLAlchemy URL or a SQLite file path.

    On a database server this process opens at most `connections` (`pool_sizes`);
    a SQLite file is not a server and ignores it. On PostgreSQL `offload` is
    ignored: a green psycopg2 call must stay on the hub (it breaks in a real
    thread), and its commits do not block the hub."""
    url = _sqlite_url(str(url_or_path))
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        _tune_sqlite(engine)
        return Store(engine, offload)
    if is_postgresql(url):
        _make_psycopg2_green()
        url = _psycopg2_url(url)
    transactions, reads = pool_sizes(connections)
    if not is_postgresql(url):
        return Store(_pooled(url, transactions))
    # Reads in autocommit from a pool of their own: switching a pooled connection
    # there and back would cost a SET each way, as much as the BEGIN and COMMIT.
    return Store(_pooled(url, transactions),
                 reader=_pooled(url, reads, isolation_level="AUTOCOMMIT"))
