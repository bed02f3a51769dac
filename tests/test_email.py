"""The e-mail client against the SMTP sink running as a real process (aiosmtpd + uvicorn)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from overdue.clients.email import (
    EmailClient,
    EmailReceipt,
    EmailRejected,
    EmailUnavailable,
    SmtpSettings,
    message_id_for,
)
from tests.servers import free_port
from tests.smtp_server import run_smtp_sink

TO = "li.lei@example.com"
BOUNCE = "bounce.wang@example.com"
TEMPFAIL = "tempfail.zhao@example.com"
SUBJECT = "逾期提醒：您的贷款第 3 期已逾期"
TEXT = "李雷先生，您好：\n您尾号 0042 的贷款已逾期 5 天，应还 1,234.56 元。\n招聚银行"
HTML = "<p>李雷先生，您好：</p><p>您的贷款已逾期 5 天。</p>"
UNSUBSCRIBE = "<mailto:unsubscribe@cjbank.example?subject=loan-1>"


@pytest.fixture(scope="module")
async def sink(tmp_path_factory: pytest.TempPathFactory,
               ) -> AsyncIterator[tuple[SmtpSettings, str]]:
    async with run_smtp_sink(tmp_path_factory.mktemp("smtp")) as running:
        yield running


@pytest.fixture
async def admin(sink: tuple[SmtpSettings, str]) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP access to the sink, reset before each test."""
    async with httpx.AsyncClient(base_url=sink[1], trust_env=False, timeout=5) as http:
        (await http.delete("/_sandbox/messages")).raise_for_status()
        yield http


@pytest.fixture
def mail(sink: tuple[SmtpSettings, str], admin: httpx.AsyncClient) -> EmailClient:
    return EmailClient(sink[0])


async def messages(admin: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await admin.get("/v1/messages", params=params)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def stats(admin: httpx.AsyncClient) -> dict[str, int]:
    response = await admin.get("/v1/stats")
    response.raise_for_status()
    result: dict[str, int] = response.json()
    return result


async def inject(admin: httpx.AsyncClient, **fault: Any) -> None:
    (await admin.post("/_sandbox/faults", json=fault)).raise_for_status()


async def send(mail: EmailClient, key: str, to: str = TO, **kwargs: Any) -> EmailReceipt:
    return await mail.send(to=to, subject=kwargs.pop("subject", SUBJECT),
                           text=kwargs.pop("text", TEXT), html=kwargs.pop("html", None),
                           idempotency_key=key, **kwargs)


async def test_send_ok(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    receipt = await send(mail, "loan-1:step-3", html=HTML, reference="loan-1/3",
                         list_unsubscribe=UNSUBSCRIBE)

    assert receipt == EmailReceipt(message_id=message_id_for("loan-1:step-3"))
    [stored] = await messages(admin)
    assert stored["message_id"] == receipt.message_id
    assert stored["to"] == TO
    assert stored["from"] == "催收提醒 <reminders@cjbank.example>"
    assert stored["subject"] == SUBJECT
    assert stored["text"].rstrip("\n") == TEXT
    assert stored["html"] is True
    assert stored["reference"] == "loan-1/3"
    assert stored["list_unsubscribe"] == UNSUBSCRIBE
    assert stored["received_at"].endswith("Z")
    assert await messages(admin, reference="loan-1/3") == [stored]
    assert await messages(admin, to=TO.upper()) == [stored]
    assert await messages(admin, reference="other") == []
    assert await stats(admin) == {"accepted": 1, "replayed": 0, "rejected": 0}


async def test_plain_text_only(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    await send(mail, "k-plain", list_unsubscribe="https://cjbank.example/u/1")
    [stored] = await messages(admin)
    assert stored["html"] is False
    assert stored["text"].rstrip("\n") == TEXT
    assert stored["reference"] is None
    assert stored["list_unsubscribe"] == "<https://cjbank.example/u/1>"


def test_message_id_is_deterministic() -> None:
    first, again = message_id_for("loan-7:step-1"), message_id_for("loan-7:step-1")
    assert first == again != message_id_for("loan-7:step-2")
    assert first.startswith("<") and first.endswith("@overdue.cjbank.example>")
    assert len(first.split("@")[0]) == 33


def test_compose() -> None:
    client = EmailClient(SmtpSettings(reply_to="Collections <help@cjbank.example>"))
    message = client.compose(to=TO, subject=SUBJECT, text=TEXT, html=HTML,
                             idempotency_key="k-compose", reference="loan-1",
                             list_unsubscribe=UNSUBSCRIBE)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert message["Message-ID"] == message_id_for("k-compose")
    assert message["X-Overdue-Reference"] == "loan-1"
    assert message["Reply-To"] == "Collections <help@cjbank.example>"
    assert message["Date"]
    assert message.as_bytes().isascii()  # 7-bit safe whatever the server offers

    with pytest.raises(ValueError, match="subject"):
        client.compose(to=TO, subject="a\nBcc: x@example.com", text="t", html=None,
                       idempotency_key="k")
    with pytest.raises(ValueError, match="reference"):
        client.compose(to=TO, subject="s", text="t", html=None, idempotency_key="k",
                       reference="x\r\nBcc: x@example.com")
    with pytest.raises(ValueError, match="idempotency_key"):
        client.compose(to=TO, subject="s", text="t", html=None, idempotency_key=" ")


def test_settings_validation() -> None:
    with pytest.raises(ValidationError):
        SmtpSettings(use_tls=True, start_tls=True)
    with pytest.raises(ValidationError):
        SmtpSettings(sender="no address here")
    assert SmtpSettings().port == 8026


async def test_same_key_twice_is_stored_once(mail: EmailClient,
                                             admin: httpx.AsyncClient) -> None:
    first = await send(mail, "loan-2:step-1")
    again = await send(mail, "loan-2:step-1")

    assert first == again
    assert len(await messages(admin)) == 1
    assert await stats(admin) == {"accepted": 1, "replayed": 1, "rejected": 0}


async def test_bounce_is_rejected(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    with pytest.raises(EmailRejected) as caught:
        await send(mail, "k-bounce", to=BOUNCE)

    assert caught.value.code == 550
    assert "5.1.1" in caught.value.message
    assert "bounce" not in str(caught.value).lower()
    assert await messages(admin) == []
    assert await stats(admin) == {"accepted": 0, "replayed": 0, "rejected": 1}


async def test_tempfail_is_unavailable(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    with pytest.raises(EmailUnavailable) as caught:
        await send(mail, "k-tempfail", to=TEMPFAIL)

    assert caught.value.code == 451
    assert "tempfail" not in str(caught.value).lower()
    assert await messages(admin) == []


async def test_fault_then_retry_stores_once(mail: EmailClient,
                                            admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, code=451)
    with pytest.raises(EmailUnavailable) as caught:
        await send(mail, "loan-3:step-1")
    assert caught.value.code == 451
    assert await messages(admin) == []

    receipt = await send(mail, "loan-3:step-1")

    assert [m["message_id"] for m in await messages(admin)] == [receipt.message_id]
    assert await stats(admin) == {"accepted": 1, "replayed": 0, "rejected": 0}


async def test_lost_answer_then_retry_is_deduplicated(mail: EmailClient,
                                                      admin: httpx.AsyncClient) -> None:
    """Delivered, but the 250 never arrived: the retry carries the same Message-ID."""
    await inject(admin, fail_next=1, code=421, after_accept=True)
    with pytest.raises(EmailUnavailable):
        await send(mail, "loan-4:step-2")
    assert len(await messages(admin)) == 1

    await send(mail, "loan-4:step-2")

    assert len(await messages(admin)) == 1
    assert await stats(admin) == {"accepted": 1, "replayed": 1, "rejected": 0}


async def test_permanent_fault_at_data(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, code=554)
    with pytest.raises(EmailRejected) as caught:
        await send(mail, "k-554")
    assert caught.value.code == 554
    assert await messages(admin) == []


async def test_sink_down_is_unavailable() -> None:
    mail = EmailClient(SmtpSettings(port=free_port(), timeout_seconds=2))
    with pytest.raises(EmailUnavailable) as caught:
        await send(mail, "k-down")
    assert caught.value.code is None


async def test_silent_server_times_out() -> None:
    """A server that accepts the connection but never greets."""
    connections: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        mail = EmailClient(SmtpSettings(port=port, timeout_seconds=0.3))
        with pytest.raises(EmailUnavailable, match="timeout"):
            await send(mail, "k-silent")
    finally:
        server.close()
        for writer in connections:
            writer.close()
        await server.wait_closed()


async def test_start_tls_not_offered_is_unavailable(sink: tuple[SmtpSettings, str],
                                                    admin: httpx.AsyncClient) -> None:
    """A configuration problem of ours must not look like a bad customer address."""
    mail = EmailClient(sink[0].model_copy(update={"start_tls": True}))
    with pytest.raises(EmailUnavailable):
        await send(mail, "k-tls")
    assert await messages(admin) == []


@pytest.mark.parametrize("address", [
    "", "li.lei", "li.lei@", "@example.com", "li lei@example.com", "li.lei@example",
    "li..lei@example.com", ".lei@example.com", "li.lei@-example.com",
    "li.lei@example.com\r\nRCPT TO:<x@example.com>", "<li.lei@example.com>",
    "李雷@example.com", "a,b@example.com", "x" * 65 + "@example.com",
])
async def test_invalid_address_is_rejected_without_connecting(address: str) -> None:
    # Nothing listens on this port: connecting would raise EmailUnavailable instead.
    mail = EmailClient(SmtpSettings(port=free_port(), timeout_seconds=1))
    with pytest.raises(EmailRejected) as caught:
        await send(mail, "k-invalid", to=address)
    assert caught.value.code == 553


async def test_restart_keeps_deduplication(tmp_path: Path) -> None:
    async with run_smtp_sink(tmp_path) as (smtp, _url):
        first = await send(EmailClient(smtp), "loan-5:step-1")

    async with run_smtp_sink(tmp_path) as (smtp, url):
        again = await send(EmailClient(smtp), "loan-5:step-1")
        async with httpx.AsyncClient(base_url=url, trust_env=False) as admin:
            stored = await messages(admin)
            counts = await stats(admin)

    assert again == first
    assert [m["message_id"] for m in stored] == [first.message_id]
    assert stored[0]["subject"] == SUBJECT
    assert counts == {"accepted": 1, "replayed": 1, "rejected": 0}


async def test_no_personal_data_in_logs(mail: EmailClient, admin: httpx.AsyncClient) -> None:
    errors: list[Exception] = []
    with capture_logs() as logs:
        await send(mail, "k-log-1", html=HTML)
        for to in (BOUNCE, TEMPFAIL, "li.lei@@example.com"):
            with pytest.raises((EmailRejected, EmailUnavailable)) as caught:
                await send(mail, "k-log-2", to=to)
            errors.append(caught.value)
        await inject(admin, fail_next=1, code=452)
        with pytest.raises(EmailUnavailable) as unavailable:
            await send(mail, "k-log-3")
        errors.append(unavailable.value)

    assert len(logs) == 5
    text = repr(logs) + repr([(str(e), vars(e)) for e in errors])
    for personal in (TO, BOUNCE, TEMPFAIL, "li.lei", "bounce.wang", "tempfail.zhao",
                     TEXT, SUBJECT, "李雷", "1,234.56"):
        assert personal not in text
