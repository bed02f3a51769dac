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

import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr

from overdue.clients.signing import SIGNATURE_HEADER, verify_signature

log = structlog.get_logger(__name__)

CALLBACK_SIGNATURE_HEADER = SIGNATURE_HEADER

CallTaskKind = Literal["collection_call", "hardship_follow_up"]
CallOutcome = Literal["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute",
                      "handled"]

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_TRANSIENT_4XX = frozenset({408, 429})


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


class ContactCentreRejected(Exception):
    """The contact centre refused the task for good (4xx other than 408/429)."""

    def __init__(self, status_code: int, error_code: str, detail: str | None = None) -> None:
        super().__init__(f"contact centre rejected the call task: HTTP {status_code} "
                         f"{error_code}")
        self.status_code = status_code
        self.error_code = error_code
        # Server-provided text; kept out of str(self) because it is not ours to vet.
        self.detail = detail


class ContactCentreUnavailable(Exception):
    """The contact centre could not be reached or answered with a transient error."""

    def __init__(self, reason: str, *, status_code: int | None = None,
                 error_code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"contact centre unavailable: {reason}")
        self.status_code = status_code
        self.error_code = error_code
        self.retry_after = retry_after


class ContactCentreClient:
    """Creates call tasks over an injected :class:`httpx.AsyncClient`.

    The URL, API key and timeout come from ``settings`` on every request, so any client
    (e.g. one with an ``httpx.ASGITransport``) can be injected. :meth:`open` builds a
    dedicated one and closes it afterwards.
    """

    def __init__(self, http: httpx.AsyncClient, settings: ContactCentreSettings) -> None:
        self._http = http
        self._settings = settings
        self._url = f"{settings.url.rstrip('/')}/v1/call-tasks"

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: ContactCentreSettings) -> AsyncIterator[ContactCentreClient]:
        """``async with ContactCentreClient.open(settings) as cc: ...``"""
        async with httpx.AsyncClient(base_url=settings.url,
                                     timeout=settings.timeout_seconds,
                                     headers=_auth_header(settings)) as http:
            yield cls(http, settings)

    async def create_task(self, *, kind: CallTaskKind, reference: str, loan_ref: str,
                          phone: str, customer_name: str, locale: str, script: str,
                          due_by: datetime, idempotency_key: str,
                          callback_url: str | None = None,
                          assignee: str | None = None) -> CallTaskReceipt:
        """Queue a call; ``due_by`` must be timezone-aware."""
        if not (idempotency_key.strip() and idempotency_key.isascii()
                and idempotency_key.isprintable()):
            raise ValueError("Idempotency-Key must be non-empty printable ASCII")
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
        try:
            response = await self._http.post(
                self._url, json=payload,
                headers={**_auth_header(self._settings), "Idempotency-Key": idempotency_key},
                timeout=self._settings.timeout_seconds)
        except httpx.TimeoutException as exc:
            bound.warning("contact centre timed out", error_type=type(exc).__name__)
            raise ContactCentreUnavailable(f"timeout ({type(exc).__name__})") from exc
        except httpx.RequestError as exc:
            bound.warning("contact centre unreachable", error_type=type(exc).__name__)
            raise ContactCentreUnavailable(f"transport error ({type(exc).__name__})") from exc

        status = response.status_code
        if response.is_success:
            receipt = _receipt(response)
            if receipt is None:
                bound.warning("contact centre sent an unreadable answer", status_code=status)
                raise ContactCentreUnavailable(f"unreadable answer to HTTP {status}",
                                               status_code=status)
            bound.info("call task created", task_id=receipt.task_id,
                       replayed=receipt.replayed)
            return receipt

        error_code, detail = _error_of(response)
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            bound.warning("call task rejected", status_code=status, error_code=error_code)
            raise ContactCentreRejected(status, error_code, detail)
        retry_after = _retry_after(response)
        bound.warning("contact centre unavailable", status_code=status,
                      error_code=error_code, retry_after=retry_after)
        raise ContactCentreUnavailable(f"HTTP {status} {error_code}", status_code=status,
                                       error_code=error_code, retry_after=retry_after)


def verify_callback_signature(body: bytes, signature_header: str | None,
                              api_key: str | SecretStr) -> bool:
    """Whether an outcome callback's ``X-Callback-Signature`` matches its raw ``body``.

    The contact centre signs with its API key (``settings.api_key``); constant-time
    comparison; a missing or malformed header is ``False``.
    """
    return verify_signature(body, signature_header, api_key)


def _auth_header(settings: ContactCentreSettings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.api_key.get_secret_value()}"}


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _receipt(response: httpx.Response) -> CallTaskReceipt | None:
    data = _json_object(response)
    if data is None:
        return None
    task_id = data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        return None
    replayed = response.headers.get("Idempotent-Replayed", "").strip().lower() == "true"
    return CallTaskReceipt(task_id=task_id, replayed=replayed)


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
