"""A local SMTP server that keeps every message it accepts, with an HTTP API to read them.

Run it with ``python -m sandbox.smtp_sink --smtp-port 8026 --http-port 8027 --store
.data/smtp-sink.jsonl``. SMTP (aiosmtpd) and HTTP (FastAPI on uvicorn) share one process
and one event loop; the SMTP listener is opened in the app's lifespan, so ``/healthz``
answers only once both ports are bound.

SMTP (what :class:`overdue.clients.email.EmailClient` talks to): plain SMTP/ESMTP with
8BITMIME and SMTPUTF8, no TLS, no AUTH. Every recipient of a message gets its own stored
copy (a mailbox delivery). Recipients are refused at ``RCPT`` by their local part:

* starting with ``bounce`` (e.g. ``bounce@example.com``): ``550 5.1.1`` user unknown;
* starting with ``tempfail``: ``451 4.3.0`` try again later.

Like real servers, these answers echo the address (the client must redact it).

Deduplication by ``Message-ID``: a message whose ``Message-ID`` is already stored for a
recipient is answered ``250`` as usual but not stored again (counted as ``replayed``).
Real mailbox providers (large webmail providers in particular) and many relays silently
drop a second copy of a ``Message-ID`` a mailbox already holds; the collections service
relies on that: it derives a stable ``Message-ID`` from the idempotency key of each
(loan, step), so resending after a timeout or a lost ``250`` never shows the customer the
reminder twice. A message without ``Message-ID`` gets one (``<uuid@smtp-sink.local>``)
and is never a duplicate.

HTTP API:

``GET /v1/messages?to=&reference=``
    Stored messages, oldest first: ``message_id``, ``to`` (envelope recipient), ``from``
    (decoded ``From`` header), ``subject`` (decoded), ``text`` (the decoded
    ``text/plain`` body, ``null`` if none), ``html`` (``true`` if there is a ``text/html``
    part), ``reference`` (``X-Overdue-Reference``), ``list_unsubscribe``, ``received_at``
    (ISO 8601 UTC, ``Z``). Filters compare exactly (``to`` case-insensitively).

``GET /v1/stats``
    ``{"accepted": n, "replayed": n, "rejected": n}``: stored messages, duplicate
    deliveries absorbed, and ``RCPT`` refusals (bounce/tempfail) of this process.
    Injected faults are counted in none of them.

``POST /_sandbox/faults``
    ``{"fail_next": n, "code": 451, "after_accept": false, "delay_seconds": 0}``: the
    next ``n`` messages are answered at ``DATA`` with ``code`` (400-599) and not stored.
    With ``after_accept`` the message is stored (or deduplicated) first and *then* answered
    with ``code``: "delivered, but the answer was lost". ``delay_seconds`` sleeps before
    answering; ``"code": null`` only delays and then answers normally. Each call replaces
    the previous plan; ``fail_next: 0`` clears it.

``DELETE /_sandbox/messages``
    Forgets every message, counter and fault, and truncates the store.

``GET /healthz``
    ``{"status": "ok"}``.

Persistence: with a store path every stored message is appended as one JSON line (and
fsynced); the file is loaded at start, so a restarted sink still deduplicates old
``Message-ID``\\ s. Neither addresses nor bodies are logged (no access log either: the
query string may hold an address).
"""

from __future__ import annotations

import argparse
import asyncio
import email.policy
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from pydantic import Field

from sandbox.common import (
    FaultCountdown,
    append_jsonl,
    read_jsonl,
    truncate_jsonl,
    utc_now_iso,
)

DEFAULT_SMTP_PORT = 8026
DEFAULT_HTTP_PORT = 8027
SERVER_HOSTNAME = "smtp-sink.local"
BOUNCE_PREFIX = "bounce"
TEMPFAIL_PREFIX = "tempfail"


class FaultPlan(FaultCountdown):
    code: int | None = Field(default=451, ge=400, le=599)
    after_accept: bool = False
    delay_seconds: float = Field(default=0.0, ge=0, le=300)


@dataclass(slots=True)
class StoredMail:
    message_id: str
    to: str
    sender: str | None
    subject: str | None
    text: str | None
    html: bool
    reference: str | None
    list_unsubscribe: str | None
    received_at: str

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        sender = data.pop("sender")
        return {"message_id": data.pop("message_id"), "to": data.pop("to"),
                "from": sender, **data}

    @classmethod
    def from_public(cls, data: dict[str, Any]) -> StoredMail:
        data = dict(data)
        data["sender"] = data.pop("from")
        return cls(**data)


@dataclass(slots=True)
class MailStore:
    """Everything the sink knows; used from the one event loop only, so no locks."""

    store_path: Path | None
    messages: list[StoredMail] = field(default_factory=list)
    keys: set[tuple[str, str]] = field(default_factory=set)
    replayed: int = 0
    rejected: int = 0
    faults: FaultPlan = field(default_factory=FaultPlan)

    def load(self) -> None:
        for mail in read_jsonl(self.store_path, StoredMail.from_public, name="smtp sink"):
            self._remember(mail)

    @staticmethod
    def _key(message_id: str, to: str) -> tuple[str, str]:
        return message_id, to.lower()

    def _remember(self, mail: StoredMail) -> None:
        self.messages.append(mail)
        self.keys.add(self._key(mail.message_id, mail.to))

    def knows(self, message_id: str, to: str) -> bool:
        return self._key(message_id, to) in self.keys

    def add(self, mail: StoredMail) -> None:
        append_jsonl(self.store_path, mail.public())
        self._remember(mail)

    def reset(self) -> None:
        self.messages.clear()
        self.keys.clear()
        self.replayed = 0
        self.rejected = 0
        self.faults = FaultPlan()
        truncate_jsonl(self.store_path)


def _header(message: EmailMessage, name: str) -> str | None:
    value = message.get(name)
    return None if value is None else str(value).strip()


def _plain_text(message: EmailMessage) -> str | None:
    part = message.get_body(preferencelist=("plain",))
    if not isinstance(part, EmailMessage):
        return None
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset, undecodable payload
        return None
    return content if isinstance(content, str) else None


def _fault_answer(code: int) -> str:
    enhanced = "4.3.0" if code < 500 else "5.3.0"
    return f"{code} {enhanced} Fault injected by the sandbox"


class SinkHandler:
    """aiosmtpd hooks: refuse ``bounce*``/``tempfail*`` at RCPT, store at DATA."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        local = address.rpartition("@")[0].lower()
        if local.startswith(BOUNCE_PREFIX):
            self.store.rejected += 1
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith(TEMPFAIL_PREFIX):
            self.store.rejected += 1
            return f"451 4.3.0 <{address}>: Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.store.faults.take()
        if fault is not None:
            await asyncio.sleep(fault.delay_seconds)
            if fault.code is not None and not fault.after_accept:
                return _fault_answer(fault.code)
        answer = self._deliver(envelope)
        if fault is not None and fault.code is not None:
            return _fault_answer(fault.code)  # delivered, but the answer is lost
        return answer

    def _deliver(self, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        parsed = BytesParser(policy=email.policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        message_id = _header(parsed, "Message-ID") or f"<{uuid.uuid4().hex}@{SERVER_HOSTNAME}>"
        received_at = utc_now_iso()
        text = _plain_text(parsed)
        html = parsed.get_body(preferencelist=("html",)) is not None
        for to in envelope.rcpt_tos:
            if self.store.knows(message_id, to):
                self.store.replayed += 1
                continue
            self.store.add(StoredMail(
                message_id=message_id, to=to, sender=_header(parsed, "From"),
                subject=_header(parsed, "Subject"), text=text, html=html,
                reference=_header(parsed, "X-Overdue-Reference"),
                list_unsubscribe=_header(parsed, "List-Unsubscribe"),
                received_at=received_at))
        return f"250 2.0.0 Ok: queued as {uuid.uuid4().hex[:12].upper()}"


async def start_smtp(store: MailStore, host: str, port: int) -> asyncio.Server:
    """Listen for SMTP on ``host:port`` in the running loop."""
    loop = asyncio.get_running_loop()
    handler = SinkHandler(store)

    def protocol() -> SMTP:
        return SMTP(handler, hostname=SERVER_HOSTNAME, enable_SMTPUTF8=True, loop=loop)

    return await loop.create_server(protocol, host=host, port=port)


def create_app(store: MailStore, smtp_bind: tuple[str, int] | None = None) -> FastAPI:
    """The HTTP API over ``store``; with ``smtp_bind`` its lifespan also serves SMTP."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if smtp_bind is None:
            yield
            return
        server = await start_smtp(store, *smtp_bind)
        try:
            yield
        finally:
            server.close()
            await server.wait_closed()

    app = FastAPI(title="SMTP sink sandbox", version="1.0.0", lifespan=lifespan)

    @app.get("/v1/messages")
    async def list_messages(to: str | None = None,
                            reference: str | None = None) -> list[dict[str, Any]]:
        wanted_to = to.strip().lower() if to is not None else None
        return [m.public() for m in store.messages
                if (wanted_to is None or m.to.lower() == wanted_to)
                and (reference is None or m.reference == reference)]

    @app.get("/v1/stats")
    async def stats() -> dict[str, int]:
        return {"accepted": len(store.messages), "replayed": store.replayed,
                "rejected": store.rejected}

    @app.post("/_sandbox/faults")
    async def set_faults(plan: FaultPlan) -> FaultPlan:
        store.faults = plan
        return plan

    @app.delete("/_sandbox/messages")
    async def clear() -> dict[str, int]:
        removed = len(store.messages)
        store.reset()
        return {"removed": removed}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(host: str, smtp_port: int, http_port: int, store_path: Path | None) -> None:
    """Serve SMTP and the HTTP API until interrupted (SIGINT/SIGTERM)."""
    # aiosmtpd logs recipients at INFO on "mail.log"; keep addresses out of any log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    store = MailStore(store_path=store_path)
    store.load()
    app = create_app(store, smtp_bind=(host, smtp_port))
    uvicorn.run(app, host=host, port=http_port, log_level="info", access_log=False,
                lifespan="on", timeout_graceful_shutdown=5)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.smtp_sink",
                                     description="Local SMTP sink with an HTTP API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=DEFAULT_SMTP_PORT)
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    parser.add_argument("--store", type=Path, default=None,
                        help="JSON-lines file of stored messages (kept across restarts)")
    args = parser.parse_args(argv)
    run(args.host, args.smtp_port, args.http_port, args.store)


if __name__ == "__main__":
    main()
