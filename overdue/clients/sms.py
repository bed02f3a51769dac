"""HTTP client of the SMS gateway (``POST /v1/messages``, see :mod:`sandbox.sms_gateway`).

Every send carries an ``Idempotency-Key``; the gateway answers a repeated key with the
original receipt (``Idempotent-Replayed: true``), so retrying after a timeout or a lost
answer never sends the customer a second message.

Errors split by what the caller should do:

* :class:`SmsRejected`: permanent, do not retry (any 4xx except 408 and 429).
* :class:`SmsGatewayUnavailable`: transient, retry with the *same* idempotency key
  (5xx, 408, 429, connection errors, timeouts, unreadable success answers).

Phone numbers and message texts are never logged nor put into exception messages.

Delivery receipts: a send with ``callback_url`` later gets a signed ``POST`` of the
receipt (see :mod:`sandbox.sms_gateway`); check it with :func:`verify_receipt_signature`
on the raw body before trusting it.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from overdue.clients.signing import verify_signature
from overdue.settings import SmsGatewaySettings

log = structlog.get_logger(__name__)

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_TRANSIENT_4XX = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    message_id: str
    segments: int
    replayed: bool


class SmsRejected(Exception):
    """The gateway refused the message for good (4xx other than 408/429)."""

    def __init__(self, status_code: int, error_code: str, detail: str | None = None) -> None:
        super().__init__(f"SMS gateway rejected the message: HTTP {status_code} {error_code}")
        self.status_code = status_code
        self.error_code = error_code
        # Server-provided text; kept out of str(self) because it is not ours to vet.
        self.detail = detail


class SmsGatewayUnavailable(Exception):
    """The gateway could not be reached or answered with a transient error."""

    def __init__(self, reason: str, *, status_code: int | None = None,
                 error_code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"SMS gateway unavailable: {reason}")
        self.status_code = status_code
        self.error_code = error_code
        self.retry_after = retry_after


class SmsGatewayClient:
    """Sends SMS through the gateway over an injected :class:`httpx.AsyncClient`.

    The URL, API key and timeout come from ``settings`` on every request, so any client
    (e.g. one with an ``httpx.ASGITransport``) can be injected. :meth:`open` builds a
    dedicated one and closes it afterwards.
    """

    def __init__(self, http: httpx.AsyncClient, settings: SmsGatewaySettings) -> None:
        self._http = http
        self._settings = settings
        self._url = f"{settings.url.rstrip('/')}/v1/messages"

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: SmsGatewaySettings) -> AsyncIterator[SmsGatewayClient]:
        """``async with SmsGatewayClient.open(settings) as sms: ...``"""
        async with httpx.AsyncClient(base_url=settings.url,
                                     timeout=settings.timeout_seconds,
                                     headers=_auth_header(settings)) as http:
            yield cls(http, settings)

    async def send(self, *, to: str, body: str, idempotency_key: str,
                   reference: str | None = None,
                   callback_url: str | None = None) -> SmsReceipt:
        if not (idempotency_key.strip() and idempotency_key.isascii()
                and idempotency_key.isprintable()):
            raise ValueError("Idempotency-Key must be non-empty printable ASCII")
        payload: dict[str, Any] = {"to": to, "sender_id": self._settings.sender_id,
                                   "body": body}
        if reference is not None:
            payload["reference"] = reference
        if callback_url is not None:
            payload["callback_url"] = callback_url
        bound = log.bind(idempotency_key=idempotency_key, reference=reference)
        try:
            response = await self._http.post(
                self._url, json=payload,
                headers={**_auth_header(self._settings), "Idempotency-Key": idempotency_key},
                timeout=self._settings.timeout_seconds)
        except httpx.TimeoutException as exc:
            bound.warning("sms gateway timed out", error_type=type(exc).__name__)
            raise SmsGatewayUnavailable(f"timeout ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            bound.warning("sms gateway unreachable", error_type=type(exc).__name__)
            raise SmsGatewayUnavailable(f"transport error ({type(exc).__name__})") from exc

        status = response.status_code
        if response.is_success:
            receipt = _receipt(response)
            if receipt is None:
                bound.warning("sms gateway sent an unreadable receipt", status_code=status)
                raise SmsGatewayUnavailable(f"unreadable answer to HTTP {status}",
                                            status_code=status)
            bound.info("sms accepted", message_id=receipt.message_id,
                       segments=receipt.segments, replayed=receipt.replayed)
            return receipt

        error_code, detail = _error_of(response)
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            bound.warning("sms rejected", status_code=status, error_code=error_code)
            raise SmsRejected(status, error_code, detail)
        retry_after = _retry_after(response)
        bound.warning("sms gateway unavailable", status_code=status, error_code=error_code,
                      retry_after=retry_after)
        raise SmsGatewayUnavailable(f"HTTP {status} {error_code}", status_code=status,
                                    error_code=error_code, retry_after=retry_after)


def verify_receipt_signature(body: bytes, signature_header: str | None,
                             api_key: str | SecretStr) -> bool:
    """Whether a delivery receipt's ``X-Callback-Signature`` matches its raw ``body``.

    The gateway signs with its API key (``settings.api_key``); constant-time comparison.
    """
    return verify_signature(body, signature_header, api_key)


def _auth_header(settings: SmsGatewaySettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _receipt(response: httpx.Response) -> SmsReceipt | None:
    data = _json_object(response)
    if data is None:
        return None
    message_id, segments = data.get("message_id"), data.get("segments")
    if not isinstance(message_id, str) or not message_id:
        return None
    if isinstance(segments, bool) or not isinstance(segments, int):
        return None
    replayed = response.headers.get("Idempotent-Replayed", "").strip().lower() == "true"
    return SmsReceipt(message_id=message_id, segments=segments, replayed=replayed)


def _error_of(response: httpx.Response) -> tuple[str, str | None]:
    """(error code, server message); the code is sanitised so it is safe to log."""
    data = _json_object(response) or {}
    code, detail = data.get("error"), data.get("message")
    if not isinstance(code, str) or not _ERROR_CODE.fullmatch(code):
        code = f"http_{response.status_code}"
    return code, detail if isinstance(detail, str) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date; not worth parsing for a hint
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
