"""Several controllers on PostgreSQL: the leadership row, a revision per service
(what the leader wants on the switches vs what it confirmed), a shared admin token."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    leadership = op.create_table(
        "leadership",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("leader", sa.String(128)),
        sa.Column("since", sa.Float))
    op.bulk_insert(leadership, [{"id": 1, "generation": 0}])
    op.add_column("services", sa.Column("revision", sa.Integer, nullable=False,
                                        server_default="0"))
    op.add_column("services", sa.Column("applied_revision", sa.Integer, nullable=False,
                                        server_default="0"))
    op.create_table(
        "admin_token",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("token", sa.String(128), nullable=False))
