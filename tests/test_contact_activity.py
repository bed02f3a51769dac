"""The SMS reminder activity: one message per (loan, step), whatever fails and retries."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.contacts import ContactActivities
from activities.contracts import PlanContactRequest, SendReminderRequest
from overdue.clients.contact_centre import ContactCentreClient, ContactCentreSettings
from overdue.clients.email import EmailClient, EmailUnavailable
from overdue.clients.sms import SmsGatewayClient, SmsGatewayUnavailable
from overdue.policy_file import load_policy
from overdue.settings import SmsGatewaySettings
from overdue.storage.intake_records import upsert_snapshot
from overdue.storage.models import ContactAttempt, ContactDecisionRecord
from tests.conftest import POLICY_DIR, Outside, call_tasks, sms_messages, smtp_messages
from tests.factories import missed_event, new_loan_id

AUTH = {"Authorization": "Bearer sandbox-sms-key"}


@pytest.fixture
async def contacts(outside: Outside, sessions: async_sessionmaker[AsyncSession]
                   ) -> AsyncIterator[ContactActivities]:
    async with httpx.AsyncClient() as http:
        await http.delete(f"{outside.sms_url}/_sandbox/messages")
        await http.delete(f"{outside.smtp_http}/_sandbox/messages")
    async with SmsGatewayClient.open(SmsGatewaySettings(url=outside.sms_url)) as sms, \
            ContactCentreClient.open(ContactCentreSettings(url=outside.cc_url)) as cc:
        yield ContactActivities(sessions, sms, EmailClient(outside.smtp), cc, b"test-secret")


async def known_loan(sessions: async_sessionmaker[AsyncSession], **kwargs: object) -> str:
    loan_id = new_loan_id()
    async with sessions() as session:
        await upsert_snapshot(session, missed_event(loan_id, date(2026, 12, 1), "99.50",
                                                    datetime.now(UTC), **kwargs))  # type: ignore[arg-type]
        await session.commit()
    return loan_id


def request(loan_id: str, key: str | None = None, template: str = "reminder_sms"
            ) -> SendReminderRequest:
    policy = load_policy(POLICY_DIR / "default.toml")
    return SendReminderRequest(
        loan_id=loan_id, case_ref=f"{loan_id}:evt", step="first-reminder",
        idempotency_key=key or f"{loan_id}:2026-12-01:first-reminder:sms",
        template_name=template, templates=policy.templates[template],
        subject_templates=policy.templates["reminder_email_subject"],
        bank=policy.bank, penalty_uplift=policy.penalty.uplift, default_locale="zh-Hans",
        overdue_amount=Decimal("99.50"), due_date=date(2026, 12, 1), days_past_due=2,
        scheduled_for=datetime(2026, 12, 2, 1, tzinfo=UTC))


async def attempts(sessions: async_sessionmaker[AsyncSession], loan_id: str
                   ) -> list[ContactAttempt]:
    async with sessions() as session:
        return list((await session.execute(
            select(ContactAttempt).where(ContactAttempt.loan_id == loan_id))).scalars())


async def test_answer_lost_after_send_then_retry_sends_once(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        sms_url: str) -> None:
    loan_id = await known_loan(sessions)
    async with httpx.AsyncClient() as http:
        await http.post(f"{sms_url}/_sandbox/faults",
                        json={"fail_next": 1, "status": 503, "after_accept": True})
    env = ActivityEnvironment()
    with pytest.raises(SmsGatewayUnavailable):
        await env.run(contacts.send_sms_reminder, request(loan_id))
    retried = await env.run(contacts.send_sms_reminder, request(loan_id))
    again = await env.run(contacts.send_sms_reminder, request(loan_id))

    assert (retried.status, retried.replayed) == ("sent", True)
    assert (again.status, again.replayed) == ("sent", True)
    assert len(await sms_messages(sms_url, loan_id)) == 1
    [attempt] = await attempts(sessions, loan_id)
    assert (attempt.status, attempt.tries, attempt.error) == ("sent", 2, None)


async def test_email_answer_lost_after_send_then_retry_sends_once(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        outside: Outside) -> None:
    loan_id = await known_loan(sessions)
    async with httpx.AsyncClient() as http:
        await http.post(f"{outside.smtp_http}/_sandbox/faults",
                        json={"fail_next": 1, "code": 451, "after_accept": True})
    env = ActivityEnvironment()
    email = request(loan_id, f"{loan_id}:2026-12-01:email-reminder:email", "reminder_email")
    with pytest.raises(EmailUnavailable):
        await env.run(contacts.send_email_reminder, email)
    sent = await env.run(contacts.send_email_reminder, email)
    assert sent.status == "sent"
    [message] = await smtp_messages(outside.smtp_http, loan_id)
    assert "¥99.50" in str(message["subject"]) and "https://bank.example/unsubscribe" in str(
        message["text"])
    [attempt] = await attempts(sessions, loan_id)
    assert (attempt.channel, attempt.status, attempt.tries) == ("email", "sent", 2)
    assert attempt.recipient_masked == "w***@example.cn"


async def test_call_task_answer_lost_after_create_then_retry_creates_once(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        outside: Outside) -> None:
    loan_id = await known_loan(sessions)
    async with httpx.AsyncClient() as http:
        await http.post(f"{outside.cc_url}/_sandbox/faults",
                        json={"fail_next": 1, "status": 503, "after_accept": True})
    env = ActivityEnvironment()
    call = request(loan_id, f"{loan_id}:2026-12-01:phone-call:phone", "call_script")
    with pytest.raises(Exception, match="503"):
        await env.run(contacts.create_call_task, call)
    created = await env.run(contacts.create_call_task, call)
    assert created.status == "sent" and created.provider_id
    [task] = await call_tasks(outside.cc_url, loan_id)
    assert task["task_id"] == created.provider_id and "¥99.50" in str(task["script"])


async def test_gateway_down_is_retryable_and_recorded(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        sms_url: str) -> None:
    loan_id = await known_loan(sessions)
    async with httpx.AsyncClient() as http:
        await http.post(f"{sms_url}/_sandbox/faults", json={"fail_next": 2, "status": 503})
    env = ActivityEnvironment()
    for _ in range(2):
        with pytest.raises(SmsGatewayUnavailable):
            await env.run(contacts.send_sms_reminder, request(loan_id))
    [attempt] = await attempts(sessions, loan_id)
    assert attempt.status == "pending" and "unavailable" in (attempt.error or "")
    sent = await env.run(contacts.send_sms_reminder, request(loan_id))
    assert (sent.status, sent.replayed) == ("sent", False)
    assert len(await sms_messages(sms_url, loan_id)) == 1


async def test_unreachable_number_fails_the_contact_not_the_case(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        sms_url: str) -> None:
    loan_id = await known_loan(sessions, phone="+8613800130000")
    outcome = await ActivityEnvironment().run(contacts.send_sms_reminder, request(loan_id))
    assert outcome.status == "failed" and "unreachable_number" in (outcome.reason or "")
    assert await sms_messages(sms_url, loan_id) == []
    # A retry of the same step does not try again: the failure is final for this step.
    again = await ActivityEnvironment().run(contacts.send_sms_reminder, request(loan_id))
    assert again.status == "failed" and again.replayed


async def test_sms_opt_out_suppresses_and_records(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        sms_url: str) -> None:
    loan_id = await known_loan(sessions, sms_consent=False)
    outcome = await ActivityEnvironment().run(contacts.send_sms_reminder, request(loan_id))
    assert outcome.status == "suppressed"
    assert await sms_messages(sms_url, loan_id) == []
    [attempt] = await attempts(sessions, loan_id)
    assert attempt.status == "suppressed"


async def test_unknown_loan_is_a_permanent_failure(contacts: ContactActivities) -> None:
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(contacts.send_sms_reminder,
                                        request(f"NOPE{uuid.uuid4().hex[:6]}"))
    assert info.value.non_retryable and info.value.type == "UnknownLoan"


async def test_plan_records_every_decision(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession]) -> None:
    loan_id = await known_loan(sessions, preferred_channel="email")
    policy = load_policy(POLICY_DIR / "default.toml")
    base = dict(loan_id=loan_id, step="first-reminder", step_channel="auto",
                channels=["sms", "email", "phone"], rules=policy.contact_rules,
                channel_policy=policy.channels, bank_timezone="Asia/Shanghai")
    env = ActivityEnvironment()
    night = await env.run(contacts.plan_contact, PlanContactRequest(
        decision_key=f"{loan_id}:1", at=datetime(2026, 12, 1, 15, 30, tzinfo=UTC), **base))
    day = await env.run(contacts.plan_contact, PlanContactRequest(
        decision_key=f"{loan_id}:2", at=datetime(2026, 12, 2, 1, 0, tzinfo=UTC), **base))
    disputed = await env.run(contacts.plan_contact, PlanContactRequest(
        decision_key=f"{loan_id}:3", at=datetime(2026, 12, 2, 1, 0, tzinfo=UTC),
        dispute_open=True, **base))
    # 23:30 in Shanghai: deferred to 08:00; the stated preference (e-mail) wins.
    assert (night.action, night.channel, night.reason, night.basis) == (
        "defer", "email", "quiet_hours", "preference")
    assert night.next_allowed_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
    assert (day.action, day.channel) == ("send", "email")
    assert (disputed.action, disputed.reason) == ("blocked", "dispute_open")
    async with sessions() as session:
        rows = (await session.execute(select(ContactDecisionRecord).where(
            ContactDecisionRecord.loan_id == loan_id).order_by(ContactDecisionRecord.id)
        )).scalars().all()
    assert [(r.allowed, r.reason) for r in rows] == [
        (False, "quiet_hours"), (True, "allowed"), (False, "dispute_open")]


async def test_plan_with_every_channel_opted_out_has_no_lawful_channel(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession]) -> None:
    loan_id = await known_loan(sessions, sms_consent=False, email_consent=False,
                               phone_consent=False)
    policy = load_policy(POLICY_DIR / "default.toml")
    plan = await ActivityEnvironment().run(contacts.plan_contact, PlanContactRequest(
        loan_id=loan_id, step="first-reminder", decision_key=f"{loan_id}:1",
        at=datetime(2026, 12, 2, 1, 0, tzinfo=UTC), step_channel="auto",
        channels=["sms", "email", "phone"], rules=policy.contact_rules,
        channel_policy=policy.channels, bank_timezone="Asia/Shanghai"))
    assert (plan.action, plan.reason) == ("none", "no_channel")


@pytest.mark.parametrize(("locale", "expected"), [
    ("zh-CN", "尊敬的王小明"), ("zh-TW", "貸款"), ("en-GB", "Dear 王小明")])
async def test_message_in_the_customers_language(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        sms_url: str, locale: str, expected: str) -> None:
    loan_id = await known_loan(sessions, locale=locale)
    await ActivityEnvironment().run(contacts.send_sms_reminder, request(loan_id))
    [message] = await sms_messages(sms_url, loan_id)
    body = str(message["body"])
    assert expected in body and "¥99.50" in body and "2026-12-01" in body




@pytest.mark.parametrize(("birth_year", "age_rule", "channel", "basis"), [
    (1950, True, "phone", "profile_age"),
    (1998, True, "sms", "profile_age"),
    (1950, False, "sms", "profile_default"),
    (None, True, "sms", "profile_default"),
], ids=["older-phone", "younger-sms", "age-rule-off", "age-unknown"])
async def test_profile_channel_by_age_only_when_the_policy_allows(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession],
        birth_year: int | None, age_rule: bool, channel: str, basis: str) -> None:
    loan_id = await known_loan(sessions, birth_year=birth_year)
    policy = load_policy(POLICY_DIR / "default.toml")
    channels = policy.channels.model_copy(update={"use_age_rule": age_rule})
    plan = await ActivityEnvironment().run(contacts.plan_contact, PlanContactRequest(
        loan_id=loan_id, step="first-reminder", decision_key=f"{loan_id}:1",
        at=datetime(2026, 12, 2, 2, 0, tzinfo=UTC), step_channel="auto",
        channels=["sms", "email", "phone"], rules=policy.contact_rules,
        channel_policy=channels, bank_timezone="Asia/Shanghai"))
    assert (plan.action, plan.channel, plan.basis) == ("send", channel, basis)


async def test_sms_opt_out_picks_the_next_channel(
        contacts: ContactActivities, sessions: async_sessionmaker[AsyncSession]) -> None:
    loan_id = await known_loan(sessions, sms_consent=False)
    policy = load_policy(POLICY_DIR / "default.toml")
    plan = await ActivityEnvironment().run(contacts.plan_contact, PlanContactRequest(
        loan_id=loan_id, step="second-sms", decision_key=f"{loan_id}:1",
        at=datetime(2026, 12, 2, 2, 0, tzinfo=UTC), step_channel="sms",
        channels=["sms", "email"], rules=policy.contact_rules,
        channel_policy=policy.channels, bank_timezone="Asia/Shanghai"))
    assert (plan.action, plan.channel) == ("send", "email")
