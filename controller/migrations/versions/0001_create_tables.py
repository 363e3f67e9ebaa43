"""Version 1: parties, interfaces, services, members, offers, reservations,
orders, events, as they were then (offers had no owner_id yet)."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LIVE_SERVICE = sa.text("state != 'deleted'")
_LIVE_MEMBER = sa.text("state IN ('accepted', 'provisioned')")


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("service_kinds", sa.JSON, nullable=False),
        sa.Column("max_bandwidth_mbps", sa.Integer, nullable=False),
        sa.Column("max_channels", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False))
    op.create_table(
        "interfaces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("party_id", sa.Integer, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("switch", sa.String(64), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("mac", sa.String(17), nullable=False, unique=True),
        sa.Column("location", sa.String(200), nullable=False, server_default=""),
        sa.UniqueConstraint("party_id", "name"),
        sa.UniqueConstraint("switch", "port"))
    op.create_table(
        "services",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("owner_id", sa.Integer, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("vlan", sa.Integer),
        sa.Column("provisioning", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False))
    op.create_index("uq_live_service_vlan", "services", ["vlan"], unique=True,
                    sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)
    op.create_index("uq_live_service_name", "services", ["owner_id", "name"], unique=True,
                    sqlite_where=_LIVE_SERVICE, postgresql_where=_LIVE_SERVICE)
    op.create_table(
        "members",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False),
        sa.Column("party_id", sa.Integer, sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("interface_id", sa.Integer, sa.ForeignKey("interfaces.id")),
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("created_at", sa.Float, nullable=False))
    op.create_index("uq_live_member_interface", "members", ["interface_id"], unique=True,
                    sqlite_where=_LIVE_MEMBER, postgresql_where=_LIVE_MEMBER)
    op.create_index("uq_live_member_party", "members", ["service_id", "party_id"],
                    unique=True, sqlite_where=_LIVE_MEMBER, postgresql_where=_LIVE_MEMBER)
    op.create_table(
        "offers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False),
        sa.Column("party_id", sa.Integer, sa.ForeignKey("parties.id")),
        sa.Column("code_hash", sa.String(64), unique=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("decided_at", sa.Float))
    op.create_index("ix_offers_state_expiry", "offers", ["state", "expires_at"])
    op.create_table(
        "reservations",
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), primary_key=True),
        sa.Column("link", sa.String(140), primary_key=True),
        sa.Column("mbps", sa.Integer, nullable=False))
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, sa.ForeignKey("services.id"), nullable=False),
        sa.Column("member_id", sa.Integer, sa.ForeignKey("members.id"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("fulfilled_at", sa.Float))
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("service_id", sa.Integer),
        sa.Column("party", sa.String(64)),
        sa.Column("detail", sa.JSON, nullable=False))
