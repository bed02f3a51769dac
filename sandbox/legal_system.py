"""A local sandbox of the bank's legal case-management system: lawyers' reviews, court
filings (hearing, judgment) and enforcement (freezing accounts, seizing assets).

Run it with ``python -m sandbox.legal_system --port 8029 --store .data/legal-sandbox.jsonl``.

API (what :class:`overdue.clients.legal.LegalSystemClient` talks to). Errors are
``{"error": <code>, "message": <text>}``; messages never echo facts, claims, amounts or
names. Amounts are JSON strings with exactly 2 decimals (``"1234.50"``), dates
``YYYY-MM-DD``.

The bank's requests (``POST /v1/reviews``, ``/v1/filings``, ``/v1/enforcements``) need
``Authorization: Bearer <api_key>`` (401 ``unauthorized``) and an ``Idempotency-Key`` (400
``missing_idempotency_key`` if missing or empty, ``invalid_idempotency_key`` over 200
characters), exactly like :mod:`sandbox.contact_centre`: the same key with the same JSON
body (compared after dropping ``null`` fields) answers the original response with status
200 and ``Idempotent-Replayed: true``; the same key with another body is 409
``idempotency_key_reused``. Keys are scoped to the endpoint, and only created records claim
one. Every body error is 400 ``invalid_json`` / ``invalid_request`` (schema) unless said
otherwise; ``callback_url`` must be an absolute http(s) URL (400 ``invalid_callback_url``).

``POST /v1/reviews``: ask the legal team whether to sue::

    {"reference": "case ref", "loan_ref": "L-1", "documents": ["doc-1", ...],
     "summary": {"arrears": "1234.50", "days_past_due": 95, "failed_negotiations": 2},
     "callback_url": "https://..." | null}

    -> 201 {"review_id": "rev_<hex>", "status": "pending"}

``documents`` holds 1-100 references (1-200 characters); ``arrears`` is an amount, the two
counts integers >= 0 (400 ``invalid_amount`` for a malformed ``arrears``).

``POST /v1/reviews/{review_id}/decision`` (the lawyer; no API key)::

    {"decision": "proceed" | "do_not_proceed", "reasons": ["..."], "lawyer": "lawyer-3"}

    -> 200 the review; callback "review_decided"

Up to 50 ``reasons`` of 1-2000 characters. 404 ``not_found``; 409 ``already_decided``; 400
``missing_reasons`` (``do_not_proceed`` needs at least one reason).

``POST /v1/filings``: sue::

    {"reference": "...", "loan_ref": "L-1", "court": "Pudong District People's Court",
     "facts": "...", "claims": ["repay the principal of ...", ...],
     "amount_claimed": {"principal": "10000.00", "interest": "250.00",
                        "penalty_interest": "80.00", "costs": "500.00",
                        "total": "10830.00"},
     "as_of": "2024-06-01", "callback_url": "https://..." | null}

    -> 201 {"filing_id": "fil_<hex>", "status": "filed"}

``court`` is 1-200 characters, ``facts`` 1-20000, ``claims`` 1-50 of 1-2000 each. 400
``invalid_amount`` (an amount that is not a string with exactly 2 decimals, or a total of
0); 422 ``amount_mismatch`` when ``total`` is not exactly the sum of the four parts.

``POST /v1/filings/{filing_id}/hearing`` (the court; no API key)::

    {"hearing_date": "2024-07-15", "court_room": "Room 4"}  -> 200 the filing;
    callback "hearing_scheduled"

A hearing can be rescheduled (each time a new callback) until the judgment. 404
``not_found``; 409 ``already_judged``; 400 ``invalid_hearing_date`` (before ``as_of``).

``POST /v1/filings/{filing_id}/judgment`` (the court; no API key)::

    {"outcome": "for_bank" | "partly" | "against", "awarded": "10830.00" | null,
     "judgment_date": "2024-07-15"}  -> 200 the filing; callback "judgment"

404 ``not_found``; 409 ``hearing_not_scheduled`` / ``already_judged``; 400
``missing_awarded`` (``for_bank``/``partly`` without ``awarded``), ``unexpected_awarded``
(``awarded`` with ``against``), ``invalid_amount`` (malformed or 0),
``awarded_exceeds_claim`` (more than the claimed total), ``invalid_judgment_date`` (before
the hearing date).

``POST /v1/enforcements``: enforce a judgment::

    {"reference": "...", "filing_id": "fil_...",
     "actions": [{"kind": "freeze_accounts" | "seize_property" | "seize_vehicle"
                          | "garnish_wages",
                  "asset_lead": "ICBC account ending 1234" | null}, ...],
     "callback_url": "https://..." | null}

    -> 201 {"enforcement_id": "enf_<hex>",
            "actions": [{"action_id": "act_<hex>", "kind": "...", "status": "requested"}]}

1-20 actions (``asset_lead`` 1-500 characters). 422 ``unknown_filing`` /
``reference_mismatch`` (the filing is of another case); 409 ``not_enforceable`` (no
judgment yet, or judged ``against`` the bank).

``POST /v1/enforcements/{enforcement_id}/actions/{action_id}`` (the court's bailiff; no API
key)::

    {"status": "in_progress" | "completed" | "failed", "recovered": "1500.00" | null}

    -> 200 the enforcement; callback "enforcement_update"

``recovered`` is cumulative for the action (omitted: unchanged; it starts at ``"0.00"``).
404 ``not_found``; 409 ``action_closed`` (already ``completed`` or ``failed``); 400
``invalid_amount`` / ``recovered_decreased``.

``GET /v1/reviews?status=pending|decided&reference=``, ``GET /v1/filings?status=filed|
hearing_scheduled|judged&reference=``, ``GET /v1/enforcements?status=open|closed&reference=
&filing_id=``: JSON lists, oldest first; ``GET /v1/<kind>/{id}`` one record (404
``not_found``). No API key needed. A record has every field of its request plus its id,
``idempotency_key``, ``created_at``, its state, and ``events``: every callback it produced,
``{"event_id", "type", "payload", "callback_status", "callback_attempts"}``.

Callbacks: every decision, hearing, judgment and action update of a record with a
``callback_url`` is ``POST``ed there in the background, as compact JSON, with
``Content-Type: application/json`` and ``X-Callback-Signature: sha256=<hex>``, the
lower-case hex HMAC-SHA256 of the raw body keyed with the sandbox's API key (check it with
:func:`overdue.clients.signing.verify_signature`, parse it with
:class:`overdue.clients.legal.LegalCallback`)::

    {"type": "review_decided", "event_id": "evt_...", "review_id": "rev_...",
     "reference": "...", "decision": "proceed", "reasons": ["..."], "lawyer": "...",
     "at": "2024-06-01T08:00:00.000Z"}
    {"type": "hearing_scheduled", "event_id": "evt_...", "filing_id": "fil_...",
     "reference": "...", "court": "...", "hearing_date": "2024-07-15",
     "court_room": "Room 4", "at": "..."}
    {"type": "judgment", "event_id": "evt_...", "filing_id": "fil_...", "reference": "...",
     "outcome": "partly", "awarded": "9000.00" | null, "judgment_date": "2024-07-15",
     "at": "..."}
    {"type": "enforcement_update", "event_id": "evt_...", "enforcement_id": "enf_...",
     "action_id": "act_...", "kind": "freeze_accounts", "status": "in_progress",
     "recovered": "1500.00", "reference": "...", "at": "..."}

Delivery is that of :mod:`sandbox.contact_centre` (any 2xx acknowledges; connection
errors, timeouts, 5xx, 408 and 429 are retried up to 5 more times after 0.2, 0.5, 1, 2 and
4 s with the very same body; anything else gives up). Callbacks are independent, so they
may arrive out of order: receivers de-duplicate on ``event_id`` and, for enforcement
updates, keep the largest ``recovered`` (it never decreases). Each event records
``callback_status`` (``null`` without a callback URL, then ``pending``, ``delivered`` or
``failed``) and ``callback_attempts``.

``POST /_sandbox/faults``
    ``{"fail_next": n, "status": 503, "after_accept": false, "delay_seconds": 0}``: the next
    ``n`` authenticated create requests (of any of the three kinds) are faulted like the
    contact centre's (``after_accept``: the record is created, then the answer is
    ``status``; ``status: null``: answered normally after ``delay_seconds``).

``DELETE /_sandbox/all``
    Forgets every record, idempotency key and fault, cancels callbacks in flight and
    truncates the store. ``GET /healthz``: ``{"status": "ok"}``.

Persistence: with ``store_path`` every created record, and every later change of it
(decision, hearing, judgment, action update, callback progress), is appended to the file as
one JSON line (fsynced; ``"record"`` says which kind; the last line of an id wins). The file
is loaded when the app is created, so a restarted sandbox keeps its records and idempotency
keys, and resumes callbacks still ``pending`` when it starts serving.
"""

from __future__ import annotations

import argparse
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.common import (
    BearerAuth,
    FaultPlan,
    IdempotentStore,
    error_response,
    json_body,
    read_jsonl,
    serve_create,
    utc_now_iso,
    validate_body,
)
from sandbox.sms_gateway import (
    CallbackDispatcher,
    CallbackStatus,
    callback_body,
    is_http_url,
)

DEFAULT_API_KEY = "sandbox-legal-key"
API_KEY_ENV = "OVERDUE_LEGAL__API_KEY"
DEFAULT_PORT = 8029
NAME = "legal sandbox"  # prefixes log events

AMOUNT = re.compile(r"^(?:0|[1-9][0-9]{0,11})\.[0-9]{2}$")

Decision = Literal["proceed", "do_not_proceed"]
Outcome = Literal["for_bank", "partly", "against"]
ActionKind = Literal["freeze_accounts", "seize_property", "seize_vehicle", "garnish_wages"]
ActionStatus = Literal["in_progress", "completed", "failed"]
CLOSED_ACTION = ("completed", "failed")

Ref = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]
M = TypeVar("M", bound=BaseModel)


# --- request bodies ----------------------------------------------------------------------


class _Summary(BaseModel):
    arrears: str
    days_past_due: int = Field(ge=0)
    failed_negotiations: int = Field(ge=0)


class _ReviewIn(BaseModel):
    reference: Ref
    loan_ref: Ref
    documents: list[Ref] = Field(min_length=1, max_length=100)
    summary: _Summary
    callback_url: str | None = Field(default=None, max_length=2000)


class _DecisionIn(BaseModel):
    decision: Decision
    reasons: list[Text] = Field(default_factory=list, max_length=50)
    lawyer: Ref


class _AmountClaimed(BaseModel):
    principal: str
    interest: str
    penalty_interest: str
    costs: str
    total: str


class _FilingIn(BaseModel):
    reference: Ref
    loan_ref: Ref
    court: Ref
    facts: str = Field(min_length=1, max_length=20000)
    claims: list[Text] = Field(min_length=1, max_length=50)
    amount_claimed: _AmountClaimed
    as_of: date
    callback_url: str | None = Field(default=None, max_length=2000)


class _HearingIn(BaseModel):
    hearing_date: date
    court_room: Ref


class _JudgmentIn(BaseModel):
    outcome: Outcome
    awarded: str | None = None
    judgment_date: date


class _ActionIn(BaseModel):
    kind: ActionKind
    asset_lead: str | None = Field(default=None, min_length=1, max_length=500)


class _EnforcementIn(BaseModel):
    reference: Ref
    filing_id: Ref
    actions: list[_ActionIn] = Field(min_length=1, max_length=20)
    callback_url: str | None = Field(default=None, max_length=2000)


class _ActionUpdateIn(BaseModel):
    status: ActionStatus
    recovered: str | None = None


def _amount(value: str, *, positive: bool = False) -> Decimal | None:
    """The amount of a 2-decimal string, or ``None`` if malformed (or 0 when ``positive``)."""
    if not AMOUNT.fullmatch(value):
        return None
    amount = Decimal(value)
    return None if positive and amount <= 0 else amount


def _invalid_amount(what: str) -> JSONResponse:
    return error_response(400, "invalid_amount",
                          f"'{what}' must be a decimal string with exactly 2 decimals")


# --- records -----------------------------------------------------------------------------


@dataclass(slots=True)
class StoredEvent:
    """One callback of a record: its payload and how its delivery went."""

    event_id: str
    type: str
    payload: dict[str, Any]
    callback_status: str | None = None
    callback_attempts: int = 0


def _events(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "events": [StoredEvent(**e) for e in data.get("events", [])]}


@dataclass(slots=True)
class StoredReview:
    review_id: str
    reference: str
    loan_ref: str
    documents: list[str]
    summary: dict[str, Any]
    callback_url: str | None
    idempotency_key: str
    fingerprint: str
    created_at: str
    status: str = "pending"  # then "decided"
    decision: str | None = None
    reasons: list[str] = field(default_factory=list)
    lawyer: str | None = None
    decided_at: str | None = None
    events: list[StoredEvent] = field(default_factory=list)
    record: str = "review"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredReview:
        return cls(**_events(data))

    @property
    def record_id(self) -> str:
        return self.review_id

    def response(self) -> dict[str, Any]:
        return {"review_id": self.review_id, "status": "pending"}

    def public(self) -> dict[str, Any]:
        return _public(self)


@dataclass(slots=True)
class StoredFiling:
    filing_id: str
    reference: str
    loan_ref: str
    court: str
    facts: str
    claims: list[str]
    amount_claimed: dict[str, str]
    as_of: str
    callback_url: str | None
    idempotency_key: str
    fingerprint: str
    created_at: str
    status: str = "filed"  # then "hearing_scheduled", "judged"
    hearing_date: str | None = None
    court_room: str | None = None
    outcome: str | None = None
    awarded: str | None = None
    judgment_date: str | None = None
    events: list[StoredEvent] = field(default_factory=list)
    record: str = "filing"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredFiling:
        return cls(**_events(data))

    @property
    def record_id(self) -> str:
        return self.filing_id

    def response(self) -> dict[str, Any]:
        return {"filing_id": self.filing_id, "status": "filed"}

    def public(self) -> dict[str, Any]:
        return _public(self)


@dataclass(slots=True)
class StoredAction:
    action_id: str
    kind: str
    asset_lead: str | None
    status: str = "requested"  # then "in_progress", "completed", "failed"
    recovered: str = "0.00"
    updated_at: str | None = None


@dataclass(slots=True)
class StoredEnforcement:
    enforcement_id: str
    reference: str
    filing_id: str
    actions: list[StoredAction]
    callback_url: str | None
    idempotency_key: str
    fingerprint: str
    created_at: str
    events: list[StoredEvent] = field(default_factory=list)
    record: str = "enforcement"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredEnforcement:
        data = _events(data)
        return cls(**{**data, "actions": [StoredAction(**a) for a in data["actions"]]})

    @property
    def record_id(self) -> str:
        return self.enforcement_id

    @property
    def status(self) -> str:
        """``closed`` once every action is completed or failed, else ``open``."""
        return ("closed" if all(a.status in CLOSED_ACTION for a in self.actions)
                else "open")

    def action(self, action_id: str) -> StoredAction | None:
        return next((a for a in self.actions if a.action_id == action_id), None)

    def response(self) -> dict[str, Any]:
        return {"enforcement_id": self.enforcement_id,
                "actions": [{"action_id": a.action_id, "kind": a.kind, "status": "requested"}
                            for a in self.actions]}

    def public(self) -> dict[str, Any]:
        data = _public(self)
        data["status"] = self.status
        data["recovered_total"] = str(sum((Decimal(a.recovered) for a in self.actions),
                                          Decimal("0.00")))
        return data


Record = StoredReview | StoredFiling | StoredEnforcement


def _public(record: Record) -> dict[str, Any]:
    data = asdict(record)
    del data["fingerprint"], data["record"]
    return data


def _parse_record(data: Any) -> Record:
    kind = data["record"]
    if kind == "review":
        return StoredReview.from_json(data)
    if kind == "filing":
        return StoredFiling.from_json(data)
    if kind == "enforcement":
        return StoredEnforcement.from_json(data)
    raise ValueError(f"unknown record kind {kind!r}")


@dataclass(slots=True)
class _State:
    reviews: IdempotentStore[StoredReview]
    filings: IdempotentStore[StoredFiling]
    enforcements: IdempotentStore[StoredEnforcement]
    faults: FaultPlan = field(default_factory=FaultPlan)

    @classmethod
    def open(cls, path: Path | None) -> _State:
        """The records of ``path`` (one file for the three kinds)."""
        state = cls(IdempotentStore(path, StoredReview.from_json, name=NAME),
                    IdempotentStore(path, StoredFiling.from_json, name=NAME),
                    IdempotentStore(path, StoredEnforcement.from_json, name=NAME))
        for record in read_jsonl(path, _parse_record, name=NAME):
            store = state.store_of(record)
            store.records[record.record_id] = record  # keeps its first place
            store.by_key[record.idempotency_key] = record
        return state

    def store_of(self, record: Record) -> IdempotentStore[Any]:
        if isinstance(record, StoredReview):
            return self.reviews
        if isinstance(record, StoredFiling):
            return self.filings
        return self.enforcements

    def all_records(self) -> list[Record]:
        return [*self.reviews.records.values(), *self.filings.records.values(),
                *self.enforcements.records.values()]

    def reset(self) -> None:
        self.reviews.reset()
        self.filings.reset()
        self.enforcements.reset()  # each truncates the one file
        self.faults = FaultPlan()


# --- the app -----------------------------------------------------------------------------


def create_app(store_path: Path | None = None, api_key: str = DEFAULT_API_KEY) -> FastAPI:
    """Build a sandbox app; state lives in the app (and in ``store_path`` if given).

    Callbacks are sent by background tasks of the serving event loop; callbacks left
    ``pending`` in the store are resumed at startup (when lifespan events run).
    """
    state = _State.open(store_path)
    auth = BearerAuth(api_key, realm="legal-system")
    callbacks = CallbackDispatcher(api_key, name=NAME)

    def send_callback(record: Record, event: StoredEvent) -> None:
        assert record.callback_url is not None

        def progress(status: CallbackStatus, attempts: int) -> None:
            store = state.store_of(record)
            if not store.holds(record):
                return  # forgotten by DELETE /_sandbox/all meanwhile
            event.callback_status = status
            event.callback_attempts = attempts
            store.persist(record)

        callbacks.dispatch(record.callback_url, lambda: callback_body(event.payload), progress,
                           log_id=event.event_id, attempts_so_far=event.callback_attempts)

    def emit(record: Record, payload: dict[str, Any]) -> None:
        """Record the event ``payload`` (persisting ``record``) and send its callback."""
        event_id = f"evt_{uuid.uuid4().hex}"
        event = StoredEvent(event_id=event_id, type=payload["type"],
                            payload={"type": payload["type"], "event_id": event_id,
                                     **payload, "at": utc_now_iso()},
                            callback_status="pending" if record.callback_url else None)
        record.events.append(event)
        state.store_of(record).persist(record)
        if record.callback_url is not None:
            send_callback(record, event)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for record in state.all_records():
            for event in record.events:
                if event.callback_status == "pending" and record.callback_url is not None:
                    send_callback(record, event)
        try:
            yield
        finally:
            await callbacks.aclose()

    app = FastAPI(title="Legal case-management sandbox", version="1.0.0", lifespan=lifespan)

    def bad_callback_url(url: str | None) -> JSONResponse | None:
        if url is not None and not is_http_url(url):
            return error_response(400, "invalid_callback_url",
                                  "'callback_url' must be an absolute http(s) URL")
        return None

    async def created(request: Request,
                      process: Callable[[Request], Awaitable[Response]]) -> Response:
        return await serve_create(request, process, auth=auth, faults=state.faults)

    async def body_of(request: Request, model: type[M]) -> M | JSONResponse:
        payload = await json_body(request)
        if isinstance(payload, JSONResponse):
            return payload
        return validate_body(model, payload)

    # --- reviews ---------------------------------------------------------------------

    async def create_review(request: Request) -> Response:
        new = await state.reviews.new_request(request, _ReviewIn)
        if isinstance(new, JSONResponse):
            return new
        body = new.body
        if (problem := bad_callback_url(body.callback_url)) is not None:
            return problem
        if _amount(body.summary.arrears) is None:
            return _invalid_amount("summary.arrears")
        review = StoredReview(
            review_id=f"rev_{uuid.uuid4().hex}", reference=body.reference,
            loan_ref=body.loan_ref, documents=body.documents,
            summary=body.summary.model_dump(), callback_url=body.callback_url,
            idempotency_key=new.key, fingerprint=new.fingerprint, created_at=utc_now_iso())
        state.reviews.add(review)
        return JSONResponse(review.response(), status_code=201)

    @app.post("/v1/reviews")
    async def request_review(request: Request) -> Response:
        return await created(request, create_review)

    @app.get("/v1/reviews", response_model=None)
    async def list_reviews(status: str | None = None,
                           reference: str | None = None) -> list[dict[str, Any]] | JSONResponse:
        if status not in (None, "pending", "decided"):
            return error_response(400, "invalid_request",
                                  "status must be 'pending' or 'decided'")
        return [r.public() for r in state.reviews.records.values()
                if (status is None or r.status == status)
                and (reference is None or r.reference == reference)]

    @app.get("/v1/reviews/{review_id}", response_model=None)
    async def get_review(review_id: str) -> dict[str, Any] | JSONResponse:
        review = state.reviews.records.get(review_id)
        if review is None:
            return error_response(404, "not_found", "no such review")
        return review.public()

    @app.post("/v1/reviews/{review_id}/decision", response_model=None)
    async def decide(review_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        review = state.reviews.records.get(review_id)
        if review is None:
            return error_response(404, "not_found", "no such review")
        decision = await body_of(request, _DecisionIn)
        if isinstance(decision, JSONResponse):
            return decision
        if review.status == "decided":
            return error_response(409, "already_decided", "the review is already decided")
        if decision.decision == "do_not_proceed" and not decision.reasons:
            return error_response(400, "missing_reasons",
                                  "do_not_proceed needs at least one reason")

        review.status = "decided"
        review.decision = decision.decision
        review.reasons = decision.reasons
        review.lawyer = decision.lawyer
        review.decided_at = utc_now_iso()
        emit(review, {"type": "review_decided", "review_id": review.review_id,
                      "reference": review.reference, "decision": review.decision,
                      "reasons": review.reasons, "lawyer": review.lawyer})
        return review.public()

    # --- filings ---------------------------------------------------------------------

    async def create_filing(request: Request) -> Response:
        new = await state.filings.new_request(request, _FilingIn)
        if isinstance(new, JSONResponse):
            return new
        body = new.body
        if (problem := bad_callback_url(body.callback_url)) is not None:
            return problem
        claimed = body.amount_claimed.model_dump()
        amounts: dict[str, Decimal] = {}
        for name, value in claimed.items():
            amount = _amount(value, positive=name == "total")
            if amount is None:
                return _invalid_amount(f"amount_claimed.{name}")
            amounts[name] = amount
        parts = (amounts["principal"] + amounts["interest"] + amounts["penalty_interest"]
                 + amounts["costs"])
        if parts != amounts["total"]:
            return error_response(422, "amount_mismatch",
                                  "amount_claimed.total is not principal + interest + "
                                  "penalty_interest + costs")
        filing = StoredFiling(
            filing_id=f"fil_{uuid.uuid4().hex}", reference=body.reference,
            loan_ref=body.loan_ref, court=body.court, facts=body.facts, claims=body.claims,
            amount_claimed=claimed, as_of=body.as_of.isoformat(),
            callback_url=body.callback_url, idempotency_key=new.key,
            fingerprint=new.fingerprint, created_at=utc_now_iso())
        state.filings.add(filing)
        return JSONResponse(filing.response(), status_code=201)

    @app.post("/v1/filings")
    async def file_suit(request: Request) -> Response:
        return await created(request, create_filing)

    @app.get("/v1/filings", response_model=None)
    async def list_filings(status: str | None = None,
                           reference: str | None = None) -> list[dict[str, Any]] | JSONResponse:
        if status not in (None, "filed", "hearing_scheduled", "judged"):
            return error_response(400, "invalid_request",
                                  "status must be 'filed', 'hearing_scheduled' or 'judged'")
        return [f.public() for f in state.filings.records.values()
                if (status is None or f.status == status)
                and (reference is None or f.reference == reference)]

    @app.get("/v1/filings/{filing_id}", response_model=None)
    async def get_filing(filing_id: str) -> dict[str, Any] | JSONResponse:
        filing = state.filings.records.get(filing_id)
        if filing is None:
            return error_response(404, "not_found", "no such filing")
        return filing.public()

    @app.post("/v1/filings/{filing_id}/hearing", response_model=None)
    async def schedule_hearing(filing_id: str,
                               request: Request) -> dict[str, Any] | JSONResponse:
        filing = state.filings.records.get(filing_id)
        if filing is None:
            return error_response(404, "not_found", "no such filing")
        hearing = await body_of(request, _HearingIn)
        if isinstance(hearing, JSONResponse):
            return hearing
        if filing.status == "judged":
            return error_response(409, "already_judged", "the filing is already judged")
        if hearing.hearing_date < date.fromisoformat(filing.as_of):
            return error_response(400, "invalid_hearing_date",
                                  "hearing_date is before the filing's as_of")

        filing.status = "hearing_scheduled"
        filing.hearing_date = hearing.hearing_date.isoformat()
        filing.court_room = hearing.court_room
        emit(filing, {"type": "hearing_scheduled", "filing_id": filing.filing_id,
                      "reference": filing.reference, "court": filing.court,
                      "hearing_date": filing.hearing_date, "court_room": filing.court_room})
        return filing.public()

    @app.post("/v1/filings/{filing_id}/judgment", response_model=None)
    async def judge(filing_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        filing = state.filings.records.get(filing_id)
        if filing is None:
            return error_response(404, "not_found", "no such filing")
        judgment = await body_of(request, _JudgmentIn)
        if isinstance(judgment, JSONResponse):
            return judgment
        if filing.status == "judged":
            return error_response(409, "already_judged", "the filing is already judged")
        if filing.hearing_date is None:
            return error_response(409, "hearing_not_scheduled",
                                  "a judgment needs a hearing first")
        if judgment.outcome == "against":
            if judgment.awarded is not None:
                return error_response(400, "unexpected_awarded",
                                      "'awarded' does not go with outcome 'against'")
        else:
            if judgment.awarded is None:
                return error_response(400, "missing_awarded",
                                      "outcomes 'for_bank' and 'partly' need 'awarded'")
            awarded = _amount(judgment.awarded, positive=True)
            if awarded is None:
                return _invalid_amount("awarded")
            if awarded > Decimal(filing.amount_claimed["total"]):
                return error_response(400, "awarded_exceeds_claim",
                                      "'awarded' is more than the claimed total")
        if judgment.judgment_date < date.fromisoformat(filing.hearing_date):
            return error_response(400, "invalid_judgment_date",
                                  "judgment_date is before the hearing date")

        filing.status = "judged"
        filing.outcome = judgment.outcome
        filing.awarded = judgment.awarded
        filing.judgment_date = judgment.judgment_date.isoformat()
        emit(filing, {"type": "judgment", "filing_id": filing.filing_id,
                      "reference": filing.reference, "outcome": filing.outcome,
                      "awarded": filing.awarded, "judgment_date": filing.judgment_date})
        return filing.public()

    # --- enforcements ----------------------------------------------------------------

    async def create_enforcement(request: Request) -> Response:
        new = await state.enforcements.new_request(request, _EnforcementIn)
        if isinstance(new, JSONResponse):
            return new
        body = new.body
        if (problem := bad_callback_url(body.callback_url)) is not None:
            return problem
        filing = state.filings.records.get(body.filing_id)
        if filing is None:
            return error_response(422, "unknown_filing", "no such filing")
        if filing.reference != body.reference:
            return error_response(422, "reference_mismatch",
                                  "the filing belongs to another reference")
        if filing.outcome not in ("for_bank", "partly"):
            return error_response(409, "not_enforceable",
                                  "the filing has no judgment for the bank")
        enforcement = StoredEnforcement(
            enforcement_id=f"enf_{uuid.uuid4().hex}", reference=body.reference,
            filing_id=body.filing_id,
            actions=[StoredAction(action_id=f"act_{uuid.uuid4().hex}", kind=a.kind,
                                  asset_lead=a.asset_lead) for a in body.actions],
            callback_url=body.callback_url, idempotency_key=new.key,
            fingerprint=new.fingerprint, created_at=utc_now_iso())
        state.enforcements.add(enforcement)
        return JSONResponse(enforcement.response(), status_code=201)

    @app.post("/v1/enforcements")
    async def request_enforcement(request: Request) -> Response:
        return await created(request, create_enforcement)

    @app.get("/v1/enforcements", response_model=None)
    async def list_enforcements(
            status: str | None = None, reference: str | None = None,
            filing_id: str | None = None) -> list[dict[str, Any]] | JSONResponse:
        if status not in (None, "open", "closed"):
            return error_response(400, "invalid_request", "status must be 'open' or 'closed'")
        return [e.public() for e in state.enforcements.records.values()
                if (status is None or e.status == status)
                and (reference is None or e.reference == reference)
                and (filing_id is None or e.filing_id == filing_id)]

    @app.get("/v1/enforcements/{enforcement_id}", response_model=None)
    async def get_enforcement(enforcement_id: str) -> dict[str, Any] | JSONResponse:
        enforcement = state.enforcements.records.get(enforcement_id)
        if enforcement is None:
            return error_response(404, "not_found", "no such enforcement")
        return enforcement.public()

    @app.post("/v1/enforcements/{enforcement_id}/actions/{action_id}", response_model=None)
    async def update_action(enforcement_id: str, action_id: str,
                            request: Request) -> dict[str, Any] | JSONResponse:
        enforcement = state.enforcements.records.get(enforcement_id)
        action = enforcement.action(action_id) if enforcement is not None else None
        if enforcement is None or action is None:
            return error_response(404, "not_found", "no such enforcement action")
        update = await body_of(request, _ActionUpdateIn)
        if isinstance(update, JSONResponse):
            return update
        if action.status in CLOSED_ACTION:
            return error_response(409, "action_closed", "the action is already closed")
        recovered = action.recovered
        if update.recovered is not None:
            amount = _amount(update.recovered)
            if amount is None:
                return _invalid_amount("recovered")
            if amount < Decimal(action.recovered):
                return error_response(400, "recovered_decreased",
                                      "'recovered' is cumulative and cannot decrease")
            recovered = update.recovered

        action.status = update.status
        action.recovered = recovered
        action.updated_at = utc_now_iso()
        emit(enforcement, {"type": "enforcement_update",
                           "enforcement_id": enforcement.enforcement_id,
                           "action_id": action.action_id, "kind": action.kind,
                           "status": action.status, "recovered": action.recovered,
                           "reference": enforcement.reference})
        return enforcement.public()

    # --- sandbox controls ------------------------------------------------------------

    @app.post("/_sandbox/faults")
    async def set_faults(plan: FaultPlan) -> FaultPlan:
        state.faults = plan
        return plan

    @app.delete("/_sandbox/all")
    async def clear() -> dict[str, int]:
        removed = len(state.all_records())
        callbacks.cancel_all()
        state.reset()
        return {"removed": removed}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(host: str, port: int, store_path: Path | None, api_key: str | None = None) -> None:
    """Serve the sandbox with uvicorn until interrupted (SIGINT/SIGTERM).

    ``api_key`` defaults to ``$OVERDUE_LEGAL__API_KEY``, else ``sandbox-legal-key``.
    """
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV) or DEFAULT_API_KEY
    # No access log: query strings and paths are not for the log.
    uvicorn.run(create_app(store_path, api_key), host=host, port=port, log_level="info",
                access_log=False, timeout_graceful_shutdown=5)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.legal_system",
                                     description="Local legal case-management sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--store", type=Path, default=None,
                        help="JSON-lines file of reviews, filings and enforcements "
                             "(kept across restarts)")
    parser.add_argument("--api-key", default=None,
                        help=f"default: ${API_KEY_ENV} or {DEFAULT_API_KEY!r}")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.store, args.api_key)


if __name__ == "__main__":
    main()
