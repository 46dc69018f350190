"""Tables: users and their API keys, and runs with their reproducible snapshots."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Enum,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flowdesk.db.types import JSONType, UTCDateTime, utcnow

# Named constraints, so that migrations can alter them on both backends.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The owner of runs Prefect starts on its own (the desk's timetable, `prefect deployment
# run`); created by migration 0003, it has no API keys.
SYSTEM_USER_ID = uuid.UUID("00000000-0000-0000-0000-000000000001")
SYSTEM_USER_NAME = "system"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CRASHED = "crashed"
    # A schedule tick that was not run, with the reason: market closed, stale, superseded.
    SKIPPED = "skipped"
    # Failed after every retry because a dependency stayed down: listed as a dead letter,
    # to be requeued from its snapshot once the dependency is back.
    DEAD_LETTERED = "dead_lettered"

    @property
    def is_terminal(self) -> bool:
        return self not in (RunStatus.PENDING, RunStatus.RUNNING)


TERMINAL_STATUSES = tuple(s for s in RunStatus if s.is_terminal)


class JobType(enum.StrEnum):
    SCREENER = "screener"
    REPORT = "report"
    # The biotech desk's company news analysis: the daily scan and the hourly quick scan.
    ANALYSIS = "analysis"
    # Data cleanup, database optimisation, report archival: admin only.
    MAINTENANCE = "maintenance"


def _str_enum(enum_cls: type[enum.StrEnum]) -> Enum:
    # Stored as plain strings (no native enum, no CHECK) so later issues add values
    # without a table rewrite on SQLite.
    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The public part of the key, used to find the row; the secret is only hashed.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship(back_populates="keys")


class Schedule(Base):
    """A user's cron schedule; Prefect runs it through a deployment of its own."""

    __tablename__ = "schedules"
    __table_args__ = (
        UniqueConstraint("owner_id", "name", name="uq_schedules_owner_name"),
        Index("ix_schedules_owner_created", "owner_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(128))
    # The Prefect deployment's name: unique, readable, stable across renames.
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    job_type: Mapped[JobType] = mapped_column(_str_enum(JobType))
    target: Mapped[str] = mapped_column(String(128))
    task_params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    calendar: Mapped[str | None] = mapped_column(String(32), default=None)
    catchup: Mapped[str] = mapped_column(String(16), default="latest")
    stale_after_seconds: Mapped[int] = mapped_column(default=3600)
    priority: Mapped[str] = mapped_column(String(16), default="default")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    prefect_deployment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # A client retrying a submission with the same key gets the same run.
        UniqueConstraint("owner_id", "idempotency_key", name="uq_runs_owner_idempotency_key"),
        # One run per schedule tick, however many flow runs Prefect makes for it.
        UniqueConstraint("schedule_id", "scheduled_for", name="uq_runs_schedule_tick"),
        Index("ix_runs_owner_created", "owner_id", "created_at"),
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_schedule_created", "schedule_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    job_type: Mapped[JobType] = mapped_column(_str_enum(JobType))
    target: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[RunStatus] = mapped_column(_str_enum(RunStatus), default=RunStatus.PENDING)
    priority: Mapped[str] = mapped_column(String(16), default="default")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    artifacts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    # Why a run was skipped (or another non-error reason for its status).
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), default=None)
    prefect_flow_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    prefect_deployment: Mapped[str | None] = mapped_column(String(256), default=None)
    schedule_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    rerun_of: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
