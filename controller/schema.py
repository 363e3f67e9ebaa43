"""The tables of the core (SQLAlchemy Core) and their forward migrations.

Uniqueness that matters under concurrency is declared here, so the database
refuses a double allocation even if two controllers share it: one live
service per VLAN, one live membership per interface and per party in a
service, one interface per edge port.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    select,
    text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, nullable=False),
)

parties = Table(
    "parties", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("status", String(16), nullable=False),
    Column("service_kinds", JSON, nullable=False),
    Column("max_bandwidth_mbps", Integer, nullable=False),
    Column("max_channels", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
)

interfaces = Table(
    "interfaces", metadata,
    Column("id", Integer, primary_key=True),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("switch", String(64), nullable=False),
    Column("port", Integer, nullable=False),
    Column("mac", String(17), nullable=False, unique=True),
    Column("location", String(200), nullable=False, server_default=""),
    UniqueConstraint("party_id", "name"),
    UniqueConstraint("switch", "port"),
)

services = Table(
    "services", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("owner_id", Integer, ForeignKey("parties.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("vlan", Integer),
    Column("provisioning", JSON, nullable=False),
    Column("created_at", Float, nullable=False),
)

_LIVE_SERVICE = text("state != 'deleted'")
Index("uq_live_service_vlan", services.c.vlan, unique=True,
      sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)
Index("uq_live_service_name", services.c.owner_id, services.c.name, unique=True,
      sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)

members = Table(
    "members", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id"), nullable=False),
    # NULL once a non-live member's interface was deleted by its party.
    Column("interface_id", Integer, ForeignKey("interfaces.id")),
    Column("role", String(8), nullable=False),
    Column("state", String(16), nullable=False),
    Column("error", String(500)),
    Column("created_at", Float, nullable=False),
)

_LIVE_MEMBER = text("state IN ('accepted', 'provisioned')")
Index("uq_live_member_interface", members.c.interface_id, unique=True,
      sqlite_where=_LIVE_MEMBER, postgresql_where=_LIVE_MEMBER)
Index("uq_live_member_party", members.c.service_id, members.c.party_id, unique=True,
      sqlite_where=_LIVE_MEMBER, postgresql_where=_LIVE_MEMBER)

offers = Table(
    "offers", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("party_id", Integer, ForeignKey("parties.id")),
    Column("code_hash", String(64), unique=True),
    Column("state", String(16), nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("decided_at", Float),
)
Index("ix_offers_state_expiry", offers.c.state, offers.c.expires_at)

reservations = Table(
    "reservations", metadata,
    Column("service_id", Integer, ForeignKey("services.id"), primary_key=True),
    Column("link", String(140), primary_key=True),   # the link's `a` end, "switch:port"
    Column("mbps", Integer, nullable=False),
)

orders = Table(
    "orders", metadata,
    Column("id", Integer, primary_key=True),
    Column("service_id", Integer, ForeignKey("services.id"), nullable=False),
    Column("member_id", Integer, ForeignKey("members.id"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("fulfilled_at", Float),
)

events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("service_id", Integer),
    Column("party", String(64)),
    Column("detail", JSON, nullable=False),
)

# One row every workflow step updates first: on a database without SQLite's
# BEGIN IMMEDIATE (PostgreSQL, several controllers) the row lock serialises
# the steps, so a check (capacity, slots) and its write see the same state.
write_gate = Table(
    "write_gate", metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
)

APP_TABLES = (parties, interfaces, services, members, offers, reservations, orders, events)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(APP_TABLES))


def _add_write_gate_v2(conn: Connection) -> None:
    write_gate.create(conn)
    conn.execute(write_gate.insert().values(id=1, generation=0))


# MIGRATIONS[i] brings the schema from version i to i + 1. Append only; a
# later change alters tables here and updates the Table definitions above.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_create_v1, _add_write_gate_v2)
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(conn: Connection) -> int:
    """Apply the missing migrations inside the caller's transaction; return the version."""
    schema_version.create(conn, checkfirst=True)
    current = conn.execute(select(schema_version.c.version)).scalar()
    if current is None:
        conn.execute(schema_version.insert().values(version=0))
        current = 0
    if current > SCHEMA_VERSION:
        raise RuntimeError(f"database schema version {current} is newer than this "
                           f"controller's {SCHEMA_VERSION}; upgrade metroshare")
    for step in MIGRATIONS[current:]:
        step(conn)
    conn.execute(schema_version.update().values(version=SCHEMA_VERSION))
    return SCHEMA_VERSION
