"""Early warning: the instalments due soon with their repayment record, and the record of
each score and pre-due reminder (``early_warnings``, one row per loan and due date).

The repayment record is core banking's snapshot on the loan (late instalments in 12
months, deepest days past due, last delinquency), completed with what this service saw
itself (missed-instalment events, its own cases): the larger / the later of the two.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.contracts import (
    DueInstalment,
    DueInstalmentsPage,
    DueInstalmentsRequest,
    PreDueReminderInput,
    PreDueTarget,
    RecordReminderRequest,
    RecordWarningsRequest,
    StartRemindersRequest,
)
from domain.early_warning import WORKFLOW_PRE_DUE, features_from_record, pre_due_id_for
from overdue.storage import repository as repo
from overdue.storage.models import (
    CollectionCase,
    CoreBankingEventRecord,
    Customer,
    EarlyWarning,
    Loan,
)

log = structlog.get_logger(__name__)

SETTLED_REMINDER = ("not_flagged", "sent", "no_channel", "expired", "failed", "disabled")


def warning_key(loan_id: str, due_date: date) -> str:
    return f"{loan_id}:{due_date.isoformat()}"


class EarlyWarningActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 client: Client | None = None) -> None:
        self._sessions = sessions
        self._client = client

    @activity.defn(name="load_due_instalments")
    async def load_due_instalments(self, request: DueInstalmentsRequest) -> DueInstalmentsPage:
        """Loans whose next instalment falls due after ``as_of`` within the lead days, not
        in a collections case, not yet settled for that due date; one page, loan id order."""
        end = request.as_of + timedelta(days=request.lead_days)
        settled = exists().where(
            EarlyWarning.loan_id == Loan.loan_id, EarlyWarning.due_date == Loan.next_due_date,
            EarlyWarning.reminder_status.in_(SETTLED_REMINDER))
        open_case = exists().where(CollectionCase.loan_id == Loan.loan_id,
                                   CollectionCase.closed_at.is_(None))
        stmt = (select(Loan, Customer.monthly_income)
                .join(Customer, Customer.customer_id == Loan.customer_id)
                .where(Loan.next_due_date > request.as_of, Loan.next_due_date <= end,
                       Loan.remaining_instalments > 0, ~settled, ~open_case)
                .order_by(Loan.loan_id).limit(request.limit))
        if request.after_loan_id is not None:
            stmt = stmt.where(Loan.loan_id > request.after_loan_id)
        async with self._sessions() as session:
            rows = (await session.execute(stmt)).all()
            loan_ids = [loan.loan_id for loan, _ in rows]
            missed = await self._missed_since(session, loan_ids,
                                              request.as_of - timedelta(days=365))
            own_dpd = await self._own_max_dpd(session, loan_ids)
        items = []
        for loan, income in rows:
            assert loan.next_due_date is not None
            count, latest = missed.get(loan.loan_id, (0, None))
            lasts = [d for d in (loan.last_delinquency_date, latest) if d is not None]
            items.append(DueInstalment(
                loan_id=loan.loan_id, due_date=loan.next_due_date,
                amount_due=loan.instalment_amount,
                features=features_from_record(
                    as_of=request.as_of,
                    late_instalments_12m=max(loan.late_instalments_12m or 0, count),
                    max_days_past_due=max(loan.max_days_past_due or 0,
                                          own_dpd.get(loan.loan_id, 0)),
                    last_delinquency=max(lasts) if lasts else None,
                    instalment=loan.instalment_amount, monthly_income=income)))
        return DueInstalmentsPage(
            items=items, next_after=loan_ids[-1] if len(rows) == request.limit else None)

    @activity.defn(name="record_early_warnings")
    async def record_early_warnings(self, request: RecordWarningsRequest) -> list[PreDueTarget]:
        """Keep the first score of each loan and due date; answer the flagged ones whose
        reminder is still pending (the same answer on every retry)."""
        if not request.items:
            return []
        now = repo.utcnow()
        keys = [warning_key(item.loan_id, item.due_date) for item in request.items]
        async with self._sessions() as session:
            for key, item in zip(keys, request.items, strict=True):
                s = item.score
                factors: dict[str, Any] = {
                    "intercept": str(s.intercept), "log_odds": str(s.log_odds),
                    "factors": [f.model_dump(mode="json") for f in s.factors]}
                stmt = repo.insert_for_dialect(session, EarlyWarning).values(
                    warning_key=key, loan_id=item.loan_id, due_date=item.due_date,
                    amount_due=item.amount_due, scored_on=request.scored_on,
                    policy_version=request.policy_version, probability=s.probability,
                    threshold=s.threshold, flagged=s.flagged, factors=factors,
                    reminder_status="pending" if s.flagged else "not_flagged",
                    reminder_channel=None, created_at=now, updated_at=now,
                ).on_conflict_do_nothing(index_elements=["warning_key"])
                await session.execute(stmt)
            await session.commit()
            pending = (await session.execute(
                select(EarlyWarning).where(EarlyWarning.warning_key.in_(keys),
                                           EarlyWarning.flagged.is_(True),
                                           EarlyWarning.reminder_status == "pending")
                .order_by(EarlyWarning.loan_id))).scalars().all()
        log.info("early warnings recorded", scored=len(keys), pending=len(pending))
        return [PreDueTarget(loan_id=w.loan_id, due_date=w.due_date, amount_due=w.amount_due,
                             warning_key=w.warning_key) for w in pending]

    @activity.defn(name="start_pre_due_reminders")
    async def start_pre_due_reminders(self, request: StartRemindersRequest) -> int:
        """Start one ``PreDueReminder`` workflow per flagged instalment, id
        ``pre-due-<loan>-<due date>``: a retry, or tomorrow's sweep, finds it started (or
        finished) and starts nothing. Independent workflows, not children: a reminder may
        wait for the contact rules long after the sweep has finished. Answers how many this
        call started."""
        if self._client is None:
            raise ApplicationError("no Temporal client to start reminders with",
                                   type="Misconfigured", non_retryable=True)
        started = 0
        for target in request.targets:
            try:
                await self._client.start_workflow(
                    WORKFLOW_PRE_DUE,
                    PreDueReminderInput(loan_id=target.loan_id, due_date=target.due_date,
                                        amount_due=target.amount_due,
                                        warning_key=target.warning_key),
                    id=pre_due_id_for(target.loan_id, target.due_date),
                    task_queue=activity.info().task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    static_summary=f"Pre-due reminder, loan {target.loan_id}, "
                                   f"due {target.due_date.isoformat()}")
                started += 1
            except WorkflowAlreadyStartedError:
                continue
        log.info("pre-due reminders started", started=started, targets=len(request.targets))
        return started

    @activity.defn(name="record_pre_due_reminder")
    async def record_pre_due_reminder(self, request: RecordReminderRequest) -> None:
        async with self._sessions() as session:
            warning = await session.get(EarlyWarning, request.warning_key)
            if warning is None:
                log.warning("pre-due reminder for an unknown warning",
                            warning_key=request.warning_key)
                return
            if warning.reminder_status == "pending":
                warning.reminder_status = request.status
                warning.reminder_channel = request.channel
                warning.updated_at = repo.utcnow()
            await session.commit()

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    async def _missed_since(session: AsyncSession, loan_ids: list[str], since: date
                            ) -> dict[str, tuple[int, date | None]]:
        """Per loan: missed instalments core banking reported since ``since``, and the
        latest missed due date ever."""
        if not loan_ids:
            return {}
        recent = func.count(func.distinct(CoreBankingEventRecord.business_date)).filter(
            CoreBankingEventRecord.business_date >= since)
        rows = (await session.execute(
            select(CoreBankingEventRecord.loan_id, recent,
                   func.max(CoreBankingEventRecord.business_date))
            .where(and_(CoreBankingEventRecord.loan_id.in_(loan_ids),
                        CoreBankingEventRecord.type == "instalment.missed"))
            .group_by(CoreBankingEventRecord.loan_id))).all()
        return {loan_id: (int(count or 0), latest) for loan_id, count, latest in rows}

    @staticmethod
    async def _own_max_dpd(session: AsyncSession, loan_ids: list[str]) -> dict[str, int]:
        if not loan_ids:
            return {}
        rows = (await session.execute(
            select(CollectionCase.loan_id, func.max(CollectionCase.days_past_due))
            .where(CollectionCase.loan_id.in_(loan_ids))
            .group_by(CollectionCase.loan_id))).all()
        return {loan_id: int(dpd or 0) for loan_id, dpd in rows}
