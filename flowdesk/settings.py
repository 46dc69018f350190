"""The one settings object: environment variables prefixed ``FLOWDESK_``, seed names as aliases."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _alias(name: str, *seed_names: str) -> AliasChoices:
    return AliasChoices(f"FLOWDESK_{name.upper()}", *seed_names)


class Settings(BaseSettings):
    """Everything flowdesk reads from its environment, read once per process."""

    model_config = SettingsConfigDict(env_prefix="FLOWDESK_", extra="ignore")

    environment: Literal["development", "production"] = "development"

    # Where embedded state lives: the SQLite snapshot store, the local Prefect home, logs.
    state_dir: Path = Path(".flowdesk")
    database_url: str = ""
    artifacts_dir: Path = Path("artifacts")
    config_dir: Path = Path("config")
    screener_sets_path: Path = Path("config/schemas/screener_sets.yml")

    market_data_provider: Literal["file", "yfinance"] = "file"
    market_data_path: Path = Path("data/sample/fundamentals.csv")

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    prefect_host: str = "127.0.0.1"
    prefect_port: int = 4200
    # A Prefect API to use instead of starting one (Prefect's own variable name).
    prefect_api_url: str | None = Field(
        default=None, validation_alias=_alias("prefect_api_url", "PREFECT_API_URL")
    )
    prefect_ui_url: str | None = Field(
        default=None, validation_alias=_alias("prefect_ui_url", "PREFECT_UI_URL")
    )
    # A Redis database for the Prefect server flowdesk starts, its alone: with it, that
    # server runs as two processes, the API (`--no-services`) and the services (events
    # persisted, automations' triggers, scheduler, Late marking), on Prefect's Redis
    # broker (prefect-redis). Needs Prefect's database on Postgres.
    prefect_redis_url: str | None = None
    work_pool: str = "flowdesk"
    worker_limit: int = Field(default=4, ge=1, le=64)
    # `process`: Prefect's stock process worker, the baseline the benchmarks compare with.
    worker_type: Literal["flowdesk", "process"] = "flowdesk"
    # A stopped worker lets its flow runs finish for this long, then hands the rest back
    # to the pool (AwaitingRetry) for another worker; `flowdesk up` waits 15 s more.
    worker_drain_seconds: float = Field(default=30.0, ge=0, le=3600)
    # A warm executor runs this many flow runs, then a fresh one takes its place: what
    # runs leave in its memory (caches, leaks) cannot grow without bound.
    worker_runs_per_executor: int = Field(default=200, ge=1)
    # Prefect calls from the API give up after this long and answer 503.
    prefect_timeout_seconds: float = Field(default=10.0, gt=0)
    # An API key authenticated this recently is not looked up again: revoking a key takes
    # effect within this long. 0 looks every key up on every request.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # A non-terminal run older than this is checked against Prefect's state on read.
    reconcile_after_seconds: float = Field(default=15.0, ge=0)
    # The API compares open runs with Prefect this often, so a run whose worker was
    # killed shows its final status within about this long even if nobody reads it.
    reconcile_interval_seconds: float = Field(default=30.0, gt=0)

    # Schedules: how many a user may keep, the shortest interval a cron may fire at, and
    # how late a tick may start under catchup "none".
    schedule_quota: int = Field(default=100, ge=1)
    schedule_min_interval_seconds: int = Field(default=60, ge=60)
    schedule_grace_seconds: int = Field(default=60, ge=0)

    # The biotech desk: its companies, where its news comes from, and the seed's timetable.
    companies_path: Path = Path("config/companies.yaml")
    # The alert channels (webhook, Slack, email), registered as Prefect notification blocks.
    notifications_path: Path = Path("config/notifications.yaml")
    # Comma-separated ids that are priority whatever companies.yaml says (the seed's name).
    priority_companies: str | None = Field(
        default=None, validation_alias=_alias("priority_companies", "PRIORITY_COMPANIES")
    )
    # "sample": the feed files under news_sample_dir (labelled sample data, works offline);
    # "rss": each company's feed URLs; "backend": the seed's Backend API at api_base_url.
    news_source: Literal["sample", "rss", "backend"] = "sample"
    news_sample_dir: Path = Path("data/sample/news")
    api_base_url: str | None = Field(
        default=None, validation_alias=_alias("api_base_url", "API_BASE_URL")
    )
    api_timeout: float = Field(
        default=30.0, gt=0, validation_alias=_alias("api_timeout", "API_TIMEOUT")
    )
    daily_analysis_hour: int = Field(
        default=6,
        ge=0,
        le=23,
        validation_alias=_alias("daily_analysis_hour", "DAILY_ANALYSIS_HOUR"),
    )
    weekly_report_day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = Field(
        default="mon", validation_alias=_alias("weekly_report_day", "WEEKLY_REPORT_DAY")
    )
    weekly_report_hour: int = Field(
        default=8, ge=0, le=23, validation_alias=_alias("weekly_report_hour", "WEEKLY_REPORT_HOUR")
    )
    # Where compressed old reports go; <state_dir>/archive when unset.
    # The desk's timetable (prefect.yaml's cron deployments); false pauses every one.
    timetable_enabled: bool = True
    archive_location: Path = Field(
        default=Path(""),
        validation_alias=_alias("archive_location", "ARCHIVE_LOCATION"),
    )
    # Maintenance: records older than this are archived; report artifacts older than
    # report_archive_days are compressed into archive_location.
    data_retention_days: int = Field(default=90, ge=1)
    report_archive_days: int = Field(default=30, ge=1)

    # Outbound calls (news feeds, the Backend API, alert delivery): retries with
    # exponential backoff and full jitter, then a circuit breaker per dependency.
    retry_attempts: int = Field(default=3, ge=1, le=20)
    retry_base_delay_seconds: float = Field(default=0.5, ge=0)
    retry_max_delay_seconds: float = Field(default=30.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    redis_url: str | None = None
    redis_host: str | None = Field(
        default=None, validation_alias=_alias("redis_host", "REDIS_HOST")
    )
    redis_port: int = Field(default=6379, validation_alias=_alias("redis_port", "REDIS_PORT"))
    redis_db: int = Field(default=0, validation_alias=_alias("redis_db", "REDIS_DB"))
    redis_password: SecretStr | None = Field(
        default=None, validation_alias=_alias("redis_password", "REDIS_PASSWORD")
    )

    @field_validator(
        "state_dir",
        "artifacts_dir",
        "config_dir",
        "screener_sets_path",
        "market_data_path",
        "companies_path",
        "notifications_path",
        "news_sample_dir",
        "archive_location",
    )
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        # Every process of the stack resolves paths once; `flowdesk up` passes them on absolute.
        return path.expanduser().resolve()

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.archive_location == Path("").resolve():
            self.archive_location = self.state_dir / "archive"
        if not self.database_url:
            self.database_url = f"sqlite:///{self.state_dir / 'flowdesk.db'}"
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            raise ValueError(
                "FLOWDESK_DATABASE_URL must point at Postgres in production "
                "(postgresql+psycopg://user@host/db); SQLite is the single-user default"
            )
        return self

    @property
    def prefect_api(self) -> str:
        return self.prefect_api_url or f"http://{self.prefect_host}:{self.prefect_port}/api"

    @property
    def prefect_ui(self) -> str:
        if self.prefect_ui_url:
            return self.prefect_ui_url.rstrip("/")
        return self.prefect_api.removesuffix("/api")

    @property
    def redis_dsn(self) -> str | None:
        """The Redis URL, or None when no Redis is configured (it is optional)."""
        if self.redis_url:
            return self.redis_url
        if self.redis_host is None:
            return None
        password = self.redis_password.get_secret_value() if self.redis_password else ""
        auth = f":{password}@" if password else ""
        return f"redis://{auth}{self.redis_host}:{self.redis_port}/{self.redis_db}"

    @property
    def priority_company_ids(self) -> frozenset[str] | None:
        """The PRIORITY_COMPANIES override as upper-case ids, or None when it is unset."""
        if self.priority_companies is None:
            return None
        return frozenset(
            part.strip().upper() for part in self.priority_companies.split(",") if part.strip()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read from the environment on first use."""
    return Settings()
