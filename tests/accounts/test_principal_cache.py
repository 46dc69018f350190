"""The API's memory of authenticated keys: what it returns, for how long, and how much."""

from __future__ import annotations

from flowdesk.accounts.cache import PrincipalCache
from flowdesk.accounts.keys import generate_key
from flowdesk.accounts.service import Principal

ALICE = Principal(user_id="7b0c5f1e-0000-4000-8000-000000000001", name="alice", is_admin=False)
BOB = Principal(user_id="7b0c5f1e-0000-4000-8000-000000000002", name="bob", is_admin=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestPrincipalCache:
    def test_a_key_is_remembered_until_its_entry_expires(self) -> None:
        clock = Clock()
        cache = PrincipalCache(ttl=5, clock=clock)
        key = generate_key().plaintext
        assert cache.get(key) is None
        cache.put(key, ALICE)
        clock.now += 4.9
        assert cache.get(key) == ALICE
        clock.now += 0.1
        assert cache.get(key) is None, "expired: looked up again"

    def test_keys_are_told_apart_and_not_stored_in_plaintext(self) -> None:
        cache = PrincipalCache(ttl=5)
        alice_key, bob_key = generate_key().plaintext, generate_key().plaintext
        cache.put(alice_key, ALICE)
        cache.put(bob_key, BOB)
        assert cache.get(alice_key) == ALICE
        assert cache.get(bob_key) == BOB
        assert cache.get(generate_key().plaintext) is None
        assert alice_key not in repr(cache._entries)

    def test_ttl_zero_remembers_nothing(self) -> None:
        cache = PrincipalCache(ttl=0)
        key = generate_key().plaintext
        cache.put(key, ALICE)
        assert cache.get(key) is None

    def test_the_oldest_entries_go_first_beyond_the_bound(self) -> None:
        cache = PrincipalCache(ttl=60, max_entries=2)
        first, second, third = (generate_key().plaintext for _ in range(3))
        cache.put(first, ALICE)
        cache.put(second, ALICE)
        cache.put(third, BOB)
        assert cache.get(first) is None
        assert cache.get(second) == ALICE
        assert cache.get(third) == BOB
