"""Legal adapters: the legal case-management system (review, filing, enforcement), the
legal team's reminder tasks and the record of each legal case."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    EnforcementRequest,
    FilingRequest,
    LegalRecord,
    LegalReminderRequest,
    ReviewRequest,
)
from domain.legal_case import EnforcementActionView
from overdue.clients.legal import ClaimAmount, LegalSystemClient, LegalSystemRejected
from overdue.storage import legal_records

log = structlog.get_logger(__name__)


class LegalActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], legal: LegalSystemClient,
                 callback_url: str | None = None) -> None:
        self._sessions = sessions
        self._legal = legal
        self._callback = callback_url

    @activity.defn(name="request_legal_review")
    async def request_legal_review(self, request: ReviewRequest) -> str:
        try:
            return await self._legal.request_review(
                reference=request.legal_id, loan_ref=request.loan_id,
                documents=[f"loan-file/{request.loan_id}", f"repayment-record/{request.loan_id}"],
                summary={"arrears": request.arrears, "days_past_due": request.days_past_due,
                         "failed_negotiations": request.failed_negotiations},
                idempotency_key=f"{request.legal_id}:review",
                callback_url=self._callback)
        except LegalSystemRejected as exc:
            raise ApplicationError(f"review refused by the legal system: {exc.status_code} "
                                   f"{exc.error_code}", type="LegalRejected",
                                   non_retryable=True) from exc

    @activity.defn(name="file_suit")
    async def file_suit(self, request: FilingRequest) -> str:
        claim = request.claim
        try:
            filing_id = await self._legal.file_suit(
                reference=request.legal_id, loan_ref=request.loan_id, court=request.court,
                facts=request.facts, claims=request.claims,
                amount=ClaimAmount(principal=claim.principal, interest=claim.interest,
                                   penalty_interest=claim.penalty_interest, costs=claim.costs,
                                   total=claim.total),
                as_of=claim.as_of, idempotency_key=f"{request.legal_id}:filing",
                callback_url=self._callback)
        except LegalSystemRejected as exc:
            raise ApplicationError(f"filing refused: {exc.status_code} {exc.error_code}",
                                   type="LegalRejected", non_retryable=True) from exc
        log.info("suit filed", legal_id=request.legal_id, filing_id=filing_id)
        return filing_id

    @activity.defn(name="request_enforcement")
    async def request_enforcement(self, request: EnforcementRequest
                                  ) -> list[EnforcementActionView]:
        try:
            actions = await self._legal.request_enforcement(
                reference=request.legal_id, filing_id=request.filing_id,
                actions=list(request.actions),
                idempotency_key=f"{request.legal_id}:enforcement",
                callback_url=self._callback)
        except LegalSystemRejected as exc:
            raise ApplicationError(f"enforcement refused: {exc.status_code} {exc.error_code}",
                                   type="LegalRejected", non_retryable=True) from exc
        leads = dict(request.actions)
        return [EnforcementActionView(action_id=action_id, kind=kind,
                                      asset_lead=leads.get(kind))
                for action_id, kind in actions]

    @activity.defn(name="raise_legal_reminder")
    async def raise_legal_reminder(self, request: LegalReminderRequest) -> None:
        async with self._sessions() as session:
            await legal_records.add_task(session, request)
            await session.commit()
        log.warning("legal team reminder", legal_id=request.legal_id, step=request.step)

    @activity.defn(name="record_legal_case")
    async def record_legal_case(self, record: LegalRecord) -> None:
        async with self._sessions() as session:
            await legal_records.upsert_legal_case(session, record)
            await session.commit()
