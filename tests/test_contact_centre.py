"""The contact-centre client against the sandbox running as a real uvicorn process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from overdue.clients.contact_centre import (
    CallTaskOutcome,
    CallTaskReceipt,
    ContactCentreClient,
    ContactCentreRejected,
    ContactCentreSettings,
    ContactCentreUnavailable,
    verify_callback_signature,
)
from tests.cc_server import CC_API_KEY, run_callback_receiver, run_contact_centre
from tests.servers import free_port

PHONE = "+8613800138000"
NAME = "Zhang San"
SCRIPT = "Your instalment of 1234.56 CNY for loan L-1 is 10 days overdue."
CST = timezone(timedelta(hours=8))
DUE_BY = datetime(2024, 5, 1, 18, 0, tzinfo=CST)
OUTCOMES = ["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute", "handled"]


@pytest.fixture(scope="module")
async def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_contact_centre(tmp_path_factory.mktemp("cc")) as url:
        yield url


@pytest.fixture
async def admin(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP access to the sandbox (no API key), reset before each test."""
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False, timeout=5) as http:
        (await http.delete("/_sandbox/tasks")).raise_for_status()
        yield http


@pytest.fixture
async def cc(sandbox_url: str, admin: httpx.AsyncClient) -> AsyncIterator[ContactCentreClient]:
    async with ContactCentreClient.open(ContactCentreSettings(url=sandbox_url)) as client:
        yield client


async def new_task(cc: ContactCentreClient, key: str, **overrides: Any) -> CallTaskReceipt:
    args: dict[str, Any] = {
        "kind": "collection_call", "reference": "case-1", "loan_ref": "L-1", "phone": PHONE,
        "customer_name": NAME, "locale": "zh-CN", "script": SCRIPT, "due_by": DUE_BY}
    args.update(overrides)
    return await cc.create_task(idempotency_key=key, **args)


async def tasks(admin: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await admin.get("/v1/call-tasks", params=params)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def task(admin: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
    response = await admin.get(f"/v1/call-tasks/{task_id}")
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def complete(admin: httpx.AsyncClient, task_id: str, outcome: str, *,
                   agent: str = "rep-7", **fields: Any) -> httpx.Response:
    """What the agent UI sends (no API key)."""
    return await admin.post(f"/v1/call-tasks/{task_id}/complete",
                            json={"outcome": outcome, "agent": agent, **fields})


PROMISE = {"promise_amount": "1234.50", "promise_date": "2024-05-10"}


def completion_fields(outcome: str) -> dict[str, Any]:
    return PROMISE if outcome == "promise_to_pay" else {}


async def inject(admin: httpx.AsyncClient, **fault: Any) -> None:
    (await admin.post("/_sandbox/faults", json=fault)).raise_for_status()


async def settled_task(admin: httpx.AsyncClient, task_id: str,
                       timeout: float = 20.0) -> dict[str, Any]:
    """The task once its callback is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        current = await task(admin, task_id)
        if current["callback_status"] != "pending" or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


# --- creating tasks -----------------------------------------------------------------------

async def test_create_task(cc: ContactCentreClient, admin: httpx.AsyncClient) -> None:
    receipt = await new_task(cc, "k-1", assignee="rep-7",
                             callback_url="http://127.0.0.1:1/hook")

    assert receipt.task_id.startswith("task_")
    assert receipt == CallTaskReceipt(task_id=receipt.task_id, replayed=False)
    [stored] = await tasks(admin)
    assert stored == {
        "task_id": receipt.task_id, "kind": "collection_call", "reference": "case-1",
        "loan_ref": "L-1", "phone": PHONE, "customer_name": NAME, "locale": "zh-CN",
        "script": SCRIPT, "due_by": "2024-05-01T18:00:00+08:00",
        "callback_url": "http://127.0.0.1:1/hook", "assignee": "rep-7",
        "idempotency_key": "k-1", "created_at": stored["created_at"], "status": "open",
        "completed_at": None, "outcome": None, "promise_amount": None,
        "promise_date": None, "note": None, "agent": None, "callback_status": None,
        "callback_attempts": 0}
    assert stored["created_at"].endswith("Z")
    assert await task(admin, receipt.task_id) == stored
    assert await tasks(admin, status="open", reference="case-1", assignee="rep-7") == [stored]
    assert await tasks(admin, status="completed") == []
    assert await tasks(admin, reference="other") == []
    assert await tasks(admin, assignee="rep-8") == []
    assert (await admin.get("/v1/call-tasks", params={"status": "nope"})).status_code == 400
    assert (await admin.get("/v1/call-tasks/task_nope")).status_code == 404


async def test_hardship_follow_up_without_optionals(cc: ContactCentreClient,
                                                    admin: httpx.AsyncClient) -> None:
    receipt = await new_task(cc, "k-2", kind="hardship_follow_up",
                             due_by=datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    stored = await task(admin, receipt.task_id)
    assert stored["kind"] == "hardship_follow_up"
    assert (stored["assignee"], stored["callback_url"]) == (None, None)
    assert stored["due_by"] == "2024-05-01T10:00:00+00:00"


async def test_same_key_is_replayed(cc: ContactCentreClient, admin: httpx.AsyncClient) -> None:
    first = await new_task(cc, "k-3")
    second = await new_task(cc, "k-3")

    assert not first.replayed
    assert second.replayed
    assert second.task_id == first.task_id
    assert len(await tasks(admin)) == 1


async def test_key_reused_with_other_body(cc: ContactCentreClient,
                                          admin: httpx.AsyncClient) -> None:
    await new_task(cc, "k-4")
    with pytest.raises(ContactCentreRejected) as caught:
        await new_task(cc, "k-4", script="something else")

    assert (caught.value.status_code, caught.value.error_code) == (409,
                                                                   "idempotency_key_reused")
    assert len(await tasks(admin)) == 1


@pytest.mark.parametrize("number", ["13800138000", "+0123456789", "+86 138 0013 8000", "+12"])
async def test_invalid_phone(cc: ContactCentreClient, admin: httpx.AsyncClient,
                             number: str) -> None:
    with pytest.raises(ContactCentreRejected) as caught:
        await new_task(cc, "k-5", phone=number)

    assert (caught.value.status_code, caught.value.error_code) == (400, "invalid_number")
    assert number not in str(caught.value)
    assert await tasks(admin) == []


@pytest.mark.parametrize(("overrides", "code"), [
    ({"callback_url": "ftp://example.com/hook"}, "invalid_callback_url"),
    ({"callback_url": "/relative"}, "invalid_callback_url"),
    ({"kind": "visit"}, "invalid_request"),
    ({"locale": "zh CN"}, "invalid_request"),
    ({"script": ""}, "invalid_request"),
    ({"assignee": ""}, "invalid_request"),
    ({"reference": "r" * 201}, "invalid_request"),
], ids=["ftp-callback", "relative-callback", "kind", "locale", "script", "assignee",
        "reference"])
async def test_invalid_request(cc: ContactCentreClient, admin: httpx.AsyncClient,
                               overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(ContactCentreRejected) as caught:
        await new_task(cc, "k-6", **overrides)
    assert (caught.value.status_code, caught.value.error_code) == (400, code)
    assert await tasks(admin) == []


async def test_client_checks_arguments(cc: ContactCentreClient) -> None:
    with pytest.raises(ValueError, match="Idempotency"):
        await new_task(cc, "键")
    with pytest.raises(ValueError, match="timezone"):
        await new_task(cc, "k-7", due_by=datetime(2024, 5, 1, 18, 0))


async def test_protocol_errors(admin: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {CC_API_KEY}"}
    body = {"kind": "collection_call", "reference": "c", "loan_ref": "L", "phone": PHONE,
            "customer_name": NAME, "locale": "en", "script": "s",
            "due_by": "2024-05-01T18:00:00Z"}

    missing = await admin.post("/v1/call-tasks", json=body, headers=auth)
    too_long = await admin.post("/v1/call-tasks", json=body,
                                headers={**auth, "Idempotency-Key": "k" * 201})
    no_auth = await admin.post("/v1/call-tasks", json=body, headers={"Idempotency-Key": "k"})
    bad_json = await admin.post("/v1/call-tasks", content=b"{nope",
                                headers={**auth, "Idempotency-Key": "k"})
    naive = await admin.post("/v1/call-tasks", json={**body, "due_by": "2024-05-01T18:00:00"},
                             headers={**auth, "Idempotency-Key": "k"})

    assert (missing.status_code, missing.json()["error"]) == (400, "missing_idempotency_key")
    assert (too_long.status_code, too_long.json()["error"]) == (400, "invalid_idempotency_key")
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "unauthorized")
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "invalid_json")
    assert (naive.status_code, naive.json()["error"]) == (400, "invalid_request")
    ok = await admin.post("/v1/call-tasks", json=body, headers={**auth, "Idempotency-Key": "k"})
    assert ok.status_code == 201
    assert ok.json() == {"task_id": ok.json()["task_id"], "status": "open"}
    replay = await admin.post("/v1/call-tasks", json={**body, "assignee": None},
                              headers={**auth, "Idempotency-Key": "k"})
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == ok.json()
    assert (await admin.get("/healthz")).json() == {"status": "ok"}


async def test_unauthorised(sandbox_url: str, admin: httpx.AsyncClient) -> None:
    settings = ContactCentreSettings(url=sandbox_url, api_key=SecretStr("wrong-key"))
    async with ContactCentreClient.open(settings) as cc:
        with pytest.raises(ContactCentreRejected) as caught:
            await new_task(cc, "k-8")

    assert (caught.value.status_code, caught.value.error_code) == (401, "unauthorized")
    assert await tasks(admin) == []


async def test_injected_client_uses_settings(sandbox_url: str,
                                             admin: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        cc = ContactCentreClient(http, ContactCentreSettings(url=sandbox_url + "/"))
        receipt = await new_task(cc, "k-9")
    assert [t["task_id"] for t in await tasks(admin)] == [receipt.task_id]


# --- faults ---------------------------------------------------------------------------------

@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_transient_errors(cc: ContactCentreClient, admin: httpx.AsyncClient,
                                status: int) -> None:
    await inject(admin, fail_next=1, status=status)
    with pytest.raises(ContactCentreUnavailable) as caught:
        await new_task(cc, "k-10")

    assert caught.value.status_code == status
    assert caught.value.error_code == "sandbox_fault"
    if status in (429, 503):
        assert caught.value.retry_after == 1.0
    assert await tasks(admin) == []
    receipt = await new_task(cc, "k-10")
    assert not receipt.replayed
    assert len(await tasks(admin)) == 1


async def test_answer_lost_after_accept(cc: ContactCentreClient,
                                        admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, status=503, after_accept=True)
    with pytest.raises(ContactCentreUnavailable):
        await new_task(cc, "k-11")
    [stored] = await tasks(admin)

    receipt = await new_task(cc, "k-11")

    assert receipt.replayed
    assert receipt.task_id == stored["task_id"]
    assert len(await tasks(admin)) == 1


async def test_timeout_then_retry(sandbox_url: str, admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, status=None, delay_seconds=1.0)
    settings = ContactCentreSettings(url=sandbox_url, timeout_seconds=0.2)
    async with ContactCentreClient.open(settings) as cc:
        with pytest.raises(ContactCentreUnavailable) as caught:
            await new_task(cc, "k-12")
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        receipt = await new_task(cc, "k-12")

    assert receipt.replayed
    assert len(await tasks(admin)) == 1


async def test_connection_refused() -> None:
    settings = ContactCentreSettings(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    async with ContactCentreClient.open(settings) as cc:
        with pytest.raises(ContactCentreUnavailable) as caught:
            await new_task(cc, "k-13")
    assert isinstance(caught.value.__cause__, httpx.TransportError)


async def test_no_personal_data_in_logs(cc: ContactCentreClient,
                                        admin: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        await new_task(cc, "k-14")
        with pytest.raises(ContactCentreRejected):
            await new_task(cc, "k-15", phone="13800138000")
        await inject(admin, fail_next=1, status=503)
        with pytest.raises(ContactCentreUnavailable):
            await new_task(cc, "k-16")

    assert len(logs) == 3
    text = repr(logs)
    for personal in (PHONE, PHONE[1:], "13800138000", NAME, "Zhang", SCRIPT, "1234.56"):
        assert personal not in text


# --- completing tasks ---------------------------------------------------------------------

@pytest.mark.parametrize("outcome", OUTCOMES)
async def test_complete_with_each_outcome(cc: ContactCentreClient, admin: httpx.AsyncClient,
                                          outcome: str) -> None:
    receipt = await new_task(cc, f"k-complete-{outcome}")
    response = await complete(admin, receipt.task_id, outcome, note="called at 10:05",
                              **completion_fields(outcome))

    assert response.status_code == 200, response.text
    done = response.json()
    assert done["status"] == "completed"
    assert done["outcome"] == outcome
    assert done["agent"] == "rep-7"
    assert done["note"] == "called at 10:05"
    assert done["completed_at"].endswith("Z")
    if outcome == "promise_to_pay":
        assert (done["promise_amount"], done["promise_date"]) == ("1234.50", "2024-05-10")
    else:
        assert (done["promise_amount"], done["promise_date"]) == (None, None)
    assert done["callback_status"] is None  # no callback URL
    assert await task(admin, receipt.task_id) == done
    assert await tasks(admin, status="completed") == [done]
    assert await tasks(admin, status="open") == []


@pytest.mark.parametrize(("fields", "code"), [
    ({}, "missing_promise"),
    ({"promise_amount": "100.00"}, "missing_promise"),
    ({"promise_date": "2024-05-10"}, "missing_promise"),
    ({"promise_amount": "100", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "100.5", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "100.505", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "0.00", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "-5.00", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "1e3", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": "01.00", "promise_date": "2024-05-10"}, "invalid_promise_amount"),
    ({"promise_amount": 100.5, "promise_date": "2024-05-10"}, "invalid_request"),
    ({"promise_amount": "100.00", "promise_date": "next week"}, "invalid_request"),
    ({"promise_amount": "100.00", "promise_date": "2024-02-30"}, "invalid_request"),
], ids=["none", "no-date", "no-amount", "no-decimals", "one-decimal", "three-decimals",
        "zero", "negative", "exponent", "leading-zero", "json-number", "bad-date",
        "impossible-date"])
async def test_promise_to_pay_validation(cc: ContactCentreClient, admin: httpx.AsyncClient,
                                         fields: dict[str, Any], code: str) -> None:
    receipt = await new_task(cc, "k-promise")
    response = await complete(admin, receipt.task_id, "promise_to_pay", **fields)

    assert (response.status_code, response.json()["error"]) == (400, code)
    assert (await task(admin, receipt.task_id))["status"] == "open"


@pytest.mark.parametrize(("outcome", "fields", "code"), [
    ("refused", PROMISE, "unexpected_promise"),
    ("no_answer", {"promise_date": "2024-05-10"}, "unexpected_promise"),
    ("called", {}, "invalid_request"),
    ("handled", {"agent": ""}, "invalid_request"),
], ids=["promise-with-refused", "date-with-no-answer", "unknown-outcome", "empty-agent"])
async def test_completion_validation(cc: ContactCentreClient, admin: httpx.AsyncClient,
                                     outcome: str, fields: dict[str, Any], code: str) -> None:
    receipt = await new_task(cc, "k-completion")
    response = await complete(admin, receipt.task_id, outcome, **fields)

    assert (response.status_code, response.json()["error"]) == (400, code)
    assert (await task(admin, receipt.task_id))["status"] == "open"


async def test_double_completion(cc: ContactCentreClient, admin: httpx.AsyncClient) -> None:
    receipt = await new_task(cc, "k-17")
    first = await complete(admin, receipt.task_id, "no_answer")
    again = await complete(admin, receipt.task_id, "promise_to_pay", **PROMISE)
    same = await complete(admin, receipt.task_id, "no_answer")
    unknown = await complete(admin, "task_nope", "no_answer")

    assert first.status_code == 200
    assert (again.status_code, again.json()["error"]) == (409, "already_completed")
    assert (same.status_code, same.json()["error"]) == (409, "already_completed")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    assert (await task(admin, receipt.task_id))["outcome"] == "no_answer"


# --- outcome callbacks --------------------------------------------------------------------

async def test_callback_delivered_with_valid_signature(cc: ContactCentreClient,
                                                       admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver() as receiver:
        receipt = await new_task(cc, "k-18", reference="case-18", callback_url=receiver.url)
        await asyncio.sleep(0.3)
        assert receiver.received == []  # nothing before the agent completes it
        done = (await complete(admin, receipt.task_id, "promise_to_pay", note="ok",
                               **PROMISE)).json()
        [hook] = await receiver.wait_for(1)
        stored = await settled_task(admin, receipt.task_id)

    assert done["callback_status"] in ("pending", "delivered")
    assert hook.json() == {
        "task_id": receipt.task_id, "reference": "case-18", "kind": "collection_call",
        "outcome": "promise_to_pay", "promise_amount": "1234.50",
        "promise_date": "2024-05-10", "note": "ok", "agent": "rep-7",
        "completed_at": done["completed_at"]}
    assert hook.headers["content-type"] == "application/json"
    signature = hook.headers["x-callback-signature"]
    assert signature.startswith("sha256=")
    assert verify_callback_signature(hook.body, signature, CC_API_KEY)
    assert verify_callback_signature(hook.body, signature, SecretStr(CC_API_KEY))
    tampered = hook.body.replace(b'"1234.50"', b'"1.00"')
    assert tampered != hook.body
    assert not verify_callback_signature(tampered, signature, CC_API_KEY)
    assert not verify_callback_signature(hook.body, signature, "sandbox-sms-key")
    assert not verify_callback_signature(hook.body, None, CC_API_KEY)
    assert not verify_callback_signature(hook.body, signature[len("sha256="):], CC_API_KEY)

    outcome = CallTaskOutcome.model_validate_json(hook.body)
    assert outcome.outcome == "promise_to_pay"
    assert outcome.promise_amount == Decimal("1234.50")
    assert outcome.promise_date == date(2024, 5, 10)
    assert outcome.completed_at.tzinfo is not None
    assert (stored["callback_status"], stored["callback_attempts"]) == ("delivered", 1)


async def test_callback_retried_on_503(cc: ContactCentreClient,
                                       admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver(answers=[503, 503]) as receiver:
        receipt = await new_task(cc, "k-19", callback_url=receiver.url)
        await complete(admin, receipt.task_id, "refused")
        hooks = await receiver.wait_for(3)
        stored = await settled_task(admin, receipt.task_id)
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 3

    assert [h.status for h in hooks] == [503, 503, 200]
    assert len({h.body for h in hooks}) == 1  # the very same callback each time
    assert all(verify_callback_signature(h.body, h.headers["x-callback-signature"], CC_API_KEY)
               for h in hooks)
    payload = hooks[0].json()
    assert (payload["outcome"], payload["promise_amount"], payload["promise_date"]) == (
        "refused", None, None)
    assert (stored["callback_status"], stored["callback_attempts"]) == ("delivered", 3)


async def test_callback_gives_up(cc: ContactCentreClient, admin: httpx.AsyncClient) -> None:
    """One try and 5 retries (0.2 + 0.5 + 1 + 2 + 4 s), then the callback is failed."""
    async with run_callback_receiver(answers=[503] * 10) as receiver:
        receipt = await new_task(cc, "k-20", callback_url=receiver.url)
        await complete(admin, receipt.task_id, "dispute")
        await receiver.wait_for(6, timeout=30)
        stored = await settled_task(admin, receipt.task_id, timeout=10)
        await asyncio.sleep(0.5)

    assert len(receiver.received) == 6
    assert (stored["callback_status"], stored["callback_attempts"]) == ("failed", 6)


async def test_callback_not_retried_on_4xx(cc: ContactCentreClient,
                                           admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver(answers=[401]) as receiver:
        receipt = await new_task(cc, "k-21", callback_url=receiver.url)
        await complete(admin, receipt.task_id, "handled")
        await receiver.wait_for(1)
        stored = await settled_task(admin, receipt.task_id)

    assert (stored["callback_status"], stored["callback_attempts"]) == ("failed", 1)


async def test_restart_keeps_tasks(tmp_path: Path) -> None:
    async with (run_contact_centre(tmp_path) as url,
                ContactCentreClient.open(ContactCentreSettings(url=url)) as cc):
        first = await new_task(cc, "k-restart")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as admin:
            assert (await complete(admin, first.task_id, "wrong_number")).status_code == 200

    async with run_contact_centre(tmp_path) as url:
        async with ContactCentreClient.open(ContactCentreSettings(url=url)) as cc:
            again = await new_task(cc, "k-restart")
            with pytest.raises(ContactCentreRejected) as caught:
                await new_task(cc, "k-restart", script="changed")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as admin:
            stored = await tasks(admin)
            twice = await complete(admin, first.task_id, "handled")

    assert again.replayed
    assert again.task_id == first.task_id
    assert caught.value.status_code == 409
    assert [(t["task_id"], t["status"], t["outcome"]) for t in stored] == [
        (first.task_id, "completed", "wrong_number")]
    assert twice.status_code == 409
