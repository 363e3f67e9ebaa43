"""Version 2: the write_gate row every workflow step updates first."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    gate = op.create_table(
        "write_gate",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False))
    op.bulk_insert(gate, [{"id": 1, "generation": 0}])
