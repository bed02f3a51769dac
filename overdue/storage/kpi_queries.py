"""Reads for the KPI report: the records ``domain.kpis`` computes from, for a date range.

Works on SQLite and PostgreSQL (plain selects, no dialect functions). The range selects the
cases open at some time in it (opened before its end, not closed before its start) and,
for their loans, every case (to attribute records to the right one), the core-banking
events, contact attempts and legal cases up to its end, and the promises falling due in it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.kpis import (
    Bucket,
    BucketChangeFact,
    CaseFact,
    ContactFact,
    Dimension,
    EventFact,
    KpiRecords,
    KpiReport,
    LegalFact,
    PromiseFact,
    compute_kpis,
)
from domain.policy import Policy
from overdue.storage.models import (
    BucketChange,
    CollectionCase,
    ContactAttempt,
    CoreBankingEventRecord,
    LegalCase,
    Negotiation,
    PromiseToPay,
)

EVENT_TYPES = ("instalment.missed", "payment.received")


def bounds(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """The instants of local ``start`` 00:00 and of the day after ``end``, 00:00."""
    return (datetime.combine(start, time(), tzinfo=tz),
            datetime.combine(end + timedelta(days=1), time(), tzinfo=tz))


def _loans_in_range(since: datetime, until: datetime) -> Select[Any]:
    return (select(CollectionCase.loan_id)
            .where(CollectionCase.opened_at < until,
                   or_(CollectionCase.closed_at.is_(None), CollectionCase.closed_at >= since))
            .distinct())


async def load_kpi_records(session: AsyncSession, *, start: date, end: date,
                           tz: tzinfo) -> KpiRecords:
    since, until = bounds(start, end, tz)
    loans = _loans_in_range(since, until).scalar_subquery()

    first_round: dict[str, datetime] = {
        case_ref: started for case_ref, started in (await session.execute(
            select(Negotiation.case_ref, func.min(Negotiation.started_at))
            .where(Negotiation.loan_id.in_(loans), Negotiation.started_at < until)
            .group_by(Negotiation.case_ref))).all()}
    legal_rows = (await session.execute(
        select(LegalCase).where(LegalCase.loan_id.in_(loans), LegalCase.opened_at < until)
        .order_by(LegalCase.opened_at, LegalCase.legal_id))).scalars().all()
    first_legal: dict[str, datetime] = {}
    for row in legal_rows:
        first_legal.setdefault(row.case_ref, row.opened_at)

    cases = tuple(
        CaseFact(case_ref=c.case_ref, loan_id=c.loan_id, opened_at=c.opened_at,
                 closed_at=c.closed_at if c.closed_at is not None and c.closed_at < until
                 else None,
                 outcome=c.outcome if c.closed_at is not None and c.closed_at < until
                 else None,
                 oldest_unpaid_due_date=c.oldest_unpaid_due_date, updated_at=c.updated_at,
                 negotiation_started_at=first_round.get(c.case_ref),
                 legal_opened_at=first_legal.get(c.case_ref))
        for c in (await session.execute(
            select(CollectionCase).where(CollectionCase.loan_id.in_(loans),
                                         CollectionCase.opened_at < until)
            .order_by(CollectionCase.opened_at, CollectionCase.case_ref))).scalars())

    events = tuple(
        EventFact(event_id=e.event_id, loan_id=e.loan_id, type=e.type, at=e.received_at,
                  due_date=e.business_date if e.type == "instalment.missed" else None)
        for e in (await session.execute(
            select(CoreBankingEventRecord)
            .where(CoreBankingEventRecord.loan_id.in_(loans),
                   CoreBankingEventRecord.type.in_(EVENT_TYPES),
                   CoreBankingEventRecord.received_at < until)
            .order_by(CoreBankingEventRecord.received_at,
                      CoreBankingEventRecord.event_id))).scalars())

    contacts = tuple(
        ContactFact(loan_id=a.loan_id, channel=a.channel, at=a.first_attempt_at,
                    status=a.status, answered=a.answered, outcome=a.outcome)
        for a in (await session.execute(
            select(ContactAttempt)
            .where(ContactAttempt.loan_id.in_(loans), ContactAttempt.first_attempt_at < until)
            .order_by(ContactAttempt.id))).scalars())

    promises = tuple(
        PromiseFact(loan_id=p.loan_id, source=p.source, made_at=p.made_at,
                    due_date=p.due_date, status=p.status)
        for p in (await session.execute(
            select(PromiseToPay)
            .where(PromiseToPay.loan_id.in_(loans), PromiseToPay.due_date >= start,
                   PromiseToPay.due_date <= end)
            .order_by(PromiseToPay.promise_key))).scalars())

    bucket_changes = tuple(
        BucketChangeFact(case_ref=b.case_ref, sequence=b.sequence, changed_on=b.changed_on,
                         to_bucket=b.to_bucket, oldest_unpaid_due_date=b.oldest_unpaid_due_date)
        for b in (await session.execute(
            select(BucketChange)
            .where(BucketChange.loan_id.in_(loans), BucketChange.changed_on <= end)
            .order_by(BucketChange.case_ref, BucketChange.sequence))).scalars())

    legal = tuple(LegalFact(legal_id=row.legal_id, loan_id=row.loan_id, opened_at=row.opened_at,
                            claim_total=row.claim_total, recovered=row.recovered)
                  for row in legal_rows)
    return KpiRecords(cases=cases, events=events, contacts=contacts, promises=promises,
                      legal=legal, bucket_changes=bucket_changes)


async def kpi_report(session: AsyncSession, *, start: date, end: date, tz: tzinfo,
                     by: Dimension = "month",
                     buckets: tuple[Bucket, ...] | None = None) -> KpiReport:
    """Load the range's records and compute every KPI."""
    records = await load_kpi_records(session, start=start, end=end, tz=tz)
    kwargs = {"buckets": buckets} if buckets else {}
    return compute_kpis(records, start=start, end=end, tz=tz, by=by, **kwargs)


def policy_buckets(policy: Policy) -> tuple[Bucket, ...]:
    """The policy's days-past-due buckets for the KPIs."""
    return tuple(Bucket(b.name, b.min_days, b.max_days) for b in policy.buckets)


def policy_zone(policy: Policy) -> ZoneInfo:
    """The bank's time zone: months and days are counted in it."""
    return ZoneInfo(policy.case.timezone)


def default_range(today: date, months: int = 6) -> tuple[date, date]:
    """The last ``months`` calendar months up to ``today`` (the current one included)."""
    year, month = today.year, today.month - (months - 1)
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1), today
