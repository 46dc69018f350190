"""Delivering one alert to every channel that takes its severity, each through a guard.

A channel that fails after its retries does not stop the others: each delivery is
recorded ({"channel", "ok", "error"}) on the alert, and an undelivered alert is tried
again by the next scan (see flowdesk/jobs/analysis.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

from prefect.blocks.abstract import NotificationBlock, NotificationError
from prefect.blocks.core import Block
from prefect.blocks.notifications import AbstractAppriseNotificationBlock

from blocks.notifications import load_block
from flowdesk.errors import FlowdeskError
from flowdesk.notifications.channels import AnyChannel, EmailChannel
from flowdesk.resilience import RetryableError, guard_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertMessage:
    """What an alert says, whatever the channel."""

    alert_id: str
    company_id: str
    company_name: str
    severity: str
    event_type: str
    title: str
    url: str | None
    sentiment: float
    materiality: float
    published_at: str

    @property
    def subject(self) -> str:
        return f"[{self.severity}] {self.company_id} {self.event_type}: {self.title}"

    @property
    def body(self) -> str:
        # JSON, so a webhook consumer can route on the fields; readable in Slack and mail.
        return json.dumps(asdict(self), indent=2)


@dataclass(frozen=True)
class Notice:
    """A message that is not an alert: the weekly report's summary."""

    subject: str
    body: str
    alert_id: str = "-"


async def deliver(
    message: AlertMessage | Notice, channels: Sequence[AnyChannel], env: dict[str, str]
) -> list[dict[str, Any]]:
    """Send `message` on each channel that takes it (an alert's severity, or reports);
    one record per channel tried."""
    records: list[dict[str, Any]] = []
    for channel in channels:
        if isinstance(message, Notice) and not channel.reports:
            continue
        if isinstance(message, AlertMessage) and not channel.accepts(message.severity):
            continue
        try:
            block = await load_block(channel)
            if isinstance(channel, EmailChannel):
                await _send_mail(channel, block, message, env)
            else:
                await _notify(channel, block, message)
        except (FlowdeskError, ValueError) as exc:
            logger.warning(
                "alert %s not delivered to %s: %s",
                message.alert_id,
                channel.name,
                exc,
                extra={"alert_id": message.alert_id, "channel": channel.name},
            )
            records.append({"channel": channel.name, "ok": False, "error": str(exc)})
        else:
            records.append({"channel": channel.name, "ok": True, "error": None})
    return records


async def _notify(channel: AnyChannel, block: Block, message: AlertMessage | Notice) -> None:
    assert isinstance(block, NotificationBlock)

    async def attempt() -> None:
        try:
            if isinstance(block, AbstractAppriseNotificationBlock):
                with block.raise_on_failure():
                    await block.anotify(message.body, message.subject)
            else:
                await block.anotify(message.body, message.subject)  # type: ignore[attr-defined]
        except NotificationError as exc:  # Apprise's failure: worth another try
            raise RetryableError(str(exc)) from exc

    await guard_for(f"alerts:{channel.name}").call(attempt)


async def _send_mail(
    channel: EmailChannel, block: Block, message: AlertMessage | Notice, env: dict[str, str]
) -> None:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = channel.sender
    mail["To"] = env[channel.recipients_env]
    mail.set_content(message.body)

    def send() -> None:
        with block.get_server() as server:  # type: ignore[attr-defined]
            server.send_message(mail)

    async def attempt() -> None:
        try:
            await asyncio.to_thread(send)
        except OSError as exc:  # SMTP and socket errors: the server may come back
            raise RetryableError(f"SMTP {channel.name}: {exc}") from exc

    await guard_for(f"alerts:{channel.name}").call(attempt)
