"""Version 4: the switches and links the controller saw go down."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "network_down",
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("name", sa.String(140), primary_key=True))
