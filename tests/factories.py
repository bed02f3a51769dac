"""Core-banking events for tests, as core banking would send them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from domain.events import (
    HardshipFlagged,
    InstalmentMissed,
    LoanClosed,
    PaymentReceived,
    event_adapter,
)


def new_loan_id() -> str:
    return f"L{uuid.uuid4().hex[:12].upper()}"


def missed_event(loan_id: str, due: date, amount: str, at: datetime, *, number: int = 7,
                 event_id: str | None = None, locale: str = "zh-CN",
                 phone: str = "+8613800138000", sms_consent: bool = True,
                 email: str | None = "wang.xiaoming@example.cn", timezone: str | None = None,
                 birth_year: int | None = None, preferred_channel: str | None = None,
                 email_consent: bool = True, phone_consent: bool = True) -> InstalmentMissed:
    payload = {
        "type": "instalment.missed",
        "event_id": event_id or f"evt-{uuid.uuid4().hex}",
        "occurred_at": at.isoformat(),
        "loan": {"loan_id": loan_id, "product": "personal-instalment", "branch": "WH-001",
                 "currency": "CNY", "principal_outstanding": "36000.00",
                 "annual_rate": "0.0435", "instalment_amount": amount,
                 "remaining_instalments": 18},
        "customer": {"customer_id": f"C-{loan_id}", "name": "王小明", "phone": phone,
                     "locale": locale, "sms_consent": sms_consent, "email": email,
                     "timezone": timezone, "birth_year": birth_year,
                     "preferred_channel": preferred_channel, "email_consent": email_consent,
                     "phone_consent": phone_consent},
        "instalment": {"number": number, "due_date": due.isoformat(), "amount_due": amount},
    }
    event = event_adapter.validate_python(payload)
    assert isinstance(event, InstalmentMissed)
    return event


def payment_event(loan_id: str, amount: str, at: datetime,
                  event_id: str | None = None) -> PaymentReceived:
    return PaymentReceived(type="payment.received", event_id=event_id or f"evt-{uuid.uuid4().hex}",
                           occurred_at=at, loan_id=loan_id, amount=Decimal(amount),
                           value_date=at.date())


def hardship_event(loan_id: str, at: datetime, kind: str = "illness") -> HardshipFlagged:
    return HardshipFlagged(type="hardship.flagged", event_id=f"evt-{uuid.uuid4().hex}",
                           occurred_at=at, loan_id=loan_id, kind=kind)  # type: ignore[arg-type]


def closed_event(loan_id: str, at: datetime) -> LoanClosed:
    return LoanClosed(type="loan.closed", event_id=f"evt-{uuid.uuid4().hex}", occurred_at=at,
                      loan_id=loan_id, reason="written_off")
