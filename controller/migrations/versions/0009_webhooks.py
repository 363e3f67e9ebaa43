"""Webhooks: where parties (and the provider) have their events POSTed, and the
outbox of deliveries written with each event."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PENDING_DELIVERY = sa.text("next_attempt_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("party_id", sa.Integer, sa.ForeignKey("parties.id")),
        sa.Column("url", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_webhooks_party_id", "webhooks", ["party_id"])
    op.create_table(
        "deliveries",
        sa.Column("webhook_id", sa.Integer, sa.ForeignKey("webhooks.id"), primary_key=True),
        sa.Column("event_id", sa.Integer, sa.ForeignKey("events.id"), primary_key=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Float),
        sa.Column("delivered_at", sa.Float),
        sa.Column("last_error", sa.String(500)),
    )
    op.create_index("ix_deliveries_pending", "deliveries", ["webhook_id", "event_id"],
                    sqlite_where=_PENDING_DELIVERY, postgresql_where=_PENDING_DELIVERY)
