"""`flowdesk users`: creating users, issuing and revoking keys, against the stack's database."""

from __future__ import annotations

import hashlib
import re
import time
import uuid

import httpx
import psycopg
import pytest

from tests.stack import Stack

AUTH_CACHE_SECONDS = 5.0
KEY_RE = re.compile(r"^fd_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def prints_a_key(stdout: str) -> bool:
    return any(KEY_RE.match(line) for line in stdout.splitlines())


def status_with(stack: Stack, key: str) -> int:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.get(f"{stack.api_url}/api/screener-sets", headers=headers, timeout=30).status_code


def listed(stack: Stack) -> dict[str, list[str]]:
    """`users list` rows by name: [role, status, keys, created]."""
    lines = stack.cli("users", "list").stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "STATUS", "KEYS", "CREATED"]
    return {cols[0]: cols[1:] for cols in (line.split() for line in lines[1:])}


def database_url(stack: Stack) -> str:
    return stack.env["FLOWDESK_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")


class TestUsersCreate:
    def test_key_is_alone_on_the_last_line(self, stack: Stack) -> None:
        name = unique_name("carol")
        result = stack.cli("users", "create", name)
        last = result.stdout.rstrip("\n").splitlines()[-1]
        assert KEY_RE.match(last), result.stdout
        assert name in result.stdout
        assert status_with(stack, last) == 200

    def test_admin_flag_makes_an_admin(self, stack: Stack) -> None:
        name = unique_name("boss")
        key = stack.create_user(name, admin=True)
        assert KEY_RE.match(key)
        assert listed(stack)[name][:2] == ["admin", "active"]

    def test_existing_name_fails_on_stderr(self, stack: Stack) -> None:
        name = unique_name("dup")
        stack.create_user(name)
        result = stack.cli("users", "create", name, check=False)
        assert result.returncode != 0
        assert "already exists" in result.stderr
        assert name in result.stderr
        assert not prints_a_key(result.stdout)

    @pytest.mark.parametrize("name", ["Bad Name", "UPPER", "_underscore", "a" * 65])
    def test_invalid_name_fails_on_stderr(self, stack: Stack, name: str) -> None:
        result = stack.cli("users", "create", name, check=False)
        assert result.returncode != 0
        assert f"user name {name!r} is invalid" in result.stderr
        assert "lower-case letters" in result.stderr, "the message says what a name may hold"
        assert not prints_a_key(result.stdout)


class TestUsersList:
    def test_shows_role_status_and_key_count(self, stack: Stack) -> None:
        user, admin = unique_name("lister"), unique_name("lister-admin")
        stack.create_user(user)
        stack.create_user(admin, admin=True)
        rows = listed(stack)
        assert rows[user][:3] == ["user", "active", "1"]
        assert rows[admin][:3] == ["admin", "active", "1"]


class TestUsersRevoke:
    def test_revoked_user_is_listed_revoked_and_its_key_is_401(self, stack: Stack) -> None:
        name = unique_name("leaver")
        key = stack.create_user(name)
        assert status_with(stack, key) == 200
        result = stack.cli("users", "revoke", name)
        revoked_at = time.monotonic()
        assert "revoked" in result.stdout
        assert listed(stack)[name][:3] == ["user", "revoked", "0"]
        # The API remembers a key it has just checked for FLOWDESK_AUTH_CACHE_SECONDS (5).
        while status_with(stack, key) == 200:
            assert time.monotonic() - revoked_at < AUTH_CACHE_SECONDS + 1, "still works"
            time.sleep(0.25)
        assert status_with(stack, key) == 401

    def test_revoking_every_key_of_a_user(self, stack: Stack) -> None:
        name = unique_name("twokeys")
        first = stack.create_user(name)
        second = stack.cli("users", "key", name).stdout.strip().splitlines()[-1]
        stack.cli("users", "revoke", name)
        assert status_with(stack, first) == status_with(stack, second) == 401

    def test_unknown_user_fails_clearly(self, stack: Stack) -> None:
        name = unique_name("ghost")
        result = stack.cli("users", "revoke", name, check=False)
        assert result.returncode != 0
        assert f"no user named '{name}'" in result.stderr


class TestUsersKey:
    def test_second_key_works_alongside_the_first(self, stack: Stack) -> None:
        name = unique_name("rotator")
        first = stack.create_user(name)
        result = stack.cli("users", "key", name)
        second = result.stdout.rstrip("\n").splitlines()[-1]
        assert KEY_RE.match(second), result.stdout
        assert second != first
        assert status_with(stack, first) == status_with(stack, second) == 200
        assert listed(stack)[name][2] == "2"

    def test_unknown_user_fails_clearly(self, stack: Stack) -> None:
        name = unique_name("ghost")
        result = stack.cli("users", "key", name, check=False)
        assert result.returncode != 0
        assert f"no user named '{name}'" in result.stderr

    def test_revoked_user_gets_no_new_key(self, stack: Stack) -> None:
        name = unique_name("gone")
        stack.create_user(name)
        stack.cli("users", "revoke", name)
        result = stack.cli("users", "key", name, check=False)
        assert result.returncode != 0
        assert "revoked" in result.stderr
        assert not prints_a_key(result.stdout)


class TestKeyStorage:
    def test_only_the_sha256_of_a_key_is_stored(self, stack: Stack) -> None:
        name = unique_name("hashed")
        key = stack.create_user(name)
        prefix, secret = key.split("_")[1], key.split("_", 2)[2]
        with psycopg.connect(database_url(stack)) as conn:
            rows = conn.execute(
                "SELECT k.prefix, k.key_hash FROM api_keys k JOIN users u ON u.id = k.user_id"
                " WHERE u.name = %s",
                (name,),
            ).fetchall()
            # Every column of every key row, as text: the plaintext must be in none of them.
            dump = "|".join(
                str(row[0]) for row in conn.execute("SELECT CAST(k AS text) FROM api_keys k")
            )
        assert rows == [(prefix, hashlib.sha256(key.encode()).hexdigest())]
        assert key not in dump
        assert secret not in dump
