"""The schema's history as Alembic revisions, run by the store when it opens.

No alembic.ini: the Config is built here and the store's open connection is
passed through `config.attributes`, so the upgrade is part of the store's
first transaction. A database made before Alembic (a `schema_version` table
holding version k) is stamped at revision k, upgraded, and loses that table.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, inspect, text

# Two controllers starting together on PostgreSQL upgrade one after the other.
_UPGRADE_LOCK = 0x6D657472  # "metr"


def _config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = conn
    return config


def head() -> str:
    """The revision this controller's code expects."""
    return ScriptDirectory(str(Path(__file__).parent)).get_current_head()


def upgrade(conn: Connection) -> str:
    """Bring the schema to head inside the caller's transaction; return the revision."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
    config = _config(conn)
    legacy = _legacy_version(conn)
    current = legacy or MigrationContext.configure(conn).get_current_revision()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise RuntimeError(f"database schema revision {current} is newer than this "
                           f"controller's {head()}; upgrade metroshare")
    try:
        if legacy:
            command.stamp(config, legacy)
        command.upgrade(config, "head")
    except CommandError as exc:  # e.g. a revision this controller does not have
        raise RuntimeError(f"database schema is newer than this controller's {head()} "
                           f"({exc}); upgrade metroshare") from exc
    if legacy is not None:
        conn.execute(text("DROP TABLE schema_version"))
    return MigrationContext.configure(conn).get_current_revision()


def _legacy_version(conn: Connection) -> str | None:
    """The revision id of a database the home-made migrations brought to version k
    ("" for version 0: nothing there yet), or None for an Alembic or empty one."""
    tables = inspect(conn).get_table_names()
    if "schema_version" not in tables or "alembic_version" in tables:
        return None
    version = conn.execute(text("SELECT max(version) FROM schema_version")).scalar() or 0
    return f"{version:04d}" if version else ""
