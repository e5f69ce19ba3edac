"""Token secrets: random, shown once, stored only as a salted scrypt hash.

A token reads ``mp_<id>_<secret>``: ``id`` (12 hex characters) finds its row, and the
secret (32 random bytes, URL-safe base64) is checked against ``hashlib.scrypt`` of it with
the row's salt, compared in constant time. scrypt is the standard library's memory-hard
KDF (OpenSSL's); the server caches a checked token for a few seconds, so the hash is paid
once per token per cache period, not per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

__all__ = ["TOKEN_FORM", "hash_secret", "new_token", "parse_token", "verify_secret"]

# n=2**14, r=8: 16 MiB and tens of milliseconds per hash (OWASP's scrypt baseline).
_N, _R, _P, _LEN = 2**14, 8, 1, 32
TOKEN_FORM = "mp_<12 hex>_<secret>"
_TOKEN = re.compile(r"^mp_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


def new_token() -> tuple[str, str, str]:
    """A new token: ``(token_id, secret, full token text)``."""
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"mp_{token_id}_{secret}"


def parse_token(text: str) -> tuple[str, str] | None:
    """``(token_id, secret)`` of a well-formed token, else ``None``."""
    match = _TOKEN.match(text)
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str, salt: bytes | None = None) -> tuple[str, str]:
    """``(salt_hex, hash_hex)`` of ``secret`` (a new random salt unless given)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=_LEN,
                            maxmem=64 * 1024 * 1024)
    return salt.hex(), digest.hex()


def verify_secret(secret: str, salt_hex: str, hash_hex: str) -> bool:
    _, digest = hash_secret(secret, bytes.fromhex(salt_hex))
    return hmac.compare_digest(digest, hash_hex)
