"""The loan workflow's early stage on the time-skipping server, with real activities, a real
database, and the SMS, SMTP and contact-centre sandboxes calling back into the intake API."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.aftercare import aftercare_id_for
from domain.business_calendar import nth_business_day_after
from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from overdue.business_days import BusinessCalendar
from overdue.settings import Settings
from overdue.storage.models import (
    BucketChange,
    CollectionCase,
    ContactAttempt,
    ContactDecisionRecord,
    CoreBankingEventRecord,
    PromiseToPay,
    RepresentativeAssignment,
    Survey,
)
from starter.intake import IntakeService
from tests.conftest import (
    Outside,
    call_tasks,
    case_worker,
    intake_for,
    make_settings,
    policy_variant,
    serve_intake,
    sms_messages,
    smtp_messages,
)
from tests.factories import (
    closed_event,
    hardship_event,
    missed_event,
    new_loan_id,
    payment_event,
)
from workflows import search_attributes as sa

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = BusinessCalendar.load(Path("/nonexistent"))


def quiet_weekend_friday(today: date) -> date:
    """A Friday at least a week ahead whose weekend is a real weekend (no make-up workday)."""
    friday = today + timedelta(days=(4 - today.weekday()) % 7 + 7)
    while any(CALENDAR.is_working_day(friday + timedelta(days=d)) for d in (1, 2)):
        friday += timedelta(days=7)
    return friday


def at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9), SHANGHAI).astimezone(UTC)


def business_day(due: date, n: int) -> date:
    return nth_business_day_after(due, n, CALENDAR.is_working_day)


@dataclass
class Case:
    env: WorkflowEnvironment
    intake: IntakeService
    settings: Settings
    outside: Outside
    sessions: async_sessionmaker[AsyncSession]
    loan_id: str = ""

    @property
    def handle(self) -> WorkflowHandle[Any, CaseOutcome]:
        return self.env.client.get_workflow_handle(workflow_id_for(self.loan_id),
                                                   result_type=CaseOutcome)

    async def view(self) -> CaseView:
        view: CaseView = await self.handle.query(QUERY_STATE, result_type=CaseView)
        return view

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep_until(self, moment: datetime) -> None:
        delta = moment - await self.now()
        if delta > timedelta(0):
            await self.env.sleep(delta)

    async def miss(self, due: date, amount: str = "1234.56", number: int = 7,
                   **customer: Any) -> None:
        self.loan_id = self.loan_id or new_loan_id()
        result = await self.intake.ingest(missed_event(self.loan_id, due, amount,
                                                       await self.now(), number=number,
                                                       **customer))
        assert result.status in ("accepted", "duplicate")

    async def pay(self, amount: str) -> None:
        await self.intake.ingest(payment_event(self.loan_id, amount, await self.now()))

    async def representative_assigned(self) -> bool:
        hardship = (await self.view()).hardship
        return hardship is not None and hardship.representative is not None

    async def attempts(self) -> list[ContactAttempt]:
        async with self.sessions() as session:
            return list((await session.execute(
                select(ContactAttempt).where(ContactAttempt.loan_id == self.loan_id)
                .order_by(ContactAttempt.id))).scalars())

    async def complete_call(self, outcome: str, **extra: Any) -> None:
        [task] = [t for t in await call_tasks(self.outside.cc_url, self.loan_id)
                  if t["status"] == "open"]
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.outside.cc_url}/v1/call-tasks/{task['task_id']}/complete",
                json={"outcome": outcome, "agent": "agent-007", **extra})
            assert response.status_code == 200, response.text

    async def terminate_leftovers(self) -> None:
        """A test that leaves a case running would stall time skipping for the next ones:
        its timers fire with no worker left to take their tasks."""
        if not self.loan_id:
            return
        # Children first: terminating the parent first would send them a cancellation
        # that no worker is left to process.
        ids = [f"negotiation-{self.loan_id}-{n}" for n in range(1, 10)] + [
            f"legal-{self.loan_id}-{n}" for n in range(1, 3)] + [workflow_id_for(self.loan_id)]
        with contextlib.suppress(RPCError):
            case_ref = (await self.view()).case_ref
            if case_ref:
                ids.append(aftercare_id_for(case_ref))
        for workflow_id in ids:
            handle = self.env.client.get_workflow_handle(workflow_id)
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate(reason="test finished")
            except RPCError:
                continue

    async def until(self, probe: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
        """Wait in real time (case time stands still) for callbacks and activities."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not await probe():
            assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
            await asyncio.sleep(0.05)


@pytest.fixture
async def case(fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
               sessions: async_sessionmaker[AsyncSession], tmp_path: Path
               ) -> AsyncIterator[Case]:
    ts_env = fresh_ts_env
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}")
    async with case_worker(ts_env.client, settings), \
            serve_intake(settings, ts_env.client, sessions):
        case = Case(ts_env, intake_for(ts_env.client, sessions, settings), settings, outside,
                    sessions)
        yield case
        await case.terminate_leftovers()


async def test_ladder_sms_email_call_then_promise_kept_cures(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "1234.56")
    first, second, third = (business_day(friday, n) for n in (1, 3, 7))

    # D+1: the customer's best channel (no stated preference, no age: SMS).
    await case.sleep_until(at_nine(first) + timedelta(minutes=40))
    [sms] = await sms_messages(case.outside.sms_url, case.loan_id)
    assert "¥1,234.56" in str(sms["body"]) and friday.isoformat() in str(sms["body"])
    # D+3: e-mail, in the customer's language, with the opt-out.
    await case.sleep_until(at_nine(second) + timedelta(minutes=5))
    [mail] = await smtp_messages(case.outside.smtp_http, case.loan_id)
    assert "逾期" in str(mail["subject"]) and "¥1,234.56" in str(mail["text"])
    assert mail["list_unsubscribe"]
    # D+7: a phone task for the contact centre; the agent records a promise to pay.
    await case.sleep_until(at_nine(third) + timedelta(minutes=5))
    [task] = await call_tasks(case.outside.cc_url, case.loan_id)
    assert task["kind"] == "collection_call" and "1,234.56" in str(task["script"])
    promise_day = third + timedelta(days=3)
    await case.complete_call("promise_to_pay", promise_amount="1234.56",
                             promise_date=promise_day.isoformat())

    async def promised() -> bool:
        return (await case.view()).promise is not None

    await case.until(promised)
    view = await case.view()
    assert view.promise is not None and view.promise.status == "open"
    assert view.contacts[-1].status == "promise_to_pay"
    # The customer keeps the promise: paid, kept, cured.
    await case.sleep_until(at_nine(promise_day - timedelta(days=1)))
    await case.pay("1234.56")
    outcome = await case.handle.result()
    assert (outcome.outcome, outcome.contacts_sent) == ("cured", 3)
    assert [(a.step, a.channel, a.status) for a in await case.attempts()] == [
        ("first-reminder", "sms", "delivered"), ("email-reminder", "email", "sent"),
        ("phone-call", "phone", "sent")]
    call = (await case.attempts())[-1]
    assert (call.answered, call.outcome) == (True, "promise_to_pay")
    async with case.sessions() as session:
        promise = (await session.execute(select(PromiseToPay).where(
            PromiseToPay.loan_id == case.loan_id))).scalar_one()
    assert (promise.source, promise.status, promise.amount, promise.received, promise.made_by) == (
        "call", "kept", Decimal("1234.56"), Decimal("1234.56"), "agent-007")


async def test_partial_payment_updates_the_next_message(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "1000.00")
    await case.sleep_until(at_nine(business_day(friday, 1)) + timedelta(hours=1))
    await case.pay("400.00")
    await case.sleep_until(at_nine(business_day(friday, 3)) + timedelta(minutes=5))
    [sms] = await sms_messages(case.outside.sms_url, case.loan_id)
    [mail] = await smtp_messages(case.outside.smtp_http, case.loan_id)
    assert "¥1,000.00" in str(sms["body"])
    assert "¥600.00" in str(mail["text"]) and "¥1,000.00" not in str(mail["text"])
    await case.pay("600.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_not_cured_escalates_to_negotiation_at_30_days(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "800.00")
    escalation_day = nth_business_day_after(friday + timedelta(days=30), 0,
                                            CALENDAR.is_working_day)
    await case.sleep_until(at_nine(escalation_day) - timedelta(hours=2))
    view = await case.view()
    assert view.stage == "early" and view.escalation_at == at_nine(escalation_day)
    # Every rung was tried: SMS, e-mail, call (no outcome in time), second SMS.
    assert [c.step for c in view.contacts] == [
        "first-reminder", "email-reminder", "phone-call", "second-sms"]
    await case.sleep_until(at_nine(escalation_day) + timedelta(minutes=1))
    view = await case.view()
    assert view.stage == "negotiation"
    described = await case.handle.describe()
    assert described.typed_search_attributes.get(sa.CASE_STAGE) == "negotiation"
    assert described.typed_search_attributes.get(sa.DAYS_PAST_DUE) == (
        escalation_day - friday).days
    async with case.sessions() as session:
        row = (await session.execute(select(CollectionCase).where(
            CollectionCase.loan_id == case.loan_id))).scalar_one()
    assert row.stage == "negotiation" and row.oldest_unpaid_due_date == friday
    await case.intake.ingest(closed_event(case.loan_id, await case.now()))
    assert (await case.handle.result()).outcome == "loan_closed"


async def test_each_bucket_change_is_logged(case: Case) -> None:
    """``bucket_changes``: a row when the bucket or the oldest unpaid due date moves, dated
    by the case's business date, so the KPIs' roll rates are exact."""
    today = (await case.now()).astimezone(SHANGHAI).date()
    friday = quiet_weekend_friday(today)
    second_due = friday + timedelta(days=14)
    await case.miss(friday, "500.00", number=7)
    await case.sleep_until(at_nine(second_due + timedelta(days=1)))
    await case.miss(second_due, "500.00", number=8)  # the oldest stays: no row
    payday = friday + timedelta(days=31)
    await case.sleep_until(at_nine(payday))
    await case.pay("500.00")  # the first instalment: the oldest moves on 14 days

    async def logged() -> list[BucketChange]:
        async with case.sessions() as session:
            return list((await session.execute(select(BucketChange).where(
                BucketChange.loan_id == case.loan_id).order_by(BucketChange.sequence)
            )).scalars())

    async def four_rows() -> bool:
        return len(await logged()) >= 4

    await case.until(four_rows)
    rows = await logged()
    assert [(r.sequence, r.changed_on, r.from_bucket, r.to_bucket, r.days_past_due,
             r.oldest_unpaid_due_date, r.arrears) for r in rows] == [
        (1, today, None, "M0", 0, friday, Decimal("500.00")),  # not yet due
        (2, friday + timedelta(days=1), "M0", "M1", 1, friday, Decimal("500.00")),
        (3, payday, "M1", "M2", 31, friday, Decimal("1000.00")),
        (4, payday, "M2", "M1", 17, second_due, Decimal("500.00")),
    ]
    assert {r.case_ref for r in rows} == {(await case.view()).case_ref}
    await case.intake.ingest(closed_event(case.loan_id, await case.now()))
    assert (await case.handle.result()).outcome == "loan_closed"
    assert len(await logged()) == 4


async def test_hardship_pauses_the_ladder_for_a_representative(case: Case) -> None:
    friday = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=1)
    await case.miss(friday, "500.00")
    await case.intake.ingest(hardship_event(case.loan_id, await case.now(), "unemployment"))
    await case.until(case.representative_assigned)
    # A dedicated representative is assigned, with a follow-up task, and ops can see it.
    [task] = await call_tasks(case.outside.cc_url, case.loan_id)
    assert task["kind"] == "hardship_follow_up" and task["assignee"]
    view = await case.view()
    assert view.hardship is not None and view.hardship.representative == task["assignee"]
    described = await case.handle.describe()
    assert described.typed_search_attributes.get(sa.ASSIGNED_OFFICER) == task["assignee"]
    # The automatic ladder is paused: nothing goes out on D+1 or D+3.
    await case.sleep_until(at_nine(business_day(friday, 3)) + timedelta(hours=2))
    assert await case.attempts() == []
    # The representative has handled it: the ladder resumes with one catch-up contact
    # (the latest rung that came due), not a burst of everything missed while paused.
    await case.complete_call("handled")

    async def resumed() -> bool:
        hardship = (await case.view()).hardship
        return hardship is not None and not hardship.active

    await case.until(resumed)
    await case.sleep_until(await case.now() + timedelta(hours=1))
    attempts = await case.attempts()
    assert [a.step for a in attempts] == ["email-reminder"]
    assert [(c.step, c.status) for c in (await case.view()).contacts][:2] == [
        ("first-reminder", "skipped"), ("email-reminder", "sent")]
    async with case.sessions() as session:
        assignment = (await session.execute(select(RepresentativeAssignment).where(
            RepresentativeAssignment.loan_id == case.loan_id))).scalar_one()
    assert (assignment.hardship, assignment.outcome) == ("unemployment", "handled")
    assert assignment.closed_at is not None
    await case.pay("500.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_hardship_pause_is_bounded_by_policy(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=1)
    await case.miss(due, "300.00")
    await case.intake.ingest(hardship_event(case.loan_id, await case.now(), "illness"))
    await case.until(case.representative_assigned)
    flagged = await case.now()
    await case.sleep_until(flagged + timedelta(days=13))
    assert await case.attempts() == []
    # Nothing happened for 13 days, yet ops see the bucket it moved to on its first day
    # past due, and OverdueSince filters exact days past due.
    described = await case.handle.describe()
    assert described.typed_search_attributes.get(sa.BUCKET) == "M1"
    assert described.typed_search_attributes.get(sa.DAYS_PAST_DUE) == 1
    assert described.typed_search_attributes.get(sa.OVERDUE_SINCE) == sa.day_number(due)
    await case.sleep_until(flagged + timedelta(days=14, hours=1))
    # One catch-up contact: the latest rung that came due during the pause.
    assert len(await case.attempts()) == 1
    view = await case.view()
    assert view.hardship is not None and view.hardship.outcome == "timeout"
    await case.pay("300.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_contact_due_in_quiet_hours_waits_for_morning(case: Case) -> None:
    """09:00 in Shanghai is 23:00 for a customer at UTC-2: the SMS goes at 08:00 theirs."""
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "99.00", timezone="Atlantic/South_Georgia")
    first = business_day(friday, 1)
    planned = at_nine(first)
    await case.sleep_until(planned + timedelta(hours=8))
    assert await sms_messages(case.outside.sms_url, case.loan_id) == []
    await case.sleep_until(planned + timedelta(hours=9, minutes=5))
    [attempt] = await case.attempts()
    # 08:00 at UTC-2, to the second (the timer fires a few milliseconds after).
    assert timedelta(0) <= attempt.scheduled_for - (planned + timedelta(hours=9)) < timedelta(
        seconds=1)
    async with case.sessions() as session:
        decisions = (await session.execute(select(ContactDecisionRecord).where(
            ContactDecisionRecord.loan_id == case.loan_id).order_by(
            ContactDecisionRecord.id))).scalars().all()
    assert [(d.allowed, d.reason) for d in decisions] == [
        (False, "quiet_hours"), (True, "allowed")]
    assert decisions[0].next_allowed_at == planned + timedelta(hours=9)
    await case.pay("99.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_undeliverable_sms_moves_the_step_to_email(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "250.00", phone="+8613800139999")
    await case.sleep_until(at_nine(business_day(friday, 1)))

    async def receipt_failed() -> bool:
        return any(a.status == "failed" for a in await case.attempts())

    await case.until(receipt_failed)  # the gateway's failed receipt reached the case
    await case.sleep_until(at_nine(business_day(friday, 1)) + timedelta(minutes=40))
    attempts = await case.attempts()
    assert [(a.step, a.channel, a.status) for a in attempts] == [
        ("first-reminder", "sms", "failed"), ("first-reminder", "email", "sent")]
    assert len(await smtp_messages(case.outside.smtp_http, case.loan_id)) == 1
    await case.pay("250.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_dispute_on_the_phone_pauses_collection_until_resolved(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "640.00", preferred_channel="phone")
    await case.sleep_until(at_nine(business_day(friday, 1)) + timedelta(minutes=5))
    await case.complete_call("dispute")

    async def disputed() -> bool:
        return (await case.view()).dispute_open

    await case.until(disputed)
    await case.sleep_until(at_nine(business_day(friday, 7)) + timedelta(hours=1))
    assert [a.step for a in await case.attempts()] == ["first-reminder"]
    await case.handle.signal("dispute_update", {"open": False, "by": "officer-li"})

    async def resolved() -> bool:
        return not (await case.view()).dispute_open

    await case.until(resolved)
    await case.sleep_until(await case.now() + timedelta(hours=1))
    # Resolved: one catch-up contact on the latest rung due (the call), not a burst.
    assert [a.step for a in await case.attempts()] == ["first-reminder", "phone-call"]
    await case.pay("640.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_gateway_answer_lost_after_send_still_one_sms(case: Case) -> None:
    friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
    await case.miss(friday, "77.00")
    async with httpx.AsyncClient() as http:
        await http.post(f"{case.outside.sms_url}/_sandbox/faults",
                        json={"fail_next": 2, "status": 503, "after_accept": True})
    await case.sleep_until(at_nine(business_day(friday, 1)) + timedelta(minutes=40))
    assert len(await sms_messages(case.outside.sms_url, case.loan_id)) == 1
    [attempt] = await case.attempts()
    assert attempt.tries == 3 and attempt.status in ("sent", "delivered")
    await case.pay("77.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_cured_customer_is_asked_to_rate_the_service(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=20)
    await case.miss(due, "80.00")
    await case.pay("80.00")
    assert (await case.handle.result()).outcome == "cured"
    case_ref = (await case.view()).case_ref
    assert case_ref is not None

    async def surveyed() -> bool:
        return bool(await sms_messages(case.outside.sms_url, case_ref))

    await case.until(surveyed)
    [sms] = await sms_messages(case.outside.sms_url, case_ref)
    link = str(sms["body"]).split("/survey/", 1)[1].split("。", 1)[0].split(" ", 1)[0]
    url = f"{case.settings.intake.public_url}/survey/{link}"
    async with httpx.AsyncClient() as http:
        assert "1-5" in (await http.get(url)).text
        refused = await http.post(url, data={"rating": "9", "treated_fairly": "yes"})
        answered = await http.post(url, data={"rating": "4", "treated_fairly": "yes",
                                              "comment": "<b>ok</b>"})
        assert (await http.get(f"{case.settings.intake.public_url}/survey/nope")
                ).status_code == 404
    assert (refused.status_code, answered.status_code) == (422, 200)
    async with case.sessions() as session:
        survey = (await session.execute(select(Survey).where(
            Survey.loan_id == case.loan_id))).scalar_one()
    assert (survey.outcome, survey.channel, survey.rating, survey.treated_fairly,
            survey.comment) == ("cured", "sms", 4, True, "<b>ok</b>")


async def test_payment_before_reminder_cures_without_contact(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=20)
    await case.miss(due, "800.00")
    await case.pay("800.00")
    outcome = await case.handle.result()
    assert (outcome.outcome, outcome.contacts_sent) == ("cured", 0)
    # No reminder went out (the aftercare survey, referenced by the case, is the only SMS).
    assert [m for m in await sms_messages(case.outside.sms_url, case.loan_id)
            if "/survey/" not in str(m["body"])] == []


async def test_loan_closed_ends_the_case(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=20)
    await case.miss(due, "500.00")
    await case.intake.ingest(closed_event(case.loan_id, await case.now()))
    outcome = await case.handle.result()
    assert (outcome.outcome, outcome.arrears) == ("loan_closed", Decimal("500.00"))


async def test_an_event_for_a_closed_loan_is_kept_and_starts_nothing(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=20)
    await case.miss(due, "500.00")
    await case.intake.ingest(closed_event(case.loan_id, await case.now()))
    assert (await case.handle.result()).outcome == "loan_closed"
    closed_run = (await case.handle.describe()).run_id
    late = payment_event(case.loan_id, "500.00", await case.now())
    assert (await case.intake.ingest(late)).status == "loan_closed"
    assert (await case.intake.ingest(late)).status == "loan_closed"  # re-delivered: same
    late_miss = missed_event(case.loan_id, due, "500.00", await case.now(), number=8)
    assert (await case.intake.ingest(late_miss)).status == "loan_closed"
    described = await case.handle.describe()
    assert described.run_id == closed_run  # no new case
    async with case.sessions() as session:
        kept = {r.event_id: r.status for r in (await session.execute(
            select(CoreBankingEventRecord).where(
                CoreBankingEventRecord.loan_id == case.loan_id))).scalars()}
    assert kept[late.event_id] == kept[late_miss.event_id] == "ignored"


async def test_payment_before_the_miss_counts_against_it(case: Case) -> None:
    """Core banking reports a payment before the instalment it pays was reported missed."""
    case.loan_id = new_loan_id()
    await case.pay("100.00")
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, "300.00")
    view = await case.view()
    assert (view.missed_instalments, view.paid_total, view.arrears) == (
        1, Decimal("100.00"), Decimal("200.00"))
    await case.pay("200.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_payment_without_a_miss_closes_after_the_idle_window(case: Case) -> None:
    case.loan_id = new_loan_id()
    await case.pay("100.00")
    # A handle from get_workflow_handle does not unlock time skipping: sleep explicitly.
    await case.env.sleep(timedelta(days=36))
    outcome = await case.handle.result()
    described = await case.handle.describe()
    assert outcome.outcome == "no_arrears"
    assert described.close_time is not None
    assert timedelta(days=35) <= described.close_time - described.start_time < timedelta(
        days=35, hours=1)


async def test_same_instalment_reported_twice_counts_once(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() + timedelta(days=20)
    await case.miss(due, "300.00", number=4)
    await case.miss(due, "300.00", number=4)
    view = await case.view()
    assert (view.missed_instalments, view.arrears) == (1, Decimal("300.00"))
    await case.pay("300.00")
    assert (await case.handle.result()).outcome == "cured"


async def test_a_long_case_continues_as_new_and_keeps_its_state(
        fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """A small history budget: the case continues as new mid-ladder, keeps its contacts,
    skips the steps it already took, and closes normally."""
    settings = make_settings(
        database_url=database_url, outside=outside, task_queue=f"tq-{uuid.uuid4()}",
        policy_path=policy_variant(tmp_path, replace={
            "history_budget = 1500": "history_budget = 100"}))
    async with case_worker(fresh_ts_env.client, settings), \
            serve_intake(settings, fresh_ts_env.client, sessions):
        case = Case(fresh_ts_env, intake_for(fresh_ts_env.client, sessions, settings),
                    settings, outside, sessions)
        friday = quiet_weekend_friday((await case.now()).astimezone(SHANGHAI).date())
        await case.miss(friday, "321.00")
        first_run = (await case.handle.describe()).run_id
        await case.sleep_until(at_nine(business_day(friday, 15)) + timedelta(hours=1))
        view = await case.view()
        assert (await case.handle.describe()).run_id != first_run
        assert [c.step for c in view.contacts if c.channel != "-"] == [
            "first-reminder", "email-reminder", "phone-call", "second-sms"]
        first = [e async for e in fresh_ts_env.client.get_workflow_handle(
            case.handle.id, run_id=first_run).fetch_history_events()]
        assert first[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        assert len(first) < 260
        # Each step went out once, over all runs.
        assert [a.step for a in await case.attempts()] == [
            "first-reminder", "email-reminder", "phone-call", "second-sms"]
        await case.pay("321.00")
        assert (await case.handle.result()).outcome == "cured"
        await case.terminate_leftovers()
