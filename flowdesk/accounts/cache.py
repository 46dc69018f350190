"""A short-lived, in-process memory of authenticated keys.

Every API request authenticates its key; looking it up costs a pooled connection and
three round trips to Postgres (begin, select, commit), about half of what reading a run
costs. A key seen within the last `ttl` seconds is taken from here instead. The
price is that a key revoked meanwhile keeps working until its entry expires: revocation
takes effect within `ttl` seconds (`FLOWDESK_AUTH_CACHE_SECONDS`; 0 turns this off).

Entries are keyed by the key's SHA-256, never its plaintext. Only successful lookups are
kept: a wrong, unknown or revoked key is checked against the database every time.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from flowdesk.accounts.keys import hash_key
from flowdesk.accounts.service import Principal


class PrincipalCache:
    def __init__(
        self,
        ttl: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()

    def get(self, plaintext: str) -> Principal | None:
        """The principal of a key authenticated less than `ttl` seconds ago, else None."""
        if self.ttl <= 0:
            return None
        digest = hash_key(plaintext)
        entry = self._entries.get(digest)
        if entry is None:
            return None
        expires, principal = entry
        if self._clock() >= expires:
            del self._entries[digest]
            return None
        return principal

    def put(self, plaintext: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        digest = hash_key(plaintext)
        self._entries[digest] = (self._clock() + self.ttl, principal)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
