"""A local SMS gateway sandbox that speaks a small but realistic HTTP SMS API.

Run it with ``python -m sandbox.sms_gateway --port 8025 --store .data/sms-sandbox.jsonl``.

API (what :class:`overdue.clients.sms.SmsGatewayClient` talks to):

``POST /v1/messages``
    Headers ``Authorization: Bearer <api_key>`` (401 otherwise) and ``Idempotency-Key``
    (400 if missing or empty, at most 200 characters). JSON body::

        {"to": "+8613800138000", "sender_id": "CJBANK", "body": "...",
         "callback_url": null, "reference": null}

    ``201 {"message_id": "sms_<hex>", "status": "accepted", "to": ..., "segments": n}``.
    ``segments`` counts 160 characters a segment when every character is in the GSM 03.38
    alphabet, 70 otherwise (e.g. any Chinese character).

    Errors are ``{"error": <code>, "message": <text>}`` (messages never echo the number or
    the text): 400 ``invalid_json`` / ``invalid_request`` / ``invalid_number`` (not E.164) /
    ``invalid_sender_id`` / ``empty_body`` / ``body_too_long`` (over 1000 characters) /
    ``missing_idempotency_key`` / ``invalid_idempotency_key``; 401 ``unauthorized``;
    422 ``unreachable_number`` for **any number ending in "0000"** (use such numbers to
    simulate a hard delivery failure); 409 ``idempotency_key_reused`` when a key already
    used for an accepted message comes back with a different JSON body.

    Idempotency: a repeated ``Idempotency-Key`` with the same JSON body (compared after
    dropping ``null`` fields) returns the original response with status 200 and header
    ``Idempotent-Replayed: true``; no second message is created. Only accepted messages
    claim a key: a rejected request can be retried with the same key.

``GET /v1/messages?to=&reference=``
    JSON list of accepted messages, oldest first, newest last, each with ``message_id``,
    ``to``, ``sender_id``, ``body``, ``reference``, ``callback_url``, ``idempotency_key``,
    ``segments``, ``accepted_at`` (ISO 8601 UTC, ``Z``) and the delivery-receipt fields
    ``delivery_status``, ``delivered_at``, ``receipt_status``, ``receipt_attempts`` (see
    *Delivery receipts*). ``GET /v1/messages/{message_id}`` returns one of them (404
    ``not_found``). Inspection endpoints need no API key.

``GET /v1/stats``
    ``{"accepted": n, "replayed": n, "rejected": n}``: ``accepted`` is the number of stored
    messages, ``replayed`` the idempotent replays and ``rejected`` the 4xx answers (401,
    400, 409, 422) of this process. Injected faults are counted in none of them.

``POST /_sandbox/faults``
    ``{"fail_next": n, "status": 503, "after_accept": false, "delay_seconds": 0}``: the
    next ``n`` authenticated ``POST /v1/messages`` are faulted. Normally they are answered
    with ``status`` (``{"error": "sandbox_fault"}``, plus ``Retry-After: 1`` on 429/503) and
    nothing is stored. With ``after_accept`` the request is processed as usual (stored,
    replayed or rejected) and *then* answered with ``status``: "sent, but the answer was
    lost". ``delay_seconds`` sleeps before answering. ``"status": null`` only delays and
    then answers normally. Each call replaces the previous fault plan; ``fail_next: 0``
    clears it.

``DELETE /_sandbox/messages``
    Forgets every message, idempotency key, counter and fault, cancels the receipts still
    to be sent, and truncates the store.

``GET /healthz``
    ``{"status": "ok"}``.

Delivery receipts: when an accepted message has a ``callback_url`` (an absolute http(s)
URL), the gateway "delivers" it about 0.2 s later and ``POST``s a receipt there, in the
background (an idempotent replay sends no second receipt)::

    {"message_id": "sms_...", "reference": "case-1" | null, "idempotency_key": "...",
     "status": "delivered" | "failed", "error": null | "undeliverable",
     "delivered_at": "2024-05-01T08:00:00.200Z" | null}

with ``Content-Type: application/json`` and ``X-Callback-Signature: sha256=<hex>``, the
lower-case hex HMAC-SHA256 of the raw body keyed with the gateway's API key (check it with
:func:`overdue.clients.sms.verify_receipt_signature`). **Numbers ending in "9999"** are
accepted (201) but their receipt says ``"status": "failed", "error": "undeliverable"``,
``"delivered_at": null``: a hard failure discovered after acceptance. Any 2xx answer
acknowledges the receipt; connection errors, timeouts (5 s), 5xx, 408 and 429 are retried
up to 5 more times, after 0.2, 0.5, 1, 2 and 4 s, with the very same body (receivers
should de-duplicate on ``message_id``); any other answer, or a callback URL that is not
http(s), gives up at once. The stored message records ``delivery_status``
(``delivered``/``failed``, what the receipt says, once decided), ``delivered_at``,
``receipt_status`` (``null`` without a callback URL, else ``pending`` until a receiver
acknowledged it (``delivered``) or the gateway gave up (``failed``)) and
``receipt_attempts`` (POSTs made so far).

Persistence: with ``store_path`` each accepted message is appended to the file as one JSON
line (and fsynced), and again whenever its receipt fields change (the last line of a
``message_id`` wins); the file is loaded when the app is created, so a restarted sandbox
still honours old idempotency keys, and resumes sending receipts still ``pending`` when it
starts serving.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import (
    BearerAuth,
    FaultPlan,
    IdempotentStore,
    error_response,
    http_sandbox_main,
    serve_create,
    serve_http_sandbox,
    utc_now_iso,
)

DEFAULT_API_KEY = "sandbox-sms-key"
API_KEY_ENV = "OVERDUE_SMS__API_KEY"
DEFAULT_PORT = 8025

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
SENDER_ID = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9 ]{0,10}|\+?[0-9]{3,15})$")
UNREACHABLE_SUFFIX = "0000"
UNDELIVERABLE_SUFFIX = "9999"
RECEIPT_DELAY_SECONDS = 0.2
MAX_BODY_CHARS = 1000
GSM7_SEGMENT_CHARS = 160
UCS2_SEGMENT_CHARS = 70

# GSM 03.38 default alphabet plus its extension table.
GSM7_CHARS = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
    "\f^{}\\[~]|€"
)

log = structlog.get_logger(__name__)

# --- signed webhooks (also used by sandbox.contact_centre) ----------------------------------

CALLBACK_SIGNATURE_HEADER = "X-Callback-Signature"
CALLBACK_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 4.0)
CALLBACK_TIMEOUT_SECONDS = 5.0

CallbackStatus = Literal["pending", "delivered", "failed"]
# Called after every change: (status, POST attempts so far).
CallbackRecorder = Callable[[CallbackStatus, int], None]


def sign_callback(body: bytes, api_key: str) -> str:
    """``sha256=<hex HMAC-SHA256 of the raw body keyed with the API key>``.

    Deliberately independent of :mod:`overdue.clients.signing`, which verifies it.
    """
    return "sha256=" + hmac.new(api_key.encode("utf-8"), body, hashlib.sha256).hexdigest()


def callback_body(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the same payload always gives the same bytes (and signature)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def is_http_url(url: str) -> bool:
    """An absolute http(s) URL with a host: something a webhook can be sent to."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class CallbackDispatcher:
    """Sends signed webhooks in background tasks, retrying transient failures.

    Each delivery ``POST``s one fixed body: first after ``first_delay``, then again after
    each of :data:`CALLBACK_RETRY_DELAYS` while the answer is a connection error, a
    timeout, 5xx, 408 or 429. 2xx is ``delivered``; any other answer, a non-http(s) URL or
    running out of retries is ``failed``. Neither URLs nor bodies are logged.
    """

    def __init__(self, api_key: str, *, name: str,
                 retry_delays: Sequence[float] = CALLBACK_RETRY_DELAYS,
                 timeout: float = CALLBACK_TIMEOUT_SECONDS) -> None:
        self._api_key = api_key
        self._name = name
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()

    def dispatch(self, url: str, body: Callable[[], bytes], record: CallbackRecorder, *,
                 log_id: str, first_delay: float = 0.0, attempts_so_far: int = 0) -> None:
        """Start delivering in the background (needs a running event loop).

        ``body`` is called once, after ``first_delay``; ``log_id`` (e.g. a message id) is
        the only thing about the delivery that gets logged.
        """
        task = asyncio.get_running_loop().create_task(
            self._deliver(url, body, record, log_id, first_delay, attempts_so_far))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error(f"{self._name}: callback delivery crashed",
                      error_type=type(exc).__name__)

    async def _deliver(self, url: str, make_body: Callable[[], bytes],
                       record: CallbackRecorder, log_id: str, first_delay: float,
                       attempts: int) -> None:
        bound = log.bind(callback_for=log_id)
        if first_delay > 0:
            await asyncio.sleep(first_delay)
        body = make_body()
        if not is_http_url(url):
            bound.warning(f"{self._name}: callback URL is not http(s); not sending")
            record("failed", attempts)
            return
        headers = {"Content-Type": "application/json",
                   CALLBACK_SIGNATURE_HEADER: sign_callback(body, self._api_key)}
        async with httpx.AsyncClient(trust_env=False, timeout=self._timeout,
                                     follow_redirects=False) as http:
            for delay in (0.0, *self._retry_delays):
                if delay > 0:
                    await asyncio.sleep(delay)
                attempts += 1
                try:
                    response = await http.post(url, content=body, headers=headers)
                except httpx.TransportError as exc:
                    bound.warning(f"{self._name}: callback not delivered",
                                  attempt=attempts, error_type=type(exc).__name__)
                else:
                    status = response.status_code
                    if response.is_success:
                        bound.info(f"{self._name}: callback delivered", attempt=attempts,
                                   status_code=status)
                        record("delivered", attempts)
                        return
                    bound.warning(f"{self._name}: callback refused", attempt=attempts,
                                  status_code=status)
                    if status < 500 and status not in (408, 429):
                        record("failed", attempts)
                        return
                record("pending", attempts)
        bound.warning(f"{self._name}: callback given up", attempts=attempts)
        record("failed", attempts)

    def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def aclose(self) -> None:
        """Cancel every delivery in flight and wait for them to end."""
        tasks = list(self._tasks)
        self.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)


# --- the gateway ------------------------------------------------------------------------


def count_segments(body: str) -> int:
    """SMS segments: 160 characters each in GSM-7, 70 once any character needs UCS-2."""
    per_segment = GSM7_SEGMENT_CHARS if set(body) <= GSM7_CHARS else UCS2_SEGMENT_CHARS
    return max(1, math.ceil(len(body) / per_segment))


class _MessageIn(BaseModel):
    to: str
    sender_id: str
    body: str
    callback_url: str | None = None
    reference: str | None = Field(default=None, max_length=200)


@dataclass(slots=True)
class StoredMessage:
    message_id: str
    to: str
    sender_id: str
    body: str
    reference: str | None
    callback_url: str | None
    idempotency_key: str
    fingerprint: str
    segments: int
    accepted_at: str
    # Delivery receipt (see the module docstring); defaults fit old store lines.
    delivery_status: str | None = None
    delivered_at: str | None = None
    receipt_status: str | None = None
    receipt_attempts: int = 0

    @property
    def record_id(self) -> str:
        return self.message_id

    def receipt(self) -> dict[str, Any]:
        failed = self.delivery_status == "failed"
        return {"message_id": self.message_id, "reference": self.reference,
                "idempotency_key": self.idempotency_key,
                "status": "failed" if failed else "delivered",
                "error": "undeliverable" if failed else None,
                "delivered_at": self.delivered_at}

    def response(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "status": "accepted", "to": self.to,
                "segments": self.segments}

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        del data["fingerprint"]
        return data


@dataclass(slots=True)
class _State:
    messages: IdempotentStore[StoredMessage]
    rejected: int = 0  # 4xx answers of this process
    faults: FaultPlan = field(default_factory=FaultPlan)

    def reset(self) -> None:
        self.messages.reset()
        self.rejected = 0
        self.faults = FaultPlan()


def create_app(store_path: Path | None = None, api_key: str = DEFAULT_API_KEY) -> FastAPI:
    """Build a sandbox app; state lives in the app (and in ``store_path`` if given).

    Delivery receipts are sent by background tasks of the serving event loop; receipts
    left ``pending`` in the store are resumed at startup (when lifespan events run).
    """
    state = _State(IdempotentStore(store_path, lambda data: StoredMessage(**data),
                                   name="sms sandbox"))
    state.messages.load()
    auth = BearerAuth(api_key, realm="sms")
    receipts = CallbackDispatcher(api_key, name="sms sandbox")

    def send_receipt(message: StoredMessage) -> None:
        """Decide the delivery (once) after a short delay, then POST the receipt."""
        assert message.callback_url is not None

        def body() -> bytes:
            if message.delivery_status is None:
                undeliverable = message.to.endswith(UNDELIVERABLE_SUFFIX)
                message.delivery_status = "failed" if undeliverable else "delivered"
                message.delivered_at = None if undeliverable else utc_now_iso()
                if state.messages.holds(message):
                    state.messages.persist(message)
            return callback_body(message.receipt())

        def record(status: CallbackStatus, attempts: int) -> None:
            if not state.messages.holds(message):
                return  # forgotten by DELETE /_sandbox/messages meanwhile
            message.receipt_status = status
            message.receipt_attempts = attempts
            state.messages.persist(message)

        first_delay = RECEIPT_DELAY_SECONDS if message.delivery_status is None else 0.0
        receipts.dispatch(message.callback_url, body, record, log_id=message.message_id,
                          first_delay=first_delay, attempts_so_far=message.receipt_attempts)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for message in state.messages.records.values():
            if message.receipt_status == "pending" and message.callback_url is not None:
                send_receipt(message)
        try:
            yield
        finally:
            await receipts.aclose()

    app = FastAPI(title="SMS gateway sandbox", version="1.0.0", lifespan=lifespan)

    def reject(status: int, code: str, message: str,
               headers: dict[str, str] | None = None) -> JSONResponse:
        state.rejected += 1
        return error_response(status, code, message, headers)

    async def process(request: Request) -> Response:
        new = await state.messages.new_request(request, _MessageIn, reject)
        if isinstance(new, JSONResponse):
            return new
        message_in = new.body

        if not E164.fullmatch(message_in.to):
            return reject(400, "invalid_number", "'to' must be an E.164 number like +8613800138000")
        if not SENDER_ID.fullmatch(message_in.sender_id):
            return reject(400, "invalid_sender_id",
                          "'sender_id' must be 1-11 letters/digits or a phone number")
        if not message_in.body:
            return reject(400, "empty_body", "'body' must not be empty")
        if len(message_in.body) > MAX_BODY_CHARS:
            return reject(400, "body_too_long",
                          f"'body' is longer than {MAX_BODY_CHARS} characters")
        if message_in.to.endswith(UNREACHABLE_SUFFIX):
            return reject(422, "unreachable_number", "the destination number is not reachable")

        message = StoredMessage(
            message_id=f"sms_{uuid.uuid4().hex}", to=message_in.to,
            sender_id=message_in.sender_id, body=message_in.body,
            reference=message_in.reference, callback_url=message_in.callback_url,
            idempotency_key=new.key, fingerprint=new.fingerprint,
            segments=count_segments(message_in.body), accepted_at=utc_now_iso(),
            receipt_status="pending" if message_in.callback_url is not None else None)
        state.messages.add(message)
        if message.callback_url is not None:
            send_receipt(message)
        return JSONResponse(message.response(), status_code=201)

    @app.post("/v1/messages")
    async def send_message(request: Request) -> Response:
        return await serve_create(request, process, auth=auth, faults=state.faults,
                                  fail=reject)

    @app.get("/v1/messages")
    async def list_messages(to: str | None = None,
                            reference: str | None = None) -> list[dict[str, Any]]:
        if to is not None:
            to = to.strip()
            if not to.startswith("+"):  # an unencoded "+" arrives as a space
                to = f"+{to}"
        return [m.public() for m in state.messages.records.values()
                if (to is None or m.to == to)
                and (reference is None or m.reference == reference)]

    @app.get("/v1/messages/{message_id}", response_model=None)
    async def get_message(message_id: str) -> dict[str, Any] | JSONResponse:
        message = state.messages.records.get(message_id)
        if message is None:
            return error_response(404, "not_found", "no such message")
        return message.public()

    @app.get("/v1/stats")
    async def stats() -> dict[str, int]:
        return {"accepted": len(state.messages.records), "replayed": state.messages.replayed,
                "rejected": state.rejected}

    @app.post("/_sandbox/faults")
    async def set_faults(plan: FaultPlan) -> FaultPlan:
        state.faults = plan
        return plan

    @app.delete("/_sandbox/messages")
    async def clear() -> dict[str, int]:
        removed = len(state.messages.records)
        receipts.cancel_all()
        state.reset()
        return {"removed": removed}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(host: str, port: int, store_path: Path | None, api_key: str | None = None) -> None:
    """Serve the sandbox with uvicorn until interrupted (SIGINT/SIGTERM).

    ``api_key`` defaults to ``$OVERDUE_SMS__API_KEY`` (what the worker sends), else
    ``sandbox-sms-key``.
    """
    serve_http_sandbox(create_app, host, port, store_path, api_key,
                       api_key_env=API_KEY_ENV, default_api_key=DEFAULT_API_KEY)


def main(argv: Sequence[str] | None = None) -> None:
    http_sandbox_main(argv, run, prog="python -m sandbox.sms_gateway",
                      description="Local SMS gateway sandbox", default_port=DEFAULT_PORT,
                      store_help="JSON-lines file of accepted messages (kept across restarts)",
                      api_key_env=API_KEY_ENV, default_api_key=DEFAULT_API_KEY)


if __name__ == "__main__":
    main()
