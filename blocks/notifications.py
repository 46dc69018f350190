"""The alert channels of ``config/notifications.yaml`` as Prefect notification blocks.

`register` saves one block per configured channel (webhook: CustomWebhookNotificationBlock,
slack: SlackWebhook, email: prefect-email's EmailServerCredentials) and deletes the blocks
of channels no longer configured, so the Prefect UI shows exactly what alerts reach.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from prefect.blocks.core import Block
from prefect.blocks.notifications import CustomWebhookNotificationBlock, SlackWebhook
from prefect.client.orchestration import PrefectClient
from prefect.exceptions import ObjectNotFound
from prefect_email import EmailServerCredentials

from flowdesk.notifications.channels import (
    AnyChannel,
    SlackChannel,
    WebhookChannel,
    configured,
)

logger = logging.getLogger(__name__)

# What the webhook receives; Prefect fills {{subject}} and {{body}}, the body being JSON.
WEBHOOK_JSON = {"subject": "{{subject}}", "body": "{{body}}"}


BLOCK_TYPES: dict[str, type[Block]] = {
    "webhook": CustomWebhookNotificationBlock,
    "slack": SlackWebhook,
    "email": EmailServerCredentials,
}


def build_block(channel: AnyChannel, env: Mapping[str, str]) -> Block:
    """The Prefect block for a configured channel, its secrets taken from `env`."""
    if isinstance(channel, WebhookChannel):
        return CustomWebhookNotificationBlock(
            name=channel.block_name,
            url=env[channel.url_env],
            method="POST",
            json_data=WEBHOOK_JSON,
            timeout=10,
            allow_private_urls=channel.allow_private_urls,
        )
    if isinstance(channel, SlackChannel):
        return SlackWebhook(url=env[channel.url_env])
    credentials: Block = EmailServerCredentials(
        smtp_server=env[channel.smtp_server_env],
        smtp_port=channel.smtp_port,
        smtp_type=channel.smtp_type,
        username=env.get(channel.username_env or "", ""),
        password=env.get(channel.password_env or "", ""),
    )
    return credentials


async def load_block(channel: AnyChannel, client: PrefectClient | None = None) -> Block:
    """The channel's saved block; ObjectNotFound (ValueError) if it was never registered."""
    return await BLOCK_TYPES[channel.type].aload(channel.block_name, client=client)


async def register(
    client: PrefectClient, channels: tuple[AnyChannel, ...], env: Mapping[str, str]
) -> list[str]:
    """Save a block for each configured channel, drop stale ones; the saved blocks' names."""
    saved: list[str] = []
    wanted = configured(channels, env)
    for channel in wanted:
        block = build_block(channel, env)
        await block.save(channel.block_name, overwrite=True, client=client)
        saved.append(channel.block_name)
    for channel in channels:
        if channel in wanted:
            continue
        slug = BLOCK_TYPES[channel.type].get_block_type_slug()
        try:
            stale = await client.read_block_document_by_name(channel.block_name, slug)
        except ObjectNotFound:
            continue
        await client.delete_block_document(stale.id)
    logger.info("alert channels registered as blocks: %s", saved or "none configured")
    return saved
