"""Bearer tokens and invitation codes: random, shown once, stored as hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """256 random bits, URL-safe; the caller shows it once and keeps only its hash."""
    return secrets.token_urlsafe(32)


def _bytes(text: str) -> bytes:
    # surrogatepass: any string a JSON body can carry hashes, none raises.
    return text.encode("utf-8", "surrogatepass")


def digest(secret: str) -> str:
    return hashlib.sha256(_bytes(secret)).hexdigest()


def same_secret(secret: str, expected: str) -> bool:
    """Constant-time comparison, so timing does not leak how much matched."""
    return hmac.compare_digest(_bytes(secret), _bytes(expected))
