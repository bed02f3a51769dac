"""The loan workflow on the time-skipping server, with real activities, database and SMS sandbox."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from overdue.business_days import BusinessCalendar
from overdue.storage.models import CollectionCase, ContactAttempt
from tests.conftest import case_worker, intake_for, make_settings, sms_messages
from tests.factories import closed_event, missed_event, new_loan_id, payment_event

SHANGHAI = ZoneInfo("Asia/Shanghai")


def quiet_weekend_friday(today: date) -> date:
    """A Friday at least a week ahead whose weekend is a real weekend (no make-up workday)."""
    calendar = BusinessCalendar.load(Path("/nonexistent"))
    friday = today + timedelta(days=(4 - today.weekday()) % 7 + 7)
    while any(calendar.is_working_day(friday + timedelta(days=d)) for d in (1, 2)):
        friday += timedelta(days=7)
    return friday


async def test_case_waits_over_weekend_and_holiday_then_cures(
        ts_env: WorkflowEnvironment, database_url: str, sms_url: str,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    now = await ts_env.get_current_time()
    friday = quiet_weekend_friday(now.astimezone(SHANGHAI).date())
    monday, tuesday = friday + timedelta(days=3), friday + timedelta(days=4)
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(f'[[holiday]]\ndate = {monday.isoformat()}\nname = "Test holiday"\n'
                         f'[[workday]]\ndate = {tuesday.isoformat()}\nname = "Test workday"\n')
    settings = make_settings(database_url=database_url, sms_url=sms_url,
                             task_queue=f"tq-{uuid.uuid4()}", calendar_overrides=overrides)
    loan_id = new_loan_id()
    intake = intake_for(ts_env.client, sessions, settings)
    expected_at = datetime.combine(tuesday, time(9), SHANGHAI).astimezone(UTC)

    async with case_worker(ts_env.client, settings):
        result = await intake.ingest(missed_event(loan_id, friday, "1234.56", now))
        assert result.status == "accepted"
        handle: WorkflowHandle[object, CaseOutcome] = ts_env.client.get_workflow_handle(
            workflow_id_for(loan_id), result_type=CaseOutcome)

        # Monday noon: the weekend and the holiday have passed, no reminder yet.
        monday_noon = datetime.combine(monday, time(12), SHANGHAI)
        await ts_env.sleep(monday_noon - await ts_env.get_current_time())
        view = await handle.query(QUERY_STATE, result_type=CaseView)
        assert view.stage == "early"
        assert view.contacts == []
        assert view.next_step == "first-sms"
        assert view.next_step_at == expected_at
        assert view.arrears == Decimal("1234.56")
        assert await sms_messages(sms_url, loan_id) == []

        # Tuesday 09:00 Shanghai, the first business day after the due date: one SMS.
        await ts_env.sleep(expected_at + timedelta(minutes=5) - await ts_env.get_current_time())
        view = await handle.query(QUERY_STATE, result_type=CaseView)
        assert [(c.step, c.status, c.scheduled_for) for c in view.contacts] == [
            ("first-sms", "sent", expected_at)]
        # As of the case's last workflow task: the reminder on Tuesday, 4 days past due.
        assert (view.days_past_due, view.bucket) == (4, "M1")
        messages = await sms_messages(sms_url, loan_id)
        assert len(messages) == 1
        body = str(messages[0]["body"])
        assert "¥1,234.56" in body and friday.isoformat() in body and "逾期4天" in body

        # A partial payment leaves the case open; the rest cures it.
        await intake.ingest(payment_event(loan_id, "1000.00", await ts_env.get_current_time()))
        view = await handle.query(QUERY_STATE, result_type=CaseView)
        assert view.arrears == Decimal("234.56") and view.outcome is None
        await intake.ingest(payment_event(loan_id, "234.56", await ts_env.get_current_time()))
        outcome = await handle.result()

    assert outcome.outcome == "cured"
    assert outcome.arrears == Decimal("0.00")
    assert outcome.contacts_sent == 1
    assert outcome.policy_version == "2026.11-1"
    async with sessions() as session:
        case = (await session.execute(
            select(CollectionCase).where(CollectionCase.loan_id == loan_id))).scalar_one()
        attempts = (await session.execute(
            select(ContactAttempt).where(ContactAttempt.loan_id == loan_id))).scalars().all()
    assert (case.stage, case.outcome, case.arrears, case.closed_at is not None) == (
        "closed", "cured", Decimal("0.00"), True)
    assert [(a.step, a.status, a.tries, a.recipient_masked) for a in attempts] == [
        ("first-sms", "sent", 1, "+861******8000")]


async def test_payment_before_reminder_cures_without_contact(
        ts_env: WorkflowEnvironment, database_url: str, sms_url: str,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(database_url=database_url, sms_url=sms_url,
                             task_queue=f"tq-{uuid.uuid4()}")
    loan_id = new_loan_id()
    intake = intake_for(ts_env.client, sessions, settings)
    now = await ts_env.get_current_time()
    due = now.astimezone(SHANGHAI).date() + timedelta(days=20)
    async with case_worker(ts_env.client, settings):
        await intake.ingest(missed_event(loan_id, due, "800.00", now))
        await intake.ingest(payment_event(loan_id, "800.00", now))
        outcome = await ts_env.client.get_workflow_handle(
            workflow_id_for(loan_id), result_type=CaseOutcome).result()
    assert (outcome.outcome, outcome.contacts_sent) == ("cured", 0)
    assert await sms_messages(sms_url, loan_id) == []


async def test_loan_closed_ends_the_case(
        ts_env: WorkflowEnvironment, database_url: str, sms_url: str,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(database_url=database_url, sms_url=sms_url,
                             task_queue=f"tq-{uuid.uuid4()}")
    loan_id = new_loan_id()
    intake = intake_for(ts_env.client, sessions, settings)
    now = await ts_env.get_current_time()
    due = now.astimezone(SHANGHAI).date() + timedelta(days=20)
    async with case_worker(ts_env.client, settings):
        await intake.ingest(missed_event(loan_id, due, "500.00", now))
        await intake.ingest(closed_event(loan_id, now))
        outcome = await ts_env.client.get_workflow_handle(
            workflow_id_for(loan_id), result_type=CaseOutcome).result()
    assert (outcome.outcome, outcome.arrears) == ("loan_closed", Decimal("500.00"))


async def test_payment_without_a_miss_closes_after_the_idle_window(
        ts_env: WorkflowEnvironment, database_url: str, sms_url: str,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(database_url=database_url, sms_url=sms_url,
                             task_queue=f"tq-{uuid.uuid4()}")
    loan_id = new_loan_id()
    intake = intake_for(ts_env.client, sessions, settings)
    async with case_worker(ts_env.client, settings):
        await intake.ingest(payment_event(loan_id, "100.00", await ts_env.get_current_time()))
        # A handle from get_workflow_handle does not unlock time skipping: sleep explicitly.
        await ts_env.sleep(timedelta(days=36))
        handle = ts_env.client.get_workflow_handle(workflow_id_for(loan_id),
                                                   result_type=CaseOutcome)
        outcome = await handle.result()
        described = await handle.describe()
    assert outcome.outcome == "no_arrears"
    assert described.close_time is not None
    assert timedelta(days=35) <= described.close_time - described.start_time < timedelta(
        days=35, hours=1)


async def test_same_instalment_reported_twice_counts_once(
        ts_env: WorkflowEnvironment, database_url: str, sms_url: str,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    settings = make_settings(database_url=database_url, sms_url=sms_url,
                             task_queue=f"tq-{uuid.uuid4()}")
    loan_id = new_loan_id()
    intake = intake_for(ts_env.client, sessions, settings)
    now = await ts_env.get_current_time()
    due = now.astimezone(SHANGHAI).date() + timedelta(days=20)
    async with case_worker(ts_env.client, settings):
        await intake.ingest(missed_event(loan_id, due, "300.00", now, number=4))
        await intake.ingest(missed_event(loan_id, due, "300.00", now, number=4))
        handle = ts_env.client.get_workflow_handle(workflow_id_for(loan_id),
                                                   result_type=CaseOutcome)
        view = await handle.query(QUERY_STATE, result_type=CaseView)
        assert (view.missed_instalments, view.arrears) == (1, Decimal("300.00"))
        await intake.ingest(payment_event(loan_id, "300.00", now))
        assert (await handle.result()).outcome == "cured"
