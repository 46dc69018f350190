"""API keys: `fd_<prefix>_<secret>`, stored as a SHA-256 hash, compared in constant time.

A key carries 256 random bits, so a fast hash is as safe as a slow one here: there is
nothing to brute-force. The prefix finds the row; the hash proves the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

_KEY_RE = re.compile(r"^fd_([0-9a-f]{12})_[A-Za-z0-9_\-]{43}$")


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    """A fresh key; its plaintext is shown once and never stored."""
    prefix = secrets.token_hex(6)
    plaintext = f"fd_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext=plaintext, prefix=prefix, key_hash=hash_key(plaintext))


def key_prefix(plaintext: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    match = _KEY_RE.match(plaintext)
    return match.group(1) if match else None


def matches(plaintext: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(plaintext), stored_hash)
