"""Early-warning activities against the database: which instalments are due soon, with
which repayment record, and the record of scores and reminders (idempotent by loan + due
date)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from activities.contracts import (
    DueInstalmentsRequest,
    RecordReminderRequest,
    RecordWarningsRequest,
    ScoredInstalment,
)
from activities.early_warning import EarlyWarningActivities
from domain.early_warning import RiskFeatures, score
from overdue.storage.models import (
    CollectionCase,
    CoreBankingEventRecord,
    Customer,
    EarlyWarning,
    Loan,
)
from tests.factories import new_loan_id

AS_OF = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


async def add_loan(sessions: async_sessionmaker[AsyncSession], *, next_due: date | None,
                   instalment: str = "2000.00", income: str | None = "8000.00",
                   late: int | None = None, max_dpd: int | None = None,
                   last_delinquency: date | None = None, remaining: int = 12,
                   timezone: str | None = None, sms_consent: bool = True,
                   email: str | None = "li.hua@example.cn", email_consent: bool = True,
                   preferred_channel: str | None = None, loan_id: str | None = None) -> str:
    """A loan and its customer as core banking's snapshot has them."""
    loan_id = loan_id or new_loan_id()
    async with sessions() as session:
        session.add(Customer(
            customer_id=f"C-{loan_id}", name="李华", phone="+8613900139000", email=email,
            locale="en", timezone=timezone, birth_year=1990,
            preferred_channel=preferred_channel, sms_consent=sms_consent,
            email_consent=email_consent, phone_consent=True,
            monthly_income=Decimal(income) if income is not None else None, updated_at=NOW))
        await session.flush()
        session.add(Loan(
            loan_id=loan_id, customer_id=f"C-{loan_id}", product="personal-instalment",
            branch="WH-001", currency="CNY", principal_outstanding=Decimal("24000.00"),
            annual_rate=Decimal("0.0435"), instalment_amount=Decimal(instalment),
            remaining_instalments=remaining, next_due_date=next_due,
            late_instalments_12m=late, max_days_past_due=max_dpd,
            last_delinquency_date=last_delinquency, updated_at=NOW))
        await session.commit()
    return loan_id


async def add_missed_event(sessions: async_sessionmaker[AsyncSession], loan_id: str,
                           due: date) -> None:
    async with sessions() as session:
        session.add(CoreBankingEventRecord(
            event_id=f"evt-{loan_id}-{due.isoformat()}", type="instalment.missed",
            loan_id=loan_id, occurred_at=NOW, received_at=NOW, status="delivered",
            delivered_at=NOW, workflow_id=f"loan-{loan_id}", payload_sha256="0" * 64,
            business_date=due))
        await session.commit()


async def add_case(sessions: async_sessionmaker[AsyncSession], loan_id: str, *, dpd: int,
                   closed: bool) -> None:
    async with sessions() as session:
        session.add(CollectionCase(
            case_ref=f"{loan_id}:case", loan_id=loan_id, workflow_id=f"loan-{loan_id}",
            stage="closed" if closed else "early", outcome="cured" if closed else None,
            arrears=Decimal("0.00"), days_past_due=dpd, bucket=None,
            oldest_unpaid_due_date=None, assigned_officer=None, policy_version="test",
            opened_at=NOW, updated_at=NOW, closed_at=NOW if closed else None))
        await session.commit()


def _scored(loan_id: str, due: date, features: RiskFeatures) -> ScoredInstalment:
    from domain.early_warning import ScoreModel

    model = ScoreModel(intercept=Decimal("-2.8"), threshold=Decimal("0.20"), weights={
        "late_instalments_12m": Decimal("0.45"), "max_days_past_due": Decimal("0.012"),
        "months_since_delinquency": Decimal("-0.04"), "debt_service_ratio": Decimal("2.0")})
    return ScoredInstalment(loan_id=loan_id, due_date=due, amount_due=Decimal("2000.00"),
                            score=score(features, model))


RISKY = RiskFeatures(late_instalments_12m=3, max_days_past_due=45, months_since_delinquency=2,
                     debt_service_ratio=Decimal("0.6"))
SAFE = RiskFeatures(late_instalments_12m=0, max_days_past_due=0)


async def test_due_instalments_window_exclusions_and_record(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    acts = EarlyWarningActivities(sessions)
    prefix = "EW" + new_loan_id()[1:8]
    ids = {name: f"{prefix}{i:02d}" for i, name in enumerate([
        "tomorrow", "last-day", "today", "beyond", "no-date", "open-case", "closed-case",
        "paid-off", "history"])}
    await add_loan(sessions, loan_id=ids["tomorrow"], next_due=AS_OF + timedelta(days=1))
    await add_loan(sessions, loan_id=ids["last-day"], next_due=AS_OF + timedelta(days=5),
                   income=None)
    await add_loan(sessions, loan_id=ids["today"], next_due=AS_OF)
    await add_loan(sessions, loan_id=ids["beyond"], next_due=AS_OF + timedelta(days=6))
    await add_loan(sessions, loan_id=ids["no-date"], next_due=None)
    await add_loan(sessions, loan_id=ids["open-case"], next_due=AS_OF + timedelta(days=2))
    await add_case(sessions, ids["open-case"], dpd=12, closed=False)
    await add_loan(sessions, loan_id=ids["closed-case"], next_due=AS_OF + timedelta(days=2))
    await add_case(sessions, ids["closed-case"], dpd=37, closed=True)
    await add_loan(sessions, loan_id=ids["paid-off"], next_due=AS_OF + timedelta(days=2),
                   remaining=0)
    # Core banking says 1 late instalment, last delinquent in March, 20 days at most; this
    # service saw two missed instalments itself (one over a year ago) in October.
    await add_loan(sessions, loan_id=ids["history"], next_due=AS_OF + timedelta(days=3),
                   late=1, max_dpd=20, last_delinquency=date(2026, 3, 10), income="4000.00")
    await add_missed_event(sessions, ids["history"], date(2026, 10, 15))
    await add_missed_event(sessions, ids["history"], date(2026, 8, 15))
    await add_missed_event(sessions, ids["history"], date(2025, 10, 15))

    page = await acts.load_due_instalments(DueInstalmentsRequest(
        as_of=AS_OF, lead_days=5, limit=100))
    mine = {item.loan_id: item for item in page.items if item.loan_id.startswith(prefix)}
    assert sorted(mine) == sorted([ids["tomorrow"], ids["last-day"], ids["closed-case"],
                                   ids["history"]])
    assert page.next_after is None
    assert mine[ids["tomorrow"]].features == RiskFeatures(
        late_instalments_12m=0, max_days_past_due=0, months_since_delinquency=None,
        debt_service_ratio=Decimal("0.2500"))
    assert mine[ids["last-day"]].features.debt_service_ratio is None
    assert mine[ids["closed-case"]].features.max_days_past_due == 37
    assert mine[ids["history"]].features == RiskFeatures(
        late_instalments_12m=2, max_days_past_due=20, months_since_delinquency=1,
        debt_service_ratio=Decimal("0.5000"))
    assert (mine[ids["history"]].due_date, mine[ids["history"]].amount_due) == (
        AS_OF + timedelta(days=3), Decimal("2000.00"))

    # Paging: loan id order, a cursor while pages are full.
    first = await acts.load_due_instalments(DueInstalmentsRequest(
        as_of=AS_OF, lead_days=5, limit=1, after_loan_id=prefix))
    assert [i.loan_id for i in first.items] == [ids["tomorrow"]]
    assert first.next_after == ids["tomorrow"]

    # Recording: the first score is kept, the flagged pending ones come back.
    risky, safe = ids["history"], ids["tomorrow"]
    due_risky, due_safe = AS_OF + timedelta(days=3), AS_OF + timedelta(days=1)
    request = RecordWarningsRequest(scored_on=AS_OF, policy_version="2026.11-2", items=[
        _scored(risky, due_risky, RISKY), _scored(safe, due_safe, SAFE)])
    targets = await acts.record_early_warnings(request)
    assert [(t.loan_id, t.due_date, t.warning_key) for t in targets] == [
        (risky, due_risky, f"{risky}:{due_risky.isoformat()}")]
    # A retry, and a later sweep with a different score, change nothing.
    assert await acts.record_early_warnings(request) == targets
    assert await acts.record_early_warnings(RecordWarningsRequest(
        scored_on=AS_OF + timedelta(days=1), policy_version="2026.11-3",
        items=[_scored(risky, due_risky, SAFE)])) == targets
    async with sessions() as session:
        rows = {w.loan_id: w for w in (await session.execute(
            select(EarlyWarning).where(EarlyWarning.loan_id.in_([risky, safe])))).scalars()}
    assert (rows[risky].flagged, rows[risky].probability, rows[risky].reminder_status,
            rows[risky].policy_version, rows[risky].scored_on) == (
        True, Decimal("0.552308"), "pending", "2026.11-2", AS_OF)
    assert [f["feature"] for f in rows[risky].factors["factors"]] == [
        "late_instalments_12m", "debt_service_ratio", "max_days_past_due",
        "months_since_delinquency"]
    assert rows[risky].factors["factors"][0] == {
        "feature": "late_instalments_12m", "value": "3", "weight": "0.45",
        "contribution": "1.3500", "note": ""}
    assert rows[risky].factors["log_odds"] == "0.2100"
    assert (rows[safe].flagged, rows[safe].reminder_status) == (False, "not_flagged")

    # Settled (and a not-flagged one) drop out of the next sweep; the pending one stays.
    again = await acts.load_due_instalments(DueInstalmentsRequest(
        as_of=AS_OF, lead_days=5, limit=100))
    assert risky in {i.loan_id for i in again.items}
    assert safe not in {i.loan_id for i in again.items}
    await acts.record_pre_due_reminder(RecordReminderRequest(
        warning_key=f"{risky}:{due_risky.isoformat()}", status="sent", channel="sms"))
    # The first outcome stands (a replayed activity cannot overwrite it).
    await acts.record_pre_due_reminder(RecordReminderRequest(
        warning_key=f"{risky}:{due_risky.isoformat()}", status="expired"))
    await acts.record_pre_due_reminder(RecordReminderRequest(
        warning_key="unknown:2026-12-01", status="sent", channel="sms"))
    async with sessions() as session:
        row = await session.get(EarlyWarning, f"{risky}:{due_risky.isoformat()}")
        assert row is not None
        assert (row.reminder_status, row.reminder_channel) == ("sent", "sms")
    later = await acts.load_due_instalments(DueInstalmentsRequest(
        as_of=AS_OF, lead_days=5, limit=100))
    assert risky not in {i.loan_id for i in later.items}
    assert await acts.record_early_warnings(RecordWarningsRequest(
        scored_on=AS_OF, policy_version="x", items=[])) == []
