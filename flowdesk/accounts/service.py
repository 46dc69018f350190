"""Creating users, issuing and revoking keys, and authenticating a request's key."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from flowdesk.accounts import keys, repository
from flowdesk.db.models import User
from flowdesk.db.types import utcnow
from flowdesk.errors import InvalidRequest, Unauthorized, UserExists, UserNotFound

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._\-]{0,63}$")


@dataclass(frozen=True)
class Principal:
    """The caller of an API request."""

    user_id: str
    name: str
    is_admin: bool


async def create_user(session: AsyncSession, name: str, *, is_admin: bool) -> tuple[User, str]:
    """A new user and its first API key, in plaintext (shown once)."""
    if not _NAME_RE.match(name):
        raise InvalidRequest(
            f"user name {name!r} is invalid: use 1-64 lower-case letters, digits, '.', '_' or '-'"
        )
    if await repository.get_user_by_name(session, name) is not None:
        raise UserExists(
            f"user {name!r} already exists; use `flowdesk users key {name}` for a new key"
        )
    user = await repository.add_user(session, name, is_admin=is_admin)
    return user, await issue_key(session, user)


async def issue_key(session: AsyncSession, user: User) -> str:
    new = keys.generate_key()
    await repository.add_key(session, user, prefix=new.prefix, key_hash=new.key_hash)
    return new.plaintext


async def get_user(session: AsyncSession, name: str) -> User:
    user = await repository.get_user_by_name(session, name)
    if user is None:
        raise UserNotFound(f"no user named {name!r}; `flowdesk users list` shows them")
    return user


async def revoke_user(session: AsyncSession, name: str) -> User:
    """Revoke a user and every key it has; its runs and history stay."""
    user = await get_user(session, name)
    await repository.revoke_user(session, user, utcnow())
    return user


async def authenticate(session: AsyncSession, plaintext: str) -> Principal:
    """The principal a key belongs to; Unauthorized if missing, wrong or revoked."""
    prefix = keys.key_prefix(plaintext)
    key = await repository.get_key_by_prefix(session, prefix) if prefix else None
    # Hash even when no row matched, so timing does not reveal which prefixes exist.
    stored = key.key_hash if key is not None else "0" * 64
    if not keys.matches(plaintext, stored) or key is None:
        raise Unauthorized("invalid API key")
    if key.revoked_at is not None or key.user.revoked_at is not None:
        raise Unauthorized("API key revoked")
    return Principal(user_id=str(key.user.id), name=key.user.name, is_admin=key.user.is_admin)
