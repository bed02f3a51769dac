"""The SMS client against the sandbox gateway running as a real uvicorn process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from overdue.clients.sms import (
    SmsGatewayClient,
    SmsGatewayUnavailable,
    SmsReceipt,
    SmsRejected,
    verify_receipt_signature,
)
from overdue.settings import SmsGatewaySettings
from tests.cc_server import run_callback_receiver
from tests.servers import SANDBOX_API_KEY, free_port, run_sms_sandbox

PHONE = "+8613800138000"
UNREACHABLE = "+8613900000000"
UNDELIVERABLE = "+8613800139999"


@pytest.fixture(scope="module")
async def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sms_sandbox(tmp_path_factory.mktemp("sms")) as url:
        yield url


@pytest.fixture
async def admin(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP access to the sandbox, reset before each test."""
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False, timeout=5) as http:
        (await http.delete("/_sandbox/messages")).raise_for_status()
        yield http


@pytest.fixture
async def sms(sandbox_url: str, admin: httpx.AsyncClient) -> AsyncIterator[SmsGatewayClient]:
    async with SmsGatewayClient.open(SmsGatewaySettings(url=sandbox_url)) as client:
        yield client


async def messages(admin: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await admin.get("/v1/messages", params=params)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def inject(admin: httpx.AsyncClient, **fault: Any) -> None:
    (await admin.post("/_sandbox/faults", json=fault)).raise_for_status()


async def test_send_ok(sms: SmsGatewayClient, admin: httpx.AsyncClient) -> None:
    receipt = await sms.send(to=PHONE, body="Your payment is overdue.", idempotency_key="k-1",
                             reference="case-1")

    assert receipt.message_id.startswith("sms_")
    assert receipt == SmsReceipt(message_id=receipt.message_id, segments=1, replayed=False)
    [stored] = await messages(admin)
    assert stored["message_id"] == receipt.message_id
    assert stored["to"] == PHONE
    assert stored["sender_id"] == "CJBANK"
    assert stored["body"] == "Your payment is overdue."
    assert stored["reference"] == "case-1"
    assert stored["idempotency_key"] == "k-1"
    assert stored["accepted_at"].endswith("Z")
    assert await messages(admin, to=PHONE, reference="case-1") == [stored]
    assert await messages(admin, reference="other") == []


@pytest.mark.parametrize(("body", "segments"), [
    ("a" * 160, 1), ("a" * 161, 2), ("é€[" * 53 + "a", 1), ("您好" * 35, 1),
    ("您好" * 35 + "a", 2),
], ids=["gsm-160", "gsm-161", "gsm-extension-160", "ucs2-70", "ucs2-71"])
async def test_segments(sms: SmsGatewayClient, body: str, segments: int) -> None:
    receipt = await sms.send(to=PHONE, body=body, idempotency_key="k-segments")
    assert receipt.segments == segments


async def test_idempotency_key_must_be_ascii(sms: SmsGatewayClient) -> None:
    with pytest.raises(ValueError, match="Idempotency"):
        await sms.send(to=PHONE, body="hello", idempotency_key="键")


async def test_same_key_is_replayed(sms: SmsGatewayClient, admin: httpx.AsyncClient) -> None:
    first = await sms.send(to=PHONE, body="hello", idempotency_key="k-2", reference="r")
    second = await sms.send(to=PHONE, body="hello", idempotency_key="k-2", reference="r")

    assert not first.replayed
    assert second.replayed
    assert second.message_id == first.message_id
    assert len(await messages(admin)) == 1
    stats = (await admin.get("/v1/stats")).json()
    assert stats == {"accepted": 1, "replayed": 1, "rejected": 0}


async def test_key_reused_with_other_body(sms: SmsGatewayClient,
                                          admin: httpx.AsyncClient) -> None:
    await sms.send(to=PHONE, body="hello", idempotency_key="k-3")
    with pytest.raises(SmsRejected) as caught:
        await sms.send(to=PHONE, body="something else", idempotency_key="k-3")

    assert caught.value.status_code == 409
    assert caught.value.error_code == "idempotency_key_reused"
    assert len(await messages(admin)) == 1


@pytest.mark.parametrize("number", ["13800138000", "+0123456789", "+86 138 0013 8000", "+12"])
async def test_invalid_number(sms: SmsGatewayClient, admin: httpx.AsyncClient,
                              number: str) -> None:
    with pytest.raises(SmsRejected) as caught:
        await sms.send(to=number, body="hello", idempotency_key="k-4")

    assert (caught.value.status_code, caught.value.error_code) == (400, "invalid_number")
    assert number not in str(caught.value)
    assert await messages(admin) == []


async def test_body_too_long(sms: SmsGatewayClient) -> None:
    with pytest.raises(SmsRejected) as caught:
        await sms.send(to=PHONE, body="x" * 1001, idempotency_key="k-long")
    assert (caught.value.status_code, caught.value.error_code) == (400, "body_too_long")


async def test_unreachable_number(sms: SmsGatewayClient, admin: httpx.AsyncClient) -> None:
    with pytest.raises(SmsRejected) as caught:
        await sms.send(to=UNREACHABLE, body="hello", idempotency_key="k-5")

    assert caught.value.status_code == 422
    assert caught.value.error_code == "unreachable_number"
    assert await messages(admin) == []
    assert (await admin.get("/v1/stats")).json()["rejected"] == 1


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_transient_errors(sms: SmsGatewayClient, admin: httpx.AsyncClient,
                                status: int) -> None:
    await inject(admin, fail_next=1, status=status)
    with pytest.raises(SmsGatewayUnavailable) as caught:
        await sms.send(to=PHONE, body="hello", idempotency_key="k-6")

    assert caught.value.status_code == status
    if status in (429, 503):
        assert caught.value.retry_after == 1.0
    assert await messages(admin) == []
    # The fault is spent; the retry with the same key goes through as a first send.
    receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-6")
    assert not receipt.replayed
    assert len(await messages(admin)) == 1


async def test_answer_lost_after_accept(sms: SmsGatewayClient,
                                        admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, status=503, after_accept=True)
    with pytest.raises(SmsGatewayUnavailable):
        await sms.send(to=PHONE, body="hello", idempotency_key="k-7")
    [stored] = await messages(admin)

    receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-7")

    assert receipt.replayed
    assert receipt.message_id == stored["message_id"]
    assert len(await messages(admin)) == 1


async def test_timeout_then_retry(sandbox_url: str, admin: httpx.AsyncClient) -> None:
    """A slow answer times out; the message was accepted, so the retry is a replay."""
    await inject(admin, fail_next=1, status=None, delay_seconds=1.0)
    settings = SmsGatewaySettings(url=sandbox_url, timeout_seconds=0.2)
    async with SmsGatewayClient.open(settings) as sms:
        with pytest.raises(SmsGatewayUnavailable) as caught:
            await sms.send(to=PHONE, body="hello", idempotency_key="k-8")
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-8")

    assert receipt.replayed
    assert len(await messages(admin)) == 1


async def test_connection_refused() -> None:
    settings = SmsGatewaySettings(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    async with SmsGatewayClient.open(settings) as sms:
        with pytest.raises(SmsGatewayUnavailable) as caught:
            await sms.send(to=PHONE, body="hello", idempotency_key="k-9")
    assert isinstance(caught.value.__cause__, httpx.TransportError)


async def test_unauthorised(sandbox_url: str, admin: httpx.AsyncClient) -> None:
    settings = SmsGatewaySettings(url=sandbox_url, api_key=SecretStr("wrong-key"))
    async with SmsGatewayClient.open(settings) as sms:
        with pytest.raises(SmsRejected) as caught:
            await sms.send(to=PHONE, body="hello", idempotency_key="k-10")

    assert (caught.value.status_code, caught.value.error_code) == (401, "unauthorized")
    assert await messages(admin) == []


async def test_injected_client_uses_settings(sandbox_url: str,
                                             admin: httpx.AsyncClient) -> None:
    """A bare injected AsyncClient still gets the URL and API key from the settings."""
    async with httpx.AsyncClient(trust_env=False) as http:
        sms = SmsGatewayClient(http, SmsGatewaySettings(url=sandbox_url + "/"))
        receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-11")
    assert [m["message_id"] for m in await messages(admin)] == [receipt.message_id]


async def test_protocol_errors(admin: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
    body = {"to": PHONE, "sender_id": "CJBANK", "body": "hello"}

    missing = await admin.post("/v1/messages", json=body, headers=auth)
    too_long = await admin.post("/v1/messages", json=body,
                                headers={**auth, "Idempotency-Key": "k" * 201})
    no_auth = await admin.post("/v1/messages", json=body, headers={"Idempotency-Key": "k"})
    bad_json = await admin.post("/v1/messages", content=b"{nope",
                                headers={**auth, "Idempotency-Key": "k"})
    no_body = await admin.post("/v1/messages", json={"to": PHONE},
                               headers={**auth, "Idempotency-Key": "k"})

    assert (missing.status_code, missing.json()["error"]) == (400, "missing_idempotency_key")
    assert (too_long.status_code, too_long.json()["error"]) == (400, "invalid_idempotency_key")
    assert (no_auth.status_code, no_auth.json()["error"]) == (401, "unauthorized")
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "invalid_json")
    assert (no_body.status_code, no_body.json()["error"]) == (400, "invalid_request")
    ok = await admin.post("/v1/messages", json=body,
                          headers={**auth, "Idempotency-Key": "k" * 200})
    assert ok.status_code == 201
    replay = await admin.post("/v1/messages", json={**body, "reference": None},
                              headers={**auth, "Idempotency-Key": "k" * 200})
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == ok.json()
    one = await admin.get(f"/v1/messages/{ok.json()['message_id']}")
    assert one.json()["idempotency_key"] == "k" * 200
    assert (await admin.get("/v1/messages/sms_nope")).status_code == 404
    assert (await admin.get("/healthz")).json() == {"status": "ok"}


async def test_no_personal_data_in_logs(sms: SmsGatewayClient, admin: httpx.AsyncClient) -> None:
    secret_body = "Dear Zhang San, you owe 1234.56"
    with capture_logs() as logs:
        await sms.send(to=PHONE, body=secret_body, idempotency_key="k-12")
        with pytest.raises(SmsRejected):
            await sms.send(to=UNREACHABLE, body=secret_body, idempotency_key="k-13")
        await inject(admin, fail_next=1, status=503)
        with pytest.raises(SmsGatewayUnavailable):
            await sms.send(to=PHONE, body=secret_body, idempotency_key="k-14")

    assert len(logs) == 3
    text = repr(logs)
    for personal in (PHONE, PHONE[1:], UNREACHABLE, secret_body, "Zhang"):
        assert personal not in text


async def test_restart_keeps_idempotency(tmp_path: Path) -> None:
    async with (run_sms_sandbox(tmp_path) as url,
                SmsGatewayClient.open(SmsGatewaySettings(url=url)) as sms):
        first = await sms.send(to=PHONE, body="hello", idempotency_key="k-restart")

    async with run_sms_sandbox(tmp_path) as url:
        async with SmsGatewayClient.open(SmsGatewaySettings(url=url)) as sms:
            again = await sms.send(to=PHONE, body="hello", idempotency_key="k-restart")
            with pytest.raises(SmsRejected) as caught:
                await sms.send(to=PHONE, body="changed", idempotency_key="k-restart")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as admin:
            stored = await messages(admin)

    assert again.replayed
    assert again.message_id == first.message_id
    assert caught.value.status_code == 409
    assert [m["message_id"] for m in stored] == [first.message_id]


# --- delivery receipts --------------------------------------------------------------------

async def settled_message(admin: httpx.AsyncClient, message_id: str,
                          timeout: float = 15.0) -> dict[str, Any]:
    """The stored message once its receipt is no longer pending."""
    deadline = time.monotonic() + timeout
    while True:
        response = await admin.get(f"/v1/messages/{message_id}")
        response.raise_for_status()
        message: dict[str, Any] = response.json()
        if message["receipt_status"] != "pending" or time.monotonic() > deadline:
            return message
        await asyncio.sleep(0.05)


async def test_receipt_delivered_with_valid_signature(sms: SmsGatewayClient,
                                                      admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver() as receiver:
        receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-r1",
                                 reference="case-r1", callback_url=receiver.url)
        [pending] = await messages(admin)
        [hook] = await receiver.wait_for(1)
        replay = await sms.send(to=PHONE, body="hello", idempotency_key="k-r1",
                                reference="case-r1", callback_url=receiver.url)
        stored = await settled_message(admin, receipt.message_id)
        await asyncio.sleep(0.5)  # a replay must not send a second receipt
        assert len(receiver.received) == 1

    assert replay.replayed
    assert pending["receipt_status"] in ("pending", "delivered")
    payload = hook.json()
    assert payload == {"message_id": receipt.message_id, "reference": "case-r1",
                       "idempotency_key": "k-r1", "status": "delivered", "error": None,
                       "delivered_at": payload["delivered_at"]}
    assert payload["delivered_at"].endswith("Z")
    assert payload["delivered_at"] > stored["accepted_at"]
    assert hook.headers["content-type"] == "application/json"
    signature = hook.headers["x-callback-signature"]
    assert signature.startswith("sha256=")
    assert verify_receipt_signature(hook.body, signature, SANDBOX_API_KEY)
    assert verify_receipt_signature(hook.body, signature, SecretStr(SANDBOX_API_KEY))
    assert verify_receipt_signature(hook.body, signature.upper().replace("SHA256", "sha256"),
                                    SANDBOX_API_KEY)
    tampered = hook.body.replace(b'"delivered"', b'"failed"')
    assert tampered != hook.body
    assert not verify_receipt_signature(tampered, signature, SANDBOX_API_KEY)
    assert not verify_receipt_signature(hook.body, signature, "another-key")
    assert not verify_receipt_signature(hook.body, None, SANDBOX_API_KEY)
    assert not verify_receipt_signature(hook.body, "sha256=", SANDBOX_API_KEY)
    assert not verify_receipt_signature(hook.body, "sha256=é", SANDBOX_API_KEY)
    with pytest.raises(ValueError, match="API key"):
        verify_receipt_signature(hook.body, signature, "")
    assert (stored["delivery_status"], stored["delivered_at"]) == (
        "delivered", payload["delivered_at"])
    assert (stored["receipt_status"], stored["receipt_attempts"]) == ("delivered", 1)


async def test_undeliverable_number_gets_failed_receipt(sms: SmsGatewayClient,
                                                        admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver() as receiver:
        receipt = await sms.send(to=UNDELIVERABLE, body="hello", idempotency_key="k-r2",
                                 callback_url=receiver.url)
        [hook] = await receiver.wait_for(1)
        stored = await settled_message(admin, receipt.message_id)

    assert not receipt.replayed  # accepted: the failure only shows in the receipt
    assert hook.json() == {"message_id": receipt.message_id, "reference": None,
                           "idempotency_key": "k-r2", "status": "failed",
                           "error": "undeliverable", "delivered_at": None}
    assert verify_receipt_signature(hook.body, hook.headers["x-callback-signature"],
                                    SANDBOX_API_KEY)
    assert stored["delivery_status"] == "failed"
    assert stored["delivered_at"] is None
    assert (stored["receipt_status"], stored["receipt_attempts"]) == ("delivered", 1)


async def test_receipt_retried_on_503(sms: SmsGatewayClient, admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver(answers=[503, 503]) as receiver:
        receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-r3",
                                 callback_url=receiver.url)
        hooks = await receiver.wait_for(3)
        stored = await settled_message(admin, receipt.message_id)

    assert [h.status for h in hooks] == [503, 503, 200]
    assert len({h.body for h in hooks}) == 1  # the very same receipt each time
    assert len({h.headers["x-callback-signature"] for h in hooks}) == 1
    assert hooks[0].json()["message_id"] == receipt.message_id
    assert (stored["receipt_status"], stored["receipt_attempts"]) == ("delivered", 3)


async def test_receipt_not_retried_on_4xx(sms: SmsGatewayClient,
                                          admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver(answers=[404]) as receiver:
        receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-r4",
                                 callback_url=receiver.url)
        await receiver.wait_for(1)
        stored = await settled_message(admin, receipt.message_id)
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 1

    assert (stored["receipt_status"], stored["receipt_attempts"]) == ("failed", 1)


async def test_receipt_fields_without_or_with_bad_callback(sms: SmsGatewayClient,
                                                           admin: httpx.AsyncClient) -> None:
    plain = await sms.send(to=PHONE, body="hello", idempotency_key="k-r5")
    bad = await sms.send(to=PHONE, body="hello", idempotency_key="k-r6",
                         callback_url="ftp://example.invalid/hook")
    stored_bad = await settled_message(admin, bad.message_id)
    stored_plain = (await admin.get(f"/v1/messages/{plain.message_id}")).json()

    assert (stored_plain["receipt_status"], stored_plain["delivery_status"]) == (None, None)
    assert (stored_bad["receipt_status"], stored_bad["receipt_attempts"]) == ("failed", 0)


async def test_restart_resumes_pending_receipt(tmp_path: Path) -> None:
    """A receipt still pending when the gateway stops is sent once it is back."""
    async with run_callback_receiver(answers=[503] * 3) as receiver:
        async with (run_sms_sandbox(tmp_path) as url,
                    SmsGatewayClient.open(SmsGatewaySettings(url=url)) as sms):
            receipt = await sms.send(to=PHONE, body="hello", idempotency_key="k-r7",
                                     callback_url=receiver.url)
            first = await receiver.wait_for(1)
        assert first[0].status == 503
        async with (run_sms_sandbox(tmp_path) as url,
                    httpx.AsyncClient(base_url=url, trust_env=False) as admin):
            hooks = await receiver.wait_for(4, timeout=30)
            stored = await settled_message(admin, receipt.message_id)

    assert hooks[-1].status == 200
    assert len({h.body for h in hooks}) == 1
    assert stored["receipt_status"] == "delivered"
    # Attempts before the stop were counted in the store (one may be cut off by the stop).
    assert len(receiver.received) - 1 <= stored["receipt_attempts"] <= len(receiver.received)
