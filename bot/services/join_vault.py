"""Credentials for rejoining a call, sealed under a secret only the joining browser holds.

Runway hands a call's room credentials out once (`consume`). A member whose page closes or
reloads mid-warm-up, or whose connection drops, must still be able to get back into the same
call, but nobody else may. The page makes a 256-bit secret, keeps it in the browser, and
sends it with its first request; the bot stores only its hash, and the credentials encrypted
(AES-GCM) under a key derived from it, so even someone who reads the database cannot join.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET: Final = re.compile(r"[A-Za-z0-9_-]{43}")
"""32 random bytes, base64url without padding, as the join page makes them."""
_NONCE_BYTES: Final = 12


def valid_secret(secret: object) -> str | None:
    return secret if isinstance(secret, str) and SECRET.fullmatch(secret) else None


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(b"join-secret-check:" + secret.encode()).digest()


def seal(secret: str, credentials: dict[str, str], *, context: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(secret).encrypt(nonce, json.dumps(credentials).encode(), context)
    return nonce + sealed


def unseal(secret: str, sealed: bytes, *, context: bytes) -> dict[str, str] | None:
    from cryptography.exceptions import InvalidTag  # noqa: PLC0415 - see _cipher

    try:
        plain = _cipher(secret).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], context)
    except InvalidTag:
        return None
    loaded: dict[str, str] = json.loads(plain)
    return loaded


def _cipher(secret: str) -> AESGCM:
    """Loaded on the first join, not at start-up: most processes of a quiet bot never need
    the cryptography library's few MB."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: PLC0415

    return AESGCM(_key(secret))


def _key(secret: str) -> bytes:
    # A different derivation from the stored hash, so the hash says nothing about the key.
    return hashlib.sha256(b"join-credentials-key:" + secret.encode()).digest()
