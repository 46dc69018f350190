"""Every query on users and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from flowdesk.db.models import ApiKey, User


async def add_user(session: AsyncSession, name: str, *, is_admin: bool) -> User:
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def get_user_by_name(session: AsyncSession, name: str) -> User | None:
    result = await session.execute(select(User).where(User.name == name))
    return result.scalar_one_or_none()


async def list_users(session: AsyncSession) -> list[User]:
    result = await session.execute(select(User).order_by(User.name))
    return list(result.scalars())


async def add_key(session: AsyncSession, user: User, *, prefix: str, key_hash: str) -> ApiKey:
    key = ApiKey(user_id=user.id, prefix=prefix, key_hash=key_hash)
    session.add(key)
    await session.flush()
    return key


async def get_key_by_prefix(session: AsyncSession, prefix: str) -> ApiKey | None:
    result = await session.execute(
        select(ApiKey).options(joinedload(ApiKey.user)).where(ApiKey.prefix == prefix)
    )
    return result.scalar_one_or_none()


async def count_active_keys(session: AsyncSession, user: User) -> int:
    result = await session.execute(
        select(ApiKey.id).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
    )
    return len(result.all())


async def revoke_user(session: AsyncSession, user: User, at: datetime) -> None:
    user.revoked_at = at
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    await session.flush()
