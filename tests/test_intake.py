"""The intake API end to end on the real Temporal dev server: valid, invalid, duplicate events."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from overdue.demo import due_soon_events
from overdue.settings import DatabaseSettings, Settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.models import CoreBankingEventRecord, Customer, Loan
from starter.api import create_app
from starter.intake import IntakeService
from starter.signing import SIGNATURE_HEADER, signed_headers
from tests.conftest import (
    CONVERTER,
    Outside,
    case_worker,
    make_settings,
    policy_variant,
    sms_messages,
)
from tests.factories import missed_event, new_loan_id, payment_event

pytestmark = pytest.mark.devserver

T = TypeVar("T")
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def eventually(probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool],
                     timeout: float = 30.0) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if ok(value) or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.2)


@pytest.fixture
async def stack(dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
                sessions: async_sessionmaker[AsyncSession], tmp_path: Path
                ) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    # A case day lasts one second, so the first reminder comes within seconds.
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, time_scale=86_400))
    app = create_app(settings, IntakeService(sessions, dev_env.client,
                                             settings.temporal.task_queue))
    async with case_worker(dev_env.client, settings), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake",
            event_hooks={"request": [signer(settings)]}) as http:
        yield http, settings


def signer(settings: Settings) -> Callable[[httpx.Request], Awaitable[None]]:
    """Core banking's side: every request HMAC-signed with the shared secret."""
    secret = settings.intake.hmac_secret.get_secret_value().encode()

    async def sign(request: httpx.Request) -> None:
        if request.url.path.startswith("/v1/core-banking/") and "x-overdue-signature" not in \
                request.headers:
            request.headers.update(signed_headers(secret, request.content))

    return sign


def as_json(event: Any) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


def yesterday_missed(loan_id: str, **kwargs: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    due = now.astimezone(SHANGHAI).date() - timedelta(days=1)
    return as_json(missed_event(loan_id, due, "2345.67", now, **kwargs))


async def count_workflows(client: Client, loan_id: str) -> int:
    return len([w async for w in client.list_workflows(f'LoanId = "{loan_id}"')])


async def test_missed_instalment_starts_case_and_sends_one_sms_then_payment_cures(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        sms_url: str, sessions: async_sessionmaker[AsyncSession]) -> None:
    http, _ = stack
    loan_id = new_loan_id()
    event = yesterday_missed(loan_id)

    first = await http.post("/v1/core-banking/events", json=event)
    second = await http.post("/v1/core-banking/events", json=event)
    assert (first.status_code, first.json()["status"]) == (202, "accepted")
    assert (second.status_code, second.json()["status"]) == (200, "duplicate")
    assert first.json()["workflow_id"] == f"loan-{loan_id}"

    messages = await eventually(lambda: sms_messages(sms_url, loan_id), lambda m: len(m) >= 1)
    assert len(messages) == 1
    assert "¥2,345.67" in str(messages[0]["body"])
    # The custom search attributes make the case findable in the Temporal UI.
    assert await eventually(lambda: count_workflows(dev_env.client, loan_id),
                            lambda n: n >= 1) == 1
    handle = dev_env.client.get_workflow_handle(workflow_id_for(loan_id),
                                                result_type=CaseOutcome)
    view = await handle.query(QUERY_STATE, result_type=CaseView)
    assert view.stage == "early" and len(view.contacts) == 1

    payment = as_json(payment_event(loan_id, "2345.67", datetime.now(UTC)))
    paid = await http.post("/v1/core-banking/events", json=payment)
    assert paid.status_code == 202
    outcome = await asyncio.wait_for(handle.result(), timeout=30)
    assert (outcome.outcome, outcome.contacts_sent) == ("cured", 1)
    await asyncio.sleep(1)  # a late duplicate SMS would have arrived by now
    reminders = [m for m in await sms_messages(sms_url, loan_id)
                 if ":survey" not in str(m["idempotency_key"])]
    assert len(reminders) == 1  # (the aftercare survey, after the cure, is the other SMS)
    async with sessions() as session:
        statuses = (await session.execute(
            select(CoreBankingEventRecord.status).where(CoreBankingEventRecord.loan_id == loan_id)
        )).scalars().all()
    assert sorted(statuses) == ["delivered", "delivered"]


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda e: e["instalment"].update(amount_due="12.345"), "instalment.amount_due"),
    (lambda e: e["instalment"].update(amount_due="-5.00"), "instalment.amount_due"),
    (lambda e: e["customer"].update(phone="13800138000"), "customer.phone"),
    (lambda e: e["loan"].update(loan_id="bad id!"), "loan.loan_id"),
    (lambda e: e.update(occurred_at="2026-11-30T10:00:00"), "occurred_at"),
    (lambda e: e.pop("instalment"), "instalment"),
    (lambda e: e.update(type="instalment.forgiven"), "type"),
], ids=["three-decimals", "negative", "not-e164", "loan-id", "naive-time", "missing",
        "unknown-type"])
async def test_malformed_event_is_refused_and_starts_nothing(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        sessions: async_sessionmaker[AsyncSession],
        mutate: Callable[[dict[str, Any]], object], field: str) -> None:
    http, _ = stack
    loan_id = new_loan_id()
    event = yesterday_missed(loan_id)
    mutate(event)
    response = await http.post("/v1/core-banking/events", json=event)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_event"
    assert body["message"].startswith(field), body
    with pytest.raises(RPCError):
        await dev_env.client.get_workflow_handle(workflow_id_for(loan_id)).describe()
    async with sessions() as session:
        events = await session.scalar(select(func.count()).select_from(CoreBankingEventRecord))
        customers = await session.scalar(select(func.count()).select_from(Customer))
    assert (events, customers) == (0, 0)


async def test_not_json_is_refused(stack: tuple[httpx.AsyncClient, Settings]) -> None:
    http, _ = stack
    response = await http.post("/v1/core-banking/events", content=b"{not json",
                               headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_event"


async def test_event_id_reused_with_other_content_conflicts(
        stack: tuple[httpx.AsyncClient, Settings]) -> None:
    http, _ = stack
    loan_id = new_loan_id()
    event = yesterday_missed(loan_id)
    assert (await http.post("/v1/core-banking/events", json=event)).status_code == 202
    event["instalment"]["amount_due"] = "9999.00"
    response = await http.post("/v1/core-banking/events", json=event)
    assert response.status_code == 409
    assert response.json()["status"] == "conflict"


async def test_temporal_down_keeps_event_for_redelivery(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    _, settings = stack
    dead = await Client.connect("127.0.0.1:1", lazy=True, data_converter=CONVERTER)
    down = create_app(settings, IntakeService(sessions, dead, settings.temporal.task_queue))
    loan_id = new_loan_id()
    event = yesterday_missed(loan_id)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down),
                                 base_url="http://intake",
                                 event_hooks={"request": [signer(settings)]}) as http_down:
        response = await http_down.post("/v1/core-banking/events", json=event)
    assert response.status_code == 503
    async with sessions() as session:
        record = await session.get(CoreBankingEventRecord, event["event_id"])
    assert record is not None and record.status == "received"

    # Core banking re-delivers once Temporal is back: the case starts, exactly once.
    http, _ = stack
    again = await http.post("/v1/core-banking/events", json=event)
    assert (again.status_code, again.json()["status"]) == (202, "accepted")
    description = await dev_env.client.get_workflow_handle(workflow_id_for(loan_id)).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING


async def test_openapi_documents_the_event_schema(
        stack: tuple[httpx.AsyncClient, Settings]) -> None:
    http, _ = stack
    spec = (await http.get("/openapi.json")).json()
    body = spec["paths"]["/v1/core-banking/events"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert schema["discriminator"]["propertyName"] == "type"
    assert {"InstalmentMissed", "PaymentReceived", "LoanClosed"} <= set(
        spec["components"]["schemas"])


@pytest.mark.parametrize("case", ["unsigned", "wrong-secret", "stale", "body-changed"])
async def test_unsigned_or_forged_requests_are_refused(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        case: str) -> None:
    http, settings = stack
    loan_id = new_loan_id()
    body = json.dumps(yesterday_missed(loan_id)).encode()
    secret = settings.intake.hmac_secret.get_secret_value().encode()
    headers = {
        # An empty signature header keeps the test client's signing hook away.
        "unsigned": {"content-type": "application/json", SIGNATURE_HEADER: ""},
        "wrong-secret": signed_headers(b"not-the-secret", body),
        "stale": signed_headers(secret, body, now=time.time() - 3600),
        "body-changed": signed_headers(secret, body + b" "),
    }[case]
    response = await http.post("/v1/core-banking/events", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "bad_signature"
    with pytest.raises(RPCError):
        await dev_env.client.get_workflow_handle(workflow_id_for(loan_id)).describe()


async def test_database_down_answers_503_for_redelivery(
        stack: tuple[httpx.AsyncClient, Settings]) -> None:
    """No database: a clear 503 with Retry-After, nothing started; re-delivery is safe."""
    _, settings = stack
    dead_sessions = create_sessionmaker(create_engine(DatabaseSettings(
        url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")))
    down = create_app(settings, IntakeService(dead_sessions, None,  # type: ignore[arg-type]
                                              settings.temporal.task_queue))
    event = yesterday_missed(new_loan_id())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=down),
                                 base_url="http://intake",
                                 event_hooks={"request": [signer(settings)]}) as http_down:
        response = await http_down.post("/v1/core-banking/events", json=event)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["error"] == "database_unavailable"


async def test_due_soon_is_recorded_for_early_warning_and_opens_no_case(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    """``instalment.due_soon`` keeps the snapshot and the repayment record the early
    warning scores; it starts nothing; a re-delivery is a duplicate; a changed record under
    the same event id is a conflict."""
    http, _ = stack
    [event] = due_soon_events(3)[2:]
    loan_id = event["loan"]["loan_id"]
    response = await http.post("/v1/core-banking/events", json=event)
    assert (response.status_code, response.json()["status"]) == (202, "recorded")
    assert response.json()["workflow_id"] is None
    again = await http.post("/v1/core-banking/events", json=event)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    changed = {**event, "repayment": {**event["repayment"], "max_days_past_due": 5}}
    assert (await http.post("/v1/core-banking/events", json=changed)).status_code == 409
    assert await count_workflows(dev_env.client, loan_id) == 0
    async with sessions() as session:
        loan = await session.get(Loan, loan_id)
        record = await session.get(CoreBankingEventRecord, event["event_id"])
        assert loan is not None and record is not None
        customer = await session.get(Customer, loan.customer_id)
        assert customer is not None
    assert (loan.next_due_date, loan.late_instalments_12m, loan.max_days_past_due) == (
        date.fromisoformat(event["instalment"]["due_date"]), 4, 62)
    assert loan.last_delinquency_date == date.fromisoformat(
        event["repayment"]["last_delinquency_date"])
    assert customer.monthly_income == Decimal("8000.00")
    assert (record.status, record.business_date) == ("delivered", loan.next_due_date)

    # A missed instalment later refreshes the snapshot and keeps the repayment record.
    missed = yesterday_missed(loan_id)
    missed["customer"]["customer_id"] = loan.customer_id
    assert (await http.post("/v1/core-banking/events", json=missed)).status_code == 202
    async with sessions() as session:
        kept = await session.get(Loan, loan_id)
        assert kept is not None
    assert (kept.late_instalments_12m, kept.max_days_past_due) == (4, 62)
    assert await count_workflows(dev_env.client, loan_id) == 1
    await dev_env.client.get_workflow_handle(workflow_id_for(loan_id)).terminate("test done")


async def test_concurrent_events_share_delivery_mark_transactions(
        stack: tuple[httpx.AsyncClient, Settings], dev_env: WorkflowEnvironment,
        sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """Events answered together are marked delivered in fewer transactions than events,
    and every one of them is marked before its 202."""
    import starter.intake

    batches: list[int] = []
    mark = starter.intake.mark_events_delivered

    async def counted(session: AsyncSession, event_ids: Sequence[str]) -> None:
        batches.append(len(event_ids))
        await mark(session, event_ids)

    monkeypatch.setattr(starter.intake, "mark_events_delivered", counted)
    http, _ = stack
    events = [yesterday_missed(new_loan_id()) for _ in range(24)]
    answers = await asyncio.gather(*(http.post("/v1/core-banking/events", json=event)
                                     for event in events))
    assert [answer.status_code for answer in answers] == [202] * 24
    async with sessions() as session:
        statuses = (await session.scalars(select(CoreBankingEventRecord.status).where(
            CoreBankingEventRecord.event_id.in_([e["event_id"] for e in events])))).all()
    assert sorted(statuses) == ["delivered"] * 24
    assert sum(batches) == 24
    assert len(batches) < 24, batches


async def test_a_failed_delivery_mark_reaches_every_waiting_event() -> None:
    """The database fails while events wait for one shared mark: each caller gets the
    database's error (the API answers 503 and core banking re-delivers), none hangs."""
    from starter.intake import DeliveryMarks

    dead = create_sessionmaker(create_engine(DatabaseSettings(
        url="postgresql+asyncpg://postgres@127.0.0.1:1/nowhere")))
    marks = DeliveryMarks(dead)
    outcomes = await asyncio.wait_for(asyncio.gather(
        *(marks.mark(f"E-{n}") for n in range(5)), return_exceptions=True), 30)
    assert len(outcomes) == 5
    assert all(isinstance(outcome, OSError | ConnectionError) or
               type(outcome).__name__ in ("OperationalError", "InterfaceError")
               for outcome in outcomes), outcomes
    # The writer is gone once the failure is handed out; a later mark starts a new one.
    assert marks._writer is None
