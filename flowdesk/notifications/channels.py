"""``config/notifications.yaml``: the alert channels, validated, with their secrets' sources.

The file names environment variables, never secrets. A channel is *configured* when its
variables are set; only configured channels get a Prefect block and receive alerts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from flowdesk.errors import ConfigError

BLOCK_PREFIX = "flowdesk-alerts-"
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,40}$"
ENV_PATTERN = r"^[A-Z][A-Z0-9_]*$"


class Severity(IntEnum):
    """Alert severities in order; a channel takes alerts at or above its minimum."""

    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: str) -> Severity:
        return cls[value.upper()]


SeverityName = Literal["info", "warning", "critical"]


class _Channel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    min_severity: SeverityName = "warning"
    # Also sent the weekly report's summary.
    reports: bool = True

    @property
    def block_name(self) -> str:
        return f"{BLOCK_PREFIX}{self.name}"

    def accepts(self, severity: str) -> bool:
        return Severity.parse(severity) >= Severity.parse(self.min_severity)


class WebhookChannel(_Channel):
    """A JSON POST of {"subject", "body", "severity", "company"} to a URL."""

    type: Literal["webhook"]
    url_env: str = Field(pattern=ENV_PATTERN)
    # Desks post to internal hosts (a chat bridge, an on-call router): allowed by default.
    allow_private_urls: bool = True

    def required_env(self) -> tuple[str, ...]:
        return (self.url_env,)


class SlackChannel(_Channel):
    """A Slack incoming webhook."""

    type: Literal["slack"]
    url_env: str = Field(pattern=ENV_PATTERN)

    def required_env(self) -> tuple[str, ...]:
        return (self.url_env,)


class EmailChannel(_Channel):
    """Mail through an SMTP server (a prefect-email EmailServerCredentials block)."""

    type: Literal["email"]
    smtp_server_env: str = Field(pattern=ENV_PATTERN)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_type: Literal["STARTTLS", "SSL", "INSECURE"] = "STARTTLS"
    username_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    password_env: str | None = Field(default=None, pattern=ENV_PATTERN)
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    recipients_env: str = Field(pattern=ENV_PATTERN)

    def required_env(self) -> tuple[str, ...]:
        return (self.smtp_server_env, self.recipients_env)


AnyChannel = WebhookChannel | SlackChannel | EmailChannel
Channel = Annotated[AnyChannel, Field(discriminator="type")]


class NotificationsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    channels: tuple[Channel, ...]


_FILE = TypeAdapter(NotificationsFile)


def load_channels(path: Path) -> tuple[AnyChannel, ...]:
    """Every channel of the file; a bad file is a ConfigError naming the field and the fix."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the alert channels: {exc}") from exc
    try:
        parsed = _FILE.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(
            f"{path}: {problems} (see the comment at the top of the shipped file)"
        ) from exc
    names = [channel.name for channel in parsed.channels]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{path}: channel names must be unique; repeated: {repeated}")
    return parsed.channels


def configured(
    channels: tuple[AnyChannel, ...],
    env: Mapping[str, str] | None = None,
) -> list[AnyChannel]:
    """The channels whose environment variables are all set."""
    env = os.environ if env is None else env
    return [c for c in channels if all(env.get(name) for name in c.required_env())]


def configured_channels(path: Path) -> list[AnyChannel]:
    """The channels of the file at `path` that this process's environment configures."""
    return configured(load_channels(path))
