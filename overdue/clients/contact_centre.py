"""HTTP client of the contact centre's call tasks (``POST /v1/call-tasks``, see
:mod:`sandbox.contact_centre`).

A call task asks a representative to phone a customer (a collection call, or a hardship
follow-up) before ``due_by``. Every creation carries an ``Idempotency-Key``; the contact
centre answers a repeated key with the original task (``Idempotent-Replayed: true``), so
retrying after a timeout or a lost answer never queues a second call.

Errors split by what the caller should do:

* :class:`ContactCentreRejected`: permanent, do not retry (any 4xx except 408 and 429).
* :class:`ContactCentreUnavailable`: transient, retry with the *same* idempotency key
  (5xx, 408, 429, connection errors, timeouts, unreadable success answers).

When the agent completes the task, the contact centre ``POST``s the outcome to the task's
``callback_url``, signed with the API key: check the raw body with
:func:`verify_callback_signature` before trusting it, then parse it with
:meth:`CallTaskOutcome.model_validate_json`.

Phone numbers, customer names and scripts are never logged nor put into exception messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from overdue.clients.http_api import (
    HttpRejected,
    HttpUnavailable,
    IdempotentPostClient,
    Service,
    check_idempotency_key,
    is_replayed,
    json_object,
)
from overdue.clients.signing import SIGNATURE_HEADER, verify_signature

log = structlog.get_logger(__name__)

CALLBACK_SIGNATURE_HEADER = SIGNATURE_HEADER

CallTaskKind = Literal["collection_call", "hardship_follow_up"]
CallOutcome = Literal["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute",
                      "handled"]


class ContactCentreSettings(BaseModel):
    url: str = "http://127.0.0.1:8028"
    api_key: SecretStr = SecretStr("sandbox-cc-key")
    timeout_seconds: float = Field(default=10.0, gt=0)


@dataclass(frozen=True, slots=True)
class CallTaskReceipt:
    task_id: str
    replayed: bool


class CallTaskOutcome(BaseModel):
    """The body of the outcome callback (after its signature was checked)."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    reference: str
    kind: CallTaskKind
    outcome: CallOutcome
    promise_amount: Decimal | None = None
    promise_date: date | None = None
    note: str | None = None
    agent: str
    completed_at: AwareDatetime


class ContactCentreRejected(HttpRejected):
    """The contact centre refused the task for good (4xx other than 408/429)."""

    what = "contact centre rejected the call task"


class ContactCentreUnavailable(HttpUnavailable):
    """The contact centre could not be reached or answered with a transient error."""

    what = "contact centre unavailable"


_SERVICE = Service(name="contact centre", rejected=ContactCentreRejected,
                   unavailable=ContactCentreUnavailable, rejected_event="call task rejected",
                   unreadable_event="contact centre sent an unreadable answer")


class ContactCentreClient(IdempotentPostClient[ContactCentreSettings]):
    """Creates call tasks over an injected :class:`httpx.AsyncClient`.

    Settings and :meth:`open` as in :class:`~overdue.clients.http_api.IdempotentPostClient`.
    """

    path = "/v1/call-tasks"
    service = _SERVICE

    async def create_task(self, *, kind: CallTaskKind, reference: str, loan_ref: str,
                          phone: str, customer_name: str, locale: str, script: str,
                          due_by: datetime, idempotency_key: str,
                          callback_url: str | None = None,
                          assignee: str | None = None) -> CallTaskReceipt:
        """Queue a call; ``due_by`` must be timezone-aware."""
        check_idempotency_key(idempotency_key)
        if due_by.tzinfo is None or due_by.utcoffset() is None:
            raise ValueError("due_by must be timezone-aware")
        payload: dict[str, Any] = {
            "kind": kind, "reference": reference, "loan_ref": loan_ref, "phone": phone,
            "customer_name": customer_name, "locale": locale, "script": script,
            "due_by": due_by.isoformat()}
        if callback_url is not None:
            payload["callback_url"] = callback_url
        if assignee is not None:
            payload["assignee"] = assignee
        bound = log.bind(idempotency_key=idempotency_key, reference=reference, kind=kind)
        receipt = await self._post(payload, idempotency_key=idempotency_key, log=bound,
                                   parse=_receipt)
        bound.info("call task created", task_id=receipt.task_id, replayed=receipt.replayed)
        return receipt


def verify_callback_signature(body: bytes, signature_header: str | None,
                              api_key: str | SecretStr) -> bool:
    """Whether an outcome callback's ``X-Callback-Signature`` matches its raw ``body``.

    The contact centre signs with its API key (``settings.api_key``); constant-time
    comparison; a missing or malformed header is ``False``.
    """
    return verify_signature(body, signature_header, api_key)


def _receipt(response: httpx.Response) -> CallTaskReceipt | None:
    data = json_object(response)
    if data is None:
        return None
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        return None
    return CallTaskReceipt(task_id=task_id, replayed=is_replayed(response))
