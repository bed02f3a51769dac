"""Callbacks from the outside world: SMS delivery receipts and contact-centre task outcomes.

Each is verified (HMAC of the raw body with the provider's key), recorded against the
contact attempt, and handed to the loan's workflow as a signal. Providers retry until
they get a 2xx, and every step here is idempotent, so a repeated callback does no harm.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from domain.case import (
    SIGNAL_CALL_OUTCOME,
    SIGNAL_CONTACT_RECEIPT,
    SIGNAL_REPRESENTATIVE_UPDATE,
    CallOutcome,
    ContactReceipt,
    RepresentativeUpdate,
    workflow_id_for,
)
from domain.legal_case import SIGNAL_LEGAL_EVENT, LegalEvent
from overdue.clients.legal import (
    HearingScheduled,
    JudgmentGiven,
    LegalCallback,
    ReviewDecided,
)
from overdue.storage import repository as repo

log = structlog.get_logger(__name__)


class WebhookModel(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SmsReceiptPayload(WebhookModel):
    message_id: str
    idempotency_key: str = Field(min_length=1, max_length=200)
    status: Literal["delivered", "failed"]
    error: str | None = None


class CallTaskPayload(WebhookModel):
    task_id: str
    reference: str = Field(min_length=1, max_length=240)
    kind: Literal["collection_call", "hardship_follow_up"]
    outcome: Literal["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute",
                     "handled"]
    promise_amount: Decimal | None = Field(default=None, gt=0, decimal_places=2)
    promise_date: date | None = None
    agent: str | None = Field(default=None, max_length=64)


def loan_of(key: str) -> str:
    """Idempotency and assignment keys start with the loan id (which has no ':')."""
    return key.split(":", 1)[0]


class WebhookService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client) -> None:
        self._sessions = sessions
        self._client = client

    async def sms_receipt(self, payload: SmsReceiptPayload) -> str:
        async with self._sessions() as session:
            attempt = await repo.record_receipt(session, payload.idempotency_key,
                                                payload.status == "delivered", payload.error)
            await session.commit()
        if attempt is None:
            return "unknown_contact"
        return await self._signal(attempt.loan_id, SIGNAL_CONTACT_RECEIPT, ContactReceipt(
            idempotency_key=payload.idempotency_key, status=payload.status,
            error=payload.error))

    async def call_task(self, payload: CallTaskPayload) -> str:
        loan_id = loan_of(payload.reference)
        if payload.kind == "hardship_follow_up":
            return await self._signal(loan_id, SIGNAL_REPRESENTATIVE_UPDATE, RepresentativeUpdate(
                representative=payload.agent or "contact-centre",
                outcome="handled" if payload.outcome == "handled" else "resume_collection"))
        if payload.outcome == "handled":
            raise ValueError("a collection call has a call outcome, not 'handled'")
        async with self._sessions() as session:
            attempt = await repo.record_call_outcome(session, payload.reference, payload.outcome)
            await session.commit()
        if attempt is None:
            return "unknown_contact"
        return await self._signal(loan_id, SIGNAL_CALL_OUTCOME, CallOutcome(
            idempotency_key=payload.reference, outcome=payload.outcome,
            promise_amount=payload.promise_amount, promise_date=payload.promise_date,
            agent=payload.agent))

    async def legal_event(self, reference: str, event: LegalEvent) -> str:
        """A step of the legal system, for the legal case ``reference`` (its workflow id)."""
        if not reference.startswith("legal-"):
            raise ValueError("reference is not a legal case of this service")
        return await self._signal_workflow(reference, SIGNAL_LEGAL_EVENT, event)

    async def _signal(self, loan_id: str, signal: str, arg: Any) -> str:
        return await self._signal_workflow(workflow_id_for(loan_id), signal, arg)

    async def _signal_workflow(self, workflow_id: str, signal: str, arg: Any) -> str:
        loan_id = workflow_id
        try:
            await self._client.get_workflow_handle(workflow_id).signal(signal, arg)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                # The case has closed: nothing left to act on; the record above stands.
                log.info("callback for a closed case", loan_id=loan_id, signal=signal)
                return "case_closed"
            raise
        log.info("callback delivered to case", loan_id=loan_id, signal=signal)
        return "accepted"


def parse(model: type[WebhookModel], raw: bytes) -> WebhookModel | str:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"


def parse_legal(raw: bytes) -> tuple[str, LegalEvent]:
    """The legal system's callback as (legal case id, event); ValueError when invalid."""
    callback = LegalCallback.model_validate_json(raw).root
    common: dict[str, Any] = {"type": callback.type, "event_id": callback.event_id}
    if isinstance(callback, ReviewDecided):
        event = LegalEvent(**common, decision=callback.decision, reasons=callback.reasons)
    elif isinstance(callback, HearingScheduled):
        event = LegalEvent(**common, hearing_date=callback.hearing_date)
    elif isinstance(callback, JudgmentGiven):
        event = LegalEvent(**common, outcome=callback.outcome, awarded=callback.awarded)
    else:
        event = LegalEvent(**common, action_id=callback.action_id, kind=callback.kind,
                           status=callback.status, recovered=callback.recovered)
    return callback.reference, event
