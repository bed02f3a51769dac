"""SMTP client for reminder e-mails (see :mod:`sandbox.smtp_sink` for the local server).

SMTP has no idempotency key, so the key is turned into a deterministic ``Message-ID``
(:func:`message_id_for`): a retried send carries the same ``Message-ID`` as the first
attempt. Mailbox providers and relays drop a second delivery of a ``Message-ID`` they
already hold, which is what makes "the answer was lost, send again" safe; callers must
therefore derive the key from something stable such as (loan, step).

Errors split by what the caller should do:

* :class:`EmailRejected`: permanent, do not retry. A 5xx answer to ``RCPT`` or ``DATA``
  (e.g. 550 mailbox unavailable, 554 transaction failed) or an address that fails the
  local syntax check (code 553, raised before connecting).
* :class:`EmailUnavailable`: transient, retry with the *same* idempotency key. Connection
  refused or dropped, timeouts, TLS problems and any 4xx answer (421, 450, 451, 452).
  Failures that are ours rather than the recipient's (greeting/EHLO, AUTH, ``MAIL FROM``
  refused, STARTTLS unsupported) are also transient: they need an operator, not a
  different address, and must not mark the customer's address as bad.

Addresses, subjects and bodies are never logged nor put into exception messages; server
answers are sanitised (addresses and the recipient's local part are redacted) first.
"""

from __future__ import annotations

import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Self

import aiosmtplib
import structlog
from pydantic import BaseModel, Field, SecretStr, model_validator
from structlog.typing import FilteringBoundLogger

log = structlog.get_logger(__name__)

MESSAGE_ID_DOMAIN = "overdue.cjbank.example"
INVALID_ADDRESS_CODE = 553

# Deliberately simple: ASCII dot-atom local part, a dotted hostname. Anything unusual
# (quoted local parts, IP literals, non-ASCII) is refused rather than sent.
_LOCAL_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(
    rf"^{_LOCAL_ATOM}(?:\.{_LOCAL_ATOM})*@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*\.[A-Za-z]{{2,63}}$")
_MAX_ADDRESS_CHARS = 254
_MAX_LOCAL_CHARS = 64

_ADDRESS_LIKE = re.compile(r"<[^<>]*>|[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
_REDACTED = "<redacted>"
_MAX_SERVER_TEXT = 200

# 7-bit transfer encodings (quoted-printable/base64) whatever the server offers.
_POLICY = email.policy.default.clone(cte_type="7bit")


class SmtpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8026, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    use_tls: bool = False
    """Implicit TLS from the first byte (usually port 465)."""
    start_tls: bool = False
    """Upgrade with STARTTLS after connecting (usually port 587); fails if not offered."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    sender: str = "催收提醒 <reminders@cjbank.example>"
    reply_to: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.use_tls and self.start_tls:
            raise ValueError("use_tls and start_tls are mutually exclusive")
        if not is_valid_address(email.utils.parseaddr(self.sender)[1]):
            raise ValueError("sender must contain a valid address")
        if self.reply_to is not None and not is_valid_address(
                email.utils.parseaddr(self.reply_to)[1]):
            raise ValueError("reply_to must contain a valid address")
        return self


@dataclass(frozen=True, slots=True)
class EmailReceipt:
    message_id: str


class EmailRejected(Exception):
    """The server refused the message for good (5xx), or the address is malformed (553)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"e-mail rejected: SMTP {code} {message}".rstrip())
        self.code = code
        self.message = message  # sanitised: no addresses


class EmailUnavailable(Exception):
    """The server could not be reached or answered with a transient error."""

    def __init__(self, reason: str, *, code: int | None = None) -> None:
        super().__init__(f"e-mail server unavailable: {reason}")
        self.reason = reason
        self.code = code


def is_valid_address(address: str) -> bool:
    """A plain ``local@domain.tld`` address we are willing to put on an SMTP line."""
    if len(address) > _MAX_ADDRESS_CHARS or not _ADDRESS.fullmatch(address):
        return False
    return len(address.rpartition("@")[0]) <= _MAX_LOCAL_CHARS


def message_id_for(idempotency_key: str) -> str:
    """``<sha256(key)[:32]@overdue.cjbank.example>``: the same key, the same Message-ID."""
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def sanitize_server_text(text: str, recipient: str | None = None) -> str:
    """A server answer made safe to log: no addresses, no control characters, short."""
    text = _ADDRESS_LIKE.sub(_REDACTED, text)
    if recipient:
        for part in (recipient, recipient.rpartition("@")[0]):
            if len(part) >= 3:
                text = re.sub(re.escape(part), _REDACTED, text, flags=re.IGNORECASE)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_SERVER_TEXT else text[:_MAX_SERVER_TEXT - 3] + "..."


def _check_idempotency_key(key: str) -> None:
    if not (key.strip() and key.isascii() and key.isprintable()):
        raise ValueError("idempotency_key must be non-empty printable ASCII")


def _check_header_value(name: str, value: str | None) -> None:
    if value is not None and (not value.strip() or not value.isprintable()):
        raise ValueError(f"{name} must be non-empty and printable (no line breaks)")


class EmailClient:
    """Sends one message per :meth:`send` over a fresh SMTP connection (aiosmtplib)."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings
        self._envelope_sender = email.utils.parseaddr(settings.sender)[1]

    def compose(self, *, to: str, subject: str, text: str, html: str | None,
                idempotency_key: str, reference: str | None = None,
                list_unsubscribe: str | None = None) -> EmailMessage:
        """The message :meth:`send` would send (``multipart/alternative`` with ``html``)."""
        _check_idempotency_key(idempotency_key)
        _check_header_value("reference", reference)
        _check_header_value("list_unsubscribe", list_unsubscribe)
        if not subject.isprintable():
            raise ValueError("subject must be printable (no line breaks)")

        message = EmailMessage(policy=_POLICY)
        message["From"] = self._settings.sender
        message["To"] = to
        if self._settings.reply_to is not None:
            message["Reply-To"] = self._settings.reply_to
        message["Subject"] = subject
        message["Date"] = email.utils.formatdate(usegmt=True)
        message["Message-ID"] = message_id_for(idempotency_key)
        if reference is not None:
            message["X-Overdue-Reference"] = reference
        if list_unsubscribe is not None:
            value = list_unsubscribe.strip()
            # RFC 2369: a list of <URI>; a bare URI is wrapped for convenience.
            message["List-Unsubscribe"] = value if value.startswith("<") else f"<{value}>"
        message.set_content(text, charset="utf-8")
        if html is not None:
            message.add_alternative(html, subtype="html", charset="utf-8")
        return message

    async def send(self, *, to: str, subject: str, text: str, html: str | None,
                   idempotency_key: str, reference: str | None = None,
                   list_unsubscribe: str | None = None) -> EmailReceipt:
        _check_idempotency_key(idempotency_key)
        message_id = message_id_for(idempotency_key)
        bound = log.bind(idempotency_key=idempotency_key, reference=reference,
                         message_id=message_id)
        if not is_valid_address(to):
            bound.warning("email rejected", code=INVALID_ADDRESS_CODE, stage="validate")
            raise EmailRejected(INVALID_ADDRESS_CODE, "5.1.3 invalid recipient address")
        message = self.compose(to=to, subject=subject, text=text, html=html,
                               idempotency_key=idempotency_key, reference=reference,
                               list_unsubscribe=list_unsubscribe)
        settings = self._settings
        password = settings.password.get_secret_value() if settings.password else None
        try:
            await aiosmtplib.send(
                message, sender=self._envelope_sender, recipients=[to],
                hostname=settings.host, port=settings.port,
                username=settings.username, password=password,
                use_tls=settings.use_tls, start_tls=settings.start_tls,
                timeout=settings.timeout_seconds)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else 0
            answer = refused.message if refused is not None else ""
            raise self._answer(bound, "rcpt", code, answer, to) from exc
        except aiosmtplib.SMTPDataError as exc:
            raise self._answer(bound, "data", exc.code, exc.message, to) from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Greeting, EHLO, AUTH or MAIL FROM: our side's problem, not the address's.
            stage = type(exc).__name__
            detail = sanitize_server_text(exc.message, to)
            bound.warning("email server unavailable", stage=stage, code=exc.code,
                          server_message=detail)
            raise EmailUnavailable(f"{stage} {exc.code} {detail}".rstrip(),
                                   code=exc.code) from exc
        except aiosmtplib.SMTPTimeoutError as exc:
            bound.warning("email server timed out", error_type=type(exc).__name__)
            raise EmailUnavailable(f"timeout ({type(exc).__name__})") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Refused/dropped connections, TLS errors, STARTTLS not offered.
            bound.warning("email server unreachable", error_type=type(exc).__name__)
            raise EmailUnavailable(f"transport error ({type(exc).__name__})") from exc
        bound.info("email accepted")
        return EmailReceipt(message_id=message_id)

    @staticmethod
    def _answer(bound: FilteringBoundLogger, stage: str, code: int,
                server_text: str, to: str) -> EmailRejected | EmailUnavailable:
        detail = sanitize_server_text(server_text, to)
        if 500 <= code < 600:
            bound.warning("email rejected", stage=stage, code=code, server_message=detail)
            return EmailRejected(code, detail)
        bound.warning("email server unavailable", stage=stage, code=code,
                      server_message=detail)
        return EmailUnavailable(f"{stage} {code} {detail}".rstrip(), code=code)
