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

from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import SecretStr

from overdue.clients.http_api import (
    HttpRejected,
    HttpUnavailable,
    IdempotentPostClient,
    Service,
    check_idempotency_key,
    is_replayed,
    json_object,
)
from overdue.clients.signing import verify_signature
from overdue.settings import SmsGatewaySettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    message_id: str
    segments: int
    replayed: bool


class SmsRejected(HttpRejected):
    """The gateway refused the message for good (4xx other than 408/429)."""

    what = "SMS gateway rejected the message"


class SmsGatewayUnavailable(HttpUnavailable):
    """The gateway could not be reached or answered with a transient error."""

    what = "SMS gateway unavailable"


_SERVICE = Service(name="sms gateway", rejected=SmsRejected,
                   unavailable=SmsGatewayUnavailable, rejected_event="sms rejected",
                   unreadable_event="sms gateway sent an unreadable receipt")


class SmsGatewayClient(IdempotentPostClient[SmsGatewaySettings]):
    """Sends SMS through the gateway over an injected :class:`httpx.AsyncClient`.

    Settings and :meth:`open` as in :class:`~overdue.clients.http_api.IdempotentPostClient`.
    """

    path = "/v1/messages"
    service = _SERVICE

    async def send(self, *, to: str, body: str, idempotency_key: str,
                   reference: str | None = None,
                   callback_url: str | None = None) -> SmsReceipt:
        check_idempotency_key(idempotency_key)
        payload: dict[str, Any] = {"to": to, "sender_id": self._settings.sender_id,
                                   "body": body}
        if reference is not None:
            payload["reference"] = reference
        if callback_url is not None:
            payload["callback_url"] = callback_url
        bound = log.bind(idempotency_key=idempotency_key, reference=reference)
        receipt = await self._post(payload, idempotency_key=idempotency_key, log=bound,
                                   parse=_receipt)
        bound.info("sms accepted", message_id=receipt.message_id,
                   segments=receipt.segments, replayed=receipt.replayed)
        return receipt


def verify_receipt_signature(body: bytes, signature_header: str | None,
                             api_key: str | SecretStr) -> bool:
    """Whether a delivery receipt's ``X-Callback-Signature`` matches its raw ``body``.

    The gateway signs with its API key (``settings.api_key``); constant-time comparison.
    """
    return verify_signature(body, signature_header, api_key)


def _receipt(response: httpx.Response) -> SmsReceipt | None:
    data = json_object(response)
    if data is None:
        return None
    message_id, segments = data.get("message_id"), data.get("segments")
    if not isinstance(message_id, str) or not message_id:
        return None
    if isinstance(segments, bool) or not isinstance(segments, int):
        return None
    return SmsReceipt(message_id=message_id, segments=segments, replayed=is_replayed(response))
