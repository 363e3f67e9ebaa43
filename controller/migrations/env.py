"""Alembic's entry point: always online, on the connection the store passed in."""

from __future__ import annotations

from alembic import context

from controller.schema import metadata

context.configure(connection=context.config.attributes["connection"],
                  target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
