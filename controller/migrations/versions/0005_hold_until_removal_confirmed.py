"""Version 5: a leaving or suspended member keeps its interface; freed VLAN tags."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_HOLDING_MEMBER = sa.text("state IN ('accepted', 'provisioned', 'leaving', 'suspended')")


def upgrade() -> None:
    op.drop_index("uq_live_member_interface", table_name="members")
    op.create_index("uq_live_member_interface", "members", ["interface_id"], unique=True,
                    sqlite_where=_HOLDING_MEMBER, postgresql_where=_HOLDING_MEMBER)
    op.create_table(
        "vlan_freed",
        sa.Column("vlan", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False))
    op.create_index("ix_vlan_freed_at", "vlan_freed", ["at"])
