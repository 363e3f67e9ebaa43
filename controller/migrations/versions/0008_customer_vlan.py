"""Service multiplexing (EVPL / EVP-LAN): a member's customer VLAN on its interface
(0: untagged), and one holder per (interface, customer VLAN) instead of per interface."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_HOLDING_MEMBER = sa.text("state IN ('accepted', 'provisioned', 'leaving', 'suspended')")


def upgrade() -> None:
    op.add_column("members", sa.Column("ce_vlan", sa.Integer, nullable=False,
                                       server_default="0"))
    op.drop_index("uq_live_member_interface", table_name="members")
    op.create_index("uq_live_member_interface", "members", ["interface_id", "ce_vlan"],
                    unique=True, sqlite_where=_HOLDING_MEMBER, postgresql_where=_HOLDING_MEMBER)
