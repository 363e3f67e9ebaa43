"""Alembic's revisions build exactly the tables the code declares, from an empty
database on both engines and from a database the home-made migrations made."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from controller.migrations import head
from controller.schema import metadata
from controller.store import Store, open_store


def _differences(store: Store) -> list:
    """What autogenerate would change. It cannot see a partial index's WHERE
    (it compares names, columns and uniqueness only), so those predicates are
    checked by the refusal tests of the core, not here."""
    with store.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_a_fresh_database_matches_the_code(db_url: str) -> None:
    store = open_store(db_url)
    assert store.version == head()
    assert _differences(store) == []
    store.close()


def test_a_version_6_database_of_the_old_code_is_upgraded(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'v6.db'}")
    with engine.begin() as conn:
        for statement in (Path(__file__).parent / "schema_v6.sql").read_text().split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.execute(text("INSERT INTO parties (name, token_hash, status, service_kinds, "
                          "max_bandwidth_mbps, max_channels, created_at) VALUES "
                          "('acme', 'h', 'active', '[]', 100, 5, 0)"))
        conn.execute(text("INSERT INTO services (name, kind, attributes, owner_id, state, "
                          "vlan, provisioning, created_at) VALUES "
                          "('s', 'ethernet-channel', '{}', 1, 'active', 7, '{}', 0)"))
    engine.dispose()
    store = open_store(str(tmp_path / "v6.db"))
    assert store.version == head()
    assert _differences(store) == []
    tables = inspect(store.engine).get_table_names()
    assert "schema_version" not in tables
    with store.read() as conn:
        assert conn.execute(text("SELECT revision, applied_revision FROM services")).one() == (0, 0)
        assert conn.execute(text("SELECT id, generation FROM leadership")).one() == (1, 0)
    store.close()
