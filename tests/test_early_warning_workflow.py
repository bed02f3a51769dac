"""The early-warning sweep and its pre-due reminders on the time-skipping server, with the
real activities, a real database and the SMS sandbox: a risky customer gets exactly one
courteous SMS before the due date, a safe one none, and the contact rules hold (quiet
hours, the frequency cap, consent)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.contracts import EarlyWarningSweepInput, EarlyWarningSweepResult
from domain.early_warning import WORKFLOW_SWEEP, pre_due_id_for
from overdue.settings import Settings
from overdue.storage.models import ContactAttempt, ContactDecisionRecord, EarlyWarning, Loan
from tests.conftest import Outside, case_worker, make_settings, serve_intake, sms_messages
from tests.test_early_warning_activity import add_loan

SHANGHAI = ZoneInfo("Asia/Shanghai")


def zone_at_local_hour(now: datetime, hour: int) -> str:
    """A fixed-offset zone in which it is now ``hour`` o'clock (Etc/GMT signs are inverted)."""
    offset = (hour - now.astimezone(UTC).hour) % 24
    if offset > 12:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
async def world(fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
                sessions: async_sessionmaker[AsyncSession], tmp_path: Path
                ) -> AsyncIterator[tuple[WorkflowEnvironment, Settings]]:
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}")
    async with case_worker(fresh_ts_env.client, settings), \
            serve_intake(settings, fresh_ts_env.client, sessions):
        yield fresh_ts_env, settings


async def _sweep(env: WorkflowEnvironment, settings: Settings) -> EarlyWarningSweepResult:
    """Run a sweep as the schedule would, waiting in real time: waiting on its result would
    let the time-skipping server jump to the next far-away timer whenever it sees no work
    in flight (e.g. between an activity's end and the next workflow task)."""
    workflow_id = f"early-warning-sweep-{uuid.uuid4()}"
    await env.client.start_workflow(WORKFLOW_SWEEP, EarlyWarningSweepInput(), id=workflow_id,
                                    task_queue=settings.temporal.task_queue)
    handle = env.client.get_workflow_handle(workflow_id, result_type=EarlyWarningSweepResult)
    deadline = asyncio.get_running_loop().time() + 30
    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        assert asyncio.get_running_loop().time() < deadline, "sweep did not finish"
        await asyncio.sleep(0.05)
    result: EarlyWarningSweepResult = await handle.result()
    return result


async def _outcome(env: WorkflowEnvironment, loan_id: str, due: date) -> str:
    """The reminder's result, moving the clock on while it waits (quiet hours, caps)."""
    handle = env.client.get_workflow_handle(pre_due_id_for(loan_id, due), result_type=str)
    for _ in range(200):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            break
        await env.sleep(timedelta(minutes=30))
    return await handle.result()


async def test_risky_customers_get_one_pre_due_reminder_within_the_contact_rules(
        world: tuple[WorkflowEnvironment, Settings], outside: Outside,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    env, settings = world
    now = await env.get_current_time()
    today = now.astimezone(SHANGHAI).date()
    due = today + timedelta(days=3)
    risky_record = {"late": 3, "max_dpd": 45, "last_delinquency": today - timedelta(days=40),
                    "income": "3300.00"}  # 2000 / 3300: debt-service ratio 0.61
    day, night = zone_at_local_hour(now, 12), zone_at_local_hour(now, 2)
    risky = await add_loan(sessions, next_due=due, timezone=day, **risky_record)  # type: ignore[arg-type]
    safe = await add_loan(sessions, next_due=due, timezone=day, income="12000.00")
    sleeping = await add_loan(sessions, next_due=due, timezone=night, **risky_record)  # type: ignore[arg-type]
    busy = await add_loan(sessions, next_due=due, timezone=day, **risky_record)  # type: ignore[arg-type]
    unreachable = await add_loan(sessions, next_due=due, timezone=day, sms_consent=False,
                                 email=None, **risky_record)  # type: ignore[arg-type]
    # The busy customer already had 7 contacts in the last 7 days (the policy's cap): the
    # oldest leaves the window in a day, so the reminder waits for it.
    oldest = now - timedelta(days=6)
    async with sessions() as session:
        for n in range(7):
            at = oldest + timedelta(hours=n)
            session.add(ContactAttempt(
                idempotency_key=f"{busy}:earlier:{n}", loan_id=busy, step="earlier",
                channel="sms", template="reminder_sms", locale="en", recipient_masked="***",
                recipient_key="k", status="sent", scheduled_for=at, first_attempt_at=at,
                last_attempt_at=at, sent_at=at, tries=1))
        await session.commit()

    try:
        result = await _sweep(env, settings)
        assert (result.as_of, result.scored, result.flagged, result.reminders_started) == (
            today, 5, 4, 4)
        outcomes = {loan_id: await _outcome(env, loan_id, due)
                    for loan_id in (risky, sleeping, busy, unreachable)}
        assert outcomes == {risky: "sent by sms", sleeping: "sent by sms", busy: "sent by sms",
                            unreachable: "no_channel"}

        # Exactly one courteous SMS for each reachable risky customer, none for the others.
        [sms] = await sms_messages(outside.sms_url, risky)
        body = str(sms["body"])
        assert "friendly reminder" in body and "¥2,000.00" in body and due.isoformat() in body
        assert "https://bank.example/help/calculator" in body and "STOP" in body
        assert "overdue" not in body.lower() and "penalty" not in body.lower()
        assert await sms_messages(outside.sms_url, safe) == []
        assert await sms_messages(outside.sms_url, unreachable) == []
        assert len(await sms_messages(outside.sms_url, sleeping)) == 1
        assert len(await sms_messages(outside.sms_url, busy)) == 1

        async with sessions() as session:
            decisions = {loan_id: [(d.allowed, d.reason, d.next_allowed_at) for d in (
                await session.execute(select(ContactDecisionRecord).where(
                    ContactDecisionRecord.loan_id == loan_id)
                    .order_by(ContactDecisionRecord.id))).scalars()]
                for loan_id in (risky, sleeping, busy, unreachable)}
            attempts = {a.loan_id: a for a in (await session.execute(select(ContactAttempt)
                        .where(ContactAttempt.step == "pre-due"))).scalars()}
            warnings = {w.loan_id: w for w in (await session.execute(
                select(EarlyWarning))).scalars()}
        assert [d[:2] for d in decisions[risky]] == [(True, "allowed")]
        # Quiet hours in the customer's own zone: deferred to 08:00 there, then sent.
        (first_allowed, first_reason, wake), second = decisions[sleeping]
        assert (first_allowed, first_reason, second[:2]) == (False, "quiet_hours",
                                                             (True, "allowed"))
        assert wake is not None and wake.astimezone(ZoneInfo(night)).hour == 8
        assert attempts[sleeping].scheduled_for >= wake
        # The frequency cap: deferred until the oldest contact leaves the 7-day window.
        (busy_allowed, busy_reason, busy_wake), busy_second = decisions[busy]
        assert (busy_allowed, busy_reason, busy_second[:2]) == (False, "period_cap",
                                                                (True, "allowed"))
        assert busy_wake is not None and busy_wake >= oldest + timedelta(days=7)
        assert attempts[busy].scheduled_for >= busy_wake
        assert [d[:2] for d in decisions[unreachable]] == [(False, "no_channel")]
        assert sorted(attempts) == sorted([risky, sleeping, busy])
        assert all(a.channel == "sms" and a.status in ("sent", "delivered")
                   for a in attempts.values())
        assert attempts[risky].idempotency_key == f"{risky}:{due.isoformat()}:pre-due:sms"
        # Scores and factors are on record for officers, with what the reminder did.
        assert {loan_id: (w.flagged, w.reminder_status, w.reminder_channel)
                for loan_id, w in warnings.items()} == {
            risky: (True, "sent", "sms"), sleeping: (True, "sent", "sms"),
            busy: (True, "sent", "sms"), unreachable: (True, "no_channel", None),
            safe: (False, "not_flagged", None)}
        assert warnings[risky].factors["factors"][0]["feature"] == "late_instalments_12m"
        assert warnings[safe].probability < Decimal("0.20") <= warnings[risky].probability

        # Tomorrow's sweep (and a re-run today) send nothing more.
        again = await _sweep(env, settings)
        assert (again.scored, again.reminders_started) == (0, 0)
        for loan_id in (risky, sleeping, busy):
            assert len(await sms_messages(outside.sms_url, loan_id)) == 1
        # A new instalment is a new reminder: the next due date is scored afresh.
        async with sessions() as session:
            loan = await session.get(Loan, risky)
            assert loan is not None
            loan.next_due_date = due + timedelta(days=1)
            await session.commit()
        third = await _sweep(env, settings)
        assert (third.scored, third.flagged, third.reminders_started) == (1, 1, 1)
        next_due = due + timedelta(days=1)
        assert await _outcome(env, risky, next_due) == "sent by sms"
        assert len(await sms_messages(outside.sms_url, risky)) == 2
    finally:
        for loan_id in (risky, safe, sleeping, busy, unreachable):
            for due_day in (due, due + timedelta(days=1)):
                handle = env.client.get_workflow_handle(pre_due_id_for(loan_id, due_day))
                with contextlib.suppress(RPCError):
                    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                        await handle.terminate(reason="test finished")


@pytest.mark.devserver
async def test_daily_schedule_is_created_then_updated_idempotently(
        dev_env: WorkflowEnvironment, tmp_path: Path) -> None:
    """The time-skipping server has no schedules: this runs on the real dev server."""
    from temporalio.client import ScheduleActionStartWorkflow

    from domain.early_warning import SCHEDULE_ID
    from overdue.early_warning import ensure_early_warning_schedule
    from overdue.policy_file import load_policy
    from tests.conftest import POLICY_DIR, policy_variant

    policy = load_policy(POLICY_DIR / "default.toml")
    queue = f"tq-{uuid.uuid4()}"
    handle = dev_env.client.get_schedule_handle(SCHEDULE_ID)
    with contextlib.suppress(RPCError):
        await handle.delete()
    try:
        assert await ensure_early_warning_schedule(dev_env.client, policy, queue) == "created"
        assert await ensure_early_warning_schedule(dev_env.client, policy, queue) == "updated"
        described = await handle.describe()
        spec = described.schedule.spec
        [calendar] = spec.calendars
        assert (spec.time_zone_name, calendar.hour[0].start, calendar.minute[0].start) == (
            "Asia/Shanghai", 9, 30)
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (WORKFLOW_SWEEP, queue)
        assert described.schedule.state.paused is False
        # Disabled in the policy: the same schedule, paused, saying why.
        disabled = load_policy(policy_variant(tmp_path, replace={
            "enabled = true\n": "enabled = false\n"}))
        assert await ensure_early_warning_schedule(dev_env.client, disabled, queue) == "updated"
        state = (await handle.describe()).schedule.state
        assert state.paused is True and "disabled" in (state.note or "")
    finally:
        with contextlib.suppress(RPCError):
            await handle.delete()


@pytest.mark.devserver
async def test_due_soon_events_feed_the_sweep_run_now(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """What ``make run`` shows: ``instalment.due_soon`` events through the intake, then
    ``overdue early-warning run-now`` (a trigger of the daily schedule); the risky
    customer gets one pre-due SMS, the others are scored and left alone."""
    from domain.early_warning import SCHEDULE_ID
    from domain.events import event_adapter
    from overdue.demo import due_soon_events
    from overdue.early_warning import sweep_now
    from overdue.policy_file import load_policy
    from starter.intake import IntakeService

    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}")
    policy = load_policy(settings.policy.path)
    client = dev_env.client
    schedule = client.get_schedule_handle(SCHEDULE_ID)
    with contextlib.suppress(RPCError):
        await schedule.delete()
    events = due_soon_events(3)
    noon = zone_at_local_hour(datetime.now(UTC), 12)  # inside the contact hours
    for event in events:
        event["customer"]["timezone"] = noon
    loans = [e["loan"]["loan_id"] for e in events]
    due = date.fromisoformat(events[0]["instalment"]["due_date"])
    try:
        async with case_worker(client, settings):
            intake = IntakeService(sessions, client, settings.temporal.task_queue)
            statuses = [(await intake.ingest(event_adapter.validate_python(e))).status
                        for e in events]
            assert statuses == ["recorded"] * 3
            assert await sweep_now(client, policy, settings.temporal.task_queue) == "active"

            async def settled() -> dict[str, EarlyWarning]:
                async with sessions() as session:
                    rows = (await session.execute(select(EarlyWarning).where(
                        EarlyWarning.loan_id.in_(loans)))).scalars()
                    return {w.loan_id: w for w in rows}

            deadline = asyncio.get_running_loop().time() + 60
            while True:
                warnings = await settled()
                if len(warnings) == 3 and all(w.reminder_status != "pending"
                                              for w in warnings.values()):
                    break
                assert asyncio.get_running_loop().time() < deadline, warnings
                await asyncio.sleep(0.2)
        assert {loan: (w.flagged, w.reminder_status, w.due_date)
                for loan, w in warnings.items()} == {
            loans[0]: (False, "not_flagged", due), loans[1]: (False, "not_flagged", due),
            loans[2]: (True, "sent", due)}
        assert (warnings[loans[0]].probability < warnings[loans[1]].probability
                < Decimal("0.20") <= warnings[loans[2]].probability)
        assert [len(await sms_messages(outside.sms_url, loan)) for loan in loans] == [0, 0, 1]
        # Nothing collects on a loan that is not overdue.
        for loan in loans:
            assert [w async for w in client.list_workflows(f'LoanId = "{loan}"')] == []
    finally:
        with contextlib.suppress(RPCError):
            await schedule.delete()
