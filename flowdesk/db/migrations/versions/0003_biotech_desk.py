"""the biotech desk: insights, alerts, risk score history, company scans; metric samples;
the system user

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
# The owner of runs that Prefect starts on its own: the desk's timetable and
# `prefect deployment run` (flowdesk.db.models.SYSTEM_USER_ID).
SYSTEM_USER_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
USERS = sa.table(
    "users",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("is_admin", sa.Boolean()),
    sa.column("created_at", TIMESTAMP),
)


def _run_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["run_id"], ["runs.id"], name=op.f(f"fk_{table}_run_id_runs"), ondelete="SET NULL"
    )


def upgrade() -> None:
    op.create_table(
        "insights",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("company_id", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", TIMESTAMP, nullable=False),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=False),
        sa.Column("materiality", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        _run_fk("insights"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insights")),
        sa.UniqueConstraint("company_id", "fingerprint", name="uq_insights_company_fingerprint"),
    )
    with op.batch_alter_table("insights") as batch_op:
        batch_op.create_index("ix_insights_company_published", ["company_id", "published_at"])
        batch_op.create_index("ix_insights_created", ["created_at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("insight_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("company_id", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("deliveries", JSON, nullable=False),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["insight_id"],
            ["insights.id"],
            name=op.f("fk_alerts_insight_id_insights"),
            ondelete="CASCADE",
        ),
        _run_fk("alerts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("insight_id", name=op.f("uq_alerts_insight_id")),
    )
    with op.batch_alter_table("alerts") as batch_op:
        batch_op.create_index("ix_alerts_company_created", ["company_id", "created_at"])
    op.create_table(
        "risk_scores",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("company_id", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("previous", sa.Float(), nullable=True),
        sa.Column("delta", sa.Float(), nullable=False),
        sa.Column("drivers", JSON, nullable=False),
        sa.Column("computed_at", TIMESTAMP, nullable=False),
        _run_fk("risk_scores"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_scores")),
    )
    with op.batch_alter_table("risk_scores") as batch_op:
        batch_op.create_index("ix_risk_scores_company_computed", ["company_id", "computed_at"])
    op.create_table(
        "company_scans",
        sa.Column("company_id", sa.String(length=16), nullable=False),
        sa.Column("last_scanned_at", TIMESTAMP, nullable=False),
        sa.Column("last_run_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["runs.id"],
            name=op.f("fk_company_scans_last_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_company_scans")),
    )

    op.create_table(
        "metric_samples",
        sa.Column("name", sa.String(length=96), nullable=False),
        sa.Column("labels", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", "labels", name=op.f("pk_metric_samples")),
    )
    op.bulk_insert(
        USERS,
        [
            {
                "id": SYSTEM_USER_ID,
                "name": "system",
                "is_admin": True,
                "created_at": datetime.now(UTC),
            }
        ],
    )


def downgrade() -> None:
    op.execute(sa.delete(USERS).where(USERS.c.id == SYSTEM_USER_ID))
    op.drop_table("metric_samples")
    op.drop_table("company_scans")
    op.drop_table("risk_scores")
    op.drop_table("alerts")
    op.drop_table("insights")
