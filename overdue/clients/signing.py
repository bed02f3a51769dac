"""HMAC signatures of the webhooks our providers send us (SMS receipts, call-task outcomes).

A provider signs the *raw* request body with its API key and sends
``X-Callback-Signature: sha256=<lower-case hex HMAC-SHA256>``. Verify the bytes exactly as
received, before parsing them: re-serialised JSON would not match.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Callback-Signature"
_PREFIX = "sha256="


def _key_bytes(api_key: str | SecretStr) -> bytes:
    key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
    if not key:
        # An empty key would let anyone forge a signature: a configuration error.
        raise ValueError("an API key is needed to sign or verify webhooks")
    return key.encode("utf-8")


def sign_body(body: bytes, api_key: str | SecretStr) -> str:
    """The ``X-Callback-Signature`` value for ``body``: ``sha256=<hex>``."""
    return _PREFIX + hmac.new(_key_bytes(api_key), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, signature_header: str | None,
                     api_key: str | SecretStr) -> bool:
    """True iff ``signature_header`` is the HMAC-SHA256 of ``body`` under ``api_key``.

    Constant-time comparison; a missing or malformed header is simply ``False``.
    Raises :class:`ValueError` for an empty key.
    """
    expected = sign_body(body, api_key).encode("ascii")
    if signature_header is None:
        return False
    given = signature_header.strip().lower().encode("utf-8", errors="replace")
    return hmac.compare_digest(given, expected)
