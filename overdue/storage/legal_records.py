"""Writes of the legal stage and of case closures. Idempotent by key."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from activities.contracts import LegalRecord, LegalReminderRequest
from overdue.storage.models import CaseClosure, LegalCase, LegalTask
from overdue.storage.repository import insert_for_dialect, utcnow


async def upsert_legal_case(session: AsyncSession, record: LegalRecord) -> None:
    now = utcnow()
    values = dict(step=record.step, outcome=record.outcome, filing_id=record.filing_id,
                  claim_total=record.claim_total, recovered=record.recovered,
                  judgment=record.judgment, updated_at=now)
    stmt = insert_for_dialect(session, LegalCase).values(
        legal_id=record.legal_id, loan_id=record.loan_id, case_ref=record.case_ref,
        trigger=record.trigger, opened_at=now, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["legal_id"],
                                                     set_=values))


async def add_task(session: AsyncSession, request: LegalReminderRequest) -> None:
    stmt = insert_for_dialect(session, LegalTask).values(
        task_key=f"{request.legal_id}:{request.step}:{request.number}",
        legal_id=request.legal_id, loan_id=request.loan_id, step=request.step, status="open",
        created_at=utcnow())
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["task_key"]))


async def record_closure(session: AsyncSession, *, case_ref: str, loan_id: str, outcome: str,
                         reason: str | None, decided_by: str | None, arrears: Decimal,
                         paid_total: Decimal, recovered: Decimal) -> None:
    stmt = insert_for_dialect(session, CaseClosure).values(
        case_ref=case_ref, loan_id=loan_id, outcome=outcome, reason=reason,
        decided_by=decided_by, arrears=arrears, paid_total=paid_total, recovered=recovered,
        closed_at=utcnow())
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["case_ref"]))
