"""Reaching the machine's real services from tests: Postgres databases and free ports."""

from __future__ import annotations

import os
import socket
import uuid

import psycopg
import pytest

PG_HOST = os.environ.get("FLOWDESK_TEST_PG_HOST", "127.0.0.1")
PG_USER = os.environ.get("FLOWDESK_TEST_PG_USER", "postgres")
START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def admin_dsn() -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:5432/postgres"


def require_postgres() -> None:
    try:
        with psycopg.connect(admin_dsn(), connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.exit(
            f"Postgres is not reachable at {PG_HOST}:5432 ({exc}); start it with: {START_POSTGRES}",
            returncode=3,
        )


def create_database(prefix: str) -> str:
    """A fresh, uniquely named database; returns its name."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    with psycopg.connect(admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlalchemy_url(database: str, driver: str = "psycopg") -> str:
    return f"postgresql+{driver}://{PG_USER}@{PG_HOST}:5432/{database}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
