"""HMAC-signed requests from core banking to the intake.

Core banking sends ``X-Overdue-Timestamp: <unix seconds>`` and
``X-Overdue-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` keyed with the
shared secret. The intake refuses a missing or wrong signature, and a timestamp outside the
replay window; within it, the event id makes a replayed request a no-op.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Overdue-Timestamp"
SIGNATURE_HEADER = "X-Overdue-Signature"


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body),
            "Content-Type": "application/json"}


def check(secret: bytes, headers: dict[str, str], body: bytes, window_seconds: int,
          now: float | None = None) -> str | None:
    """None when the request is authentic and fresh, else why not (for the 401 answer)."""
    timestamp = headers.get(TIMESTAMP_HEADER.lower())
    given = headers.get(SIGNATURE_HEADER.lower())
    if not timestamp or not given:
        return f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required"
    if not timestamp.isdigit():
        return f"{TIMESTAMP_HEADER} must be unix seconds"
    if abs((now if now is not None else time.time()) - int(timestamp)) > window_seconds:
        return f"{TIMESTAMP_HEADER} is outside the {window_seconds} s replay window"
    if not hmac.compare_digest(given.strip().lower(), signature(secret, timestamp, body)):
        return f"{SIGNATURE_HEADER} does not match"
    return None
