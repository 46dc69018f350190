"""The `flowdesk` command: start the stack, manage users and keys, migrate the database."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from flowdesk.errors import FlowdeskError


def _run(coro: Coroutine[Any, Any, int]) -> int:
    return asyncio.run(coro)


async def _users_create(args: argparse.Namespace) -> int:
    from flowdesk.accounts import service
    from flowdesk.db.engine import session_scope

    async with session_scope() as session:
        user, key = await service.create_user(session, args.name, is_admin=args.admin)
    role = "admin" if user.is_admin else "user"
    print(f"created {role} {user.name}; its API key is shown once, on the next line:")
    print(key)
    return 0


async def _users_key(args: argparse.Namespace) -> int:
    from flowdesk.accounts import service
    from flowdesk.db.engine import session_scope

    async with session_scope() as session:
        user = await service.get_user(session, args.name)
        if user.revoked_at is not None:
            raise FlowdeskError(f"user {user.name!r} is revoked")
        key = await service.issue_key(session, user)
    print(f"new API key for {user.name}; it is shown once, on the next line:")
    print(key)
    return 0


async def _users_list(args: argparse.Namespace) -> int:
    from flowdesk.accounts import repository
    from flowdesk.db.engine import session_scope

    async with session_scope() as session:
        users = await repository.list_users(session)
        rows = [
            (
                u.name,
                "admin" if u.is_admin else "user",
                "revoked" if u.revoked_at else "active",
                await repository.count_active_keys(session, u),
                u.created_at.isoformat(timespec="seconds"),
            )
            for u in users
        ]
    print(f"{'NAME':<24} {'ROLE':<6} {'STATUS':<8} {'KEYS':>4}  CREATED")
    for name, role, status, keys, created in rows:
        print(f"{name:<24} {role:<6} {status:<8} {keys:>4}  {created}")
    return 0


async def _users_revoke(args: argparse.Namespace) -> int:
    from flowdesk.accounts import service
    from flowdesk.db.engine import session_scope

    async with session_scope() as session:
        user = await service.revoke_user(session, args.name)
    print(f"revoked {user.name} and all its API keys; its runs stay")
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    from flowdesk.db.migrate import current_revision, upgrade

    upgrade()
    print(f"database at revision {current_revision()}")
    return 0


def _up(args: argparse.Namespace) -> int:
    from flowdesk.stack import run_stack

    return run_stack(
        api_port=args.api_port, prefect_port=args.prefect_port, worker_limit=args.worker_limit
    )


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from flowdesk.db.migrate import upgrade
    from flowdesk.jsonlog import configure_json_logging, logging_config
    from flowdesk.settings import get_settings

    settings = get_settings()
    # JSON lines, with the request's run id where one is known (the seed's log format).
    configure_json_logging()
    upgrade()
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        workers=args.workers,
        log_level="info",
        access_log=args.access_log,
        log_config=logging_config(),
    )
    return 0


def _prefect_setup(args: argparse.Namespace) -> int:
    from flowdesk.stack import setup_prefect

    setup_prefect()
    print("work pool, queues, automation and deployments applied")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="flowdesk", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start the whole stack; Ctrl-C stops it")
    up.add_argument("--api-port", type=int, default=None)
    up.add_argument("--prefect-port", type=int, default=None)
    up.add_argument("--worker-limit", type=int, default=None)
    up.set_defaults(handler=_up)

    api = commands.add_parser("api", help="serve the REST API (applies migrations first)")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.add_argument("--workers", type=int, default=1)
    api.add_argument("--access-log", action=argparse.BooleanOptionalAction, default=True)
    api.set_defaults(handler=_api)

    users = commands.add_parser("users", help="manage users and API keys").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user; prints its API key last")
    create.add_argument("name")
    create.add_argument("--admin", action="store_true", help="sees and acts on every run")
    create.set_defaults(handler=lambda a: _run(_users_create(a)))
    key = users.add_parser("key", help="issue another API key for a user")
    key.add_argument("name")
    key.set_defaults(handler=lambda a: _run(_users_key(a)))
    listing = users.add_parser("list", help="list users")
    listing.set_defaults(handler=lambda a: _run(_users_list(a)))
    revoke = users.add_parser("revoke", help="revoke a user and all its keys")
    revoke.add_argument("name")
    revoke.set_defaults(handler=lambda a: _run(_users_revoke(a)))

    db = commands.add_parser("db", help="the snapshot database").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations").set_defaults(handler=_db_upgrade)

    prefect = commands.add_parser("prefect", help="Prefect set-up").add_subparsers(
        dest="prefect_command", required=True
    )
    prefect.add_parser(
        "setup", help="create the work pool, queues, automation and deployments"
    ).set_defaults(handler=_prefect_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except FlowdeskError as exc:
        print(f"flowdesk: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
