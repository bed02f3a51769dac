"""Mirrors each case's state into the database, for reports and database search."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.contracts import BucketChangeRecord, CaseRecord
from overdue.storage.legal_records import record_closure
from overdue.storage.repository import record_bucket_change, upsert_case


class CaseActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="record_case")
    async def record_case(self, record: CaseRecord) -> None:
        async with self._sessions() as session:
            if record.closed and record.outcome is not None:
                await record_closure(
                    session, case_ref=record.case_ref, loan_id=record.loan_id,
                    outcome=record.outcome, reason=record.closure_reason,
                    decided_by=record.decided_by, arrears=record.arrears,
                    paid_total=record.paid_total, recovered=record.recovered)
            await upsert_case(session, case_ref=record.case_ref, loan_id=record.loan_id,
                              workflow_id=record.workflow_id, stage=record.stage,
                              outcome=record.outcome, arrears=record.arrears,
                              days_past_due=record.days_past_due, bucket=record.bucket,
                              policy_version=record.policy_version, closed=record.closed,
                              oldest_unpaid_due_date=record.oldest_unpaid_due_date,
                              assigned_officer=record.assigned_officer)
            await session.commit()

    @activity.defn(name="record_bucket_change")
    async def record_bucket_change(self, change: BucketChangeRecord) -> None:
        async with self._sessions() as session:
            await record_bucket_change(session, **change.model_dump())
            await session.commit()
