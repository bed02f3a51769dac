"""Core-banking events as the intake receives them (JSON schema at /v1/core-banking/events).

These carry personal data (the customer snapshot); only ``CaseEvent`` without it is
forwarded to the loan's workflow, so names and phone numbers never reach Temporal history.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

from domain.case import CaseEvent

EventId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$",
                               description="Core banking's unique id of this event")]
LoanId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                              description="Core banking's loan account number")]
Amount = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=2,
                                  description="Exact decimal amount, at most 2 places")]


class EventModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CustomerSnapshot(EventModel):
    customer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164 mobile number")
    email: str | None = Field(default=None, max_length=254,
                              pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    locale: str = Field(default="zh-CN", max_length=16,
                        pattern=r"^[A-Za-z]{2}([-_][A-Za-z]{2,4})?$")
    timezone: str | None = Field(default=None, max_length=64)
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    preferred_channel: Literal["sms", "email", "phone"] | None = None
    sms_consent: bool = True
    email_consent: bool = True
    phone_consent: bool = True


class LoanSnapshot(EventModel):
    loan_id: LoanId
    product: str = Field(min_length=1, max_length=64)
    branch: str = Field(min_length=1, max_length=64)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    principal_outstanding: Amount
    annual_rate: Decimal = Field(ge=0, le=1, max_digits=8, decimal_places=6,
                                 description="Contract annual rate as a fraction, e.g. 0.0435")
    instalment_amount: Amount
    remaining_instalments: int = Field(ge=0, le=1200)


class InstalmentDetail(EventModel):
    number: int = Field(ge=1, le=1200)
    due_date: date
    amount_due: Amount


class InstalmentMissed(EventModel):
    type: Literal["instalment.missed"]
    event_id: EventId
    occurred_at: AwareDatetime
    loan: LoanSnapshot
    customer: CustomerSnapshot
    instalment: InstalmentDetail

    @property
    def loan_id(self) -> str:
        return self.loan.loan_id

    def case_event(self) -> CaseEvent:
        return CaseEvent(event_id=self.event_id, type=self.type, occurred_at=self.occurred_at,
                         instalment_number=self.instalment.number,
                         due_date=self.instalment.due_date, amount=self.instalment.amount_due,
                         product=self.loan.product, branch=self.loan.branch,
                         currency=self.loan.currency)


class RepaymentRecord(EventModel):
    """How the loan has been repaid so far, as core banking keeps it: the early-warning
    model's inputs (``domain/early_warning.py``)."""

    late_instalments_12m: int = Field(default=0, ge=0, le=12,
                                      description="Instalments paid late in 12 months")
    max_days_past_due: int = Field(default=0, ge=0, le=36_500,
                                   description="Deepest days past due over the loan's life")
    last_delinquency_date: date | None = Field(
        default=None, description="Last day the loan was past due, if ever")
    monthly_income: Amount | None = Field(
        default=None, description="Customer's verified monthly income, for the debt-service "
                                  "ratio; absent when the bank does not know it")


class InstalmentDueSoon(EventModel):
    """An instalment falls due soon (core banking sends it a few days ahead). It opens no
    case: the loan's snapshot and repayment record are kept for the daily early-warning
    sweep, which may send the customer a courteous pre-due reminder."""

    type: Literal["instalment.due_soon"]
    event_id: EventId
    occurred_at: AwareDatetime
    loan: LoanSnapshot
    customer: CustomerSnapshot
    instalment: InstalmentDetail
    repayment: RepaymentRecord = Field(default_factory=RepaymentRecord)

    @property
    def loan_id(self) -> str:
        return self.loan.loan_id


class PaymentReceived(EventModel):
    type: Literal["payment.received"]
    event_id: EventId
    occurred_at: AwareDatetime
    loan_id: LoanId
    amount: Amount
    value_date: date
    channel: str | None = Field(default=None, max_length=32)

    def case_event(self) -> CaseEvent:
        return CaseEvent(event_id=self.event_id, type=self.type, occurred_at=self.occurred_at,
                         amount=self.amount, value_date=self.value_date)


class LoanClosed(EventModel):
    type: Literal["loan.closed"]
    event_id: EventId
    occurred_at: AwareDatetime
    loan_id: LoanId
    reason: Literal["repaid", "refinanced", "written_off", "transferred", "other"]

    def case_event(self) -> CaseEvent:
        return CaseEvent(event_id=self.event_id, type=self.type, occurred_at=self.occurred_at,
                         closure_reason=self.reason)


class HardshipFlagged(EventModel):
    """Core banking (or a branch system) reports special circumstances of the customer."""

    type: Literal["hardship.flagged"]
    event_id: EventId
    occurred_at: AwareDatetime
    loan_id: LoanId
    kind: Literal["illness", "unemployment", "disaster", "bereavement", "other"]

    def case_event(self) -> CaseEvent:
        return CaseEvent(event_id=self.event_id, type=self.type, occurred_at=self.occurred_at,
                         hardship_kind=self.kind)


CoreBankingEvent = Annotated[
    InstalmentMissed | InstalmentDueSoon | PaymentReceived | LoanClosed | HardshipFlagged,
    Field(discriminator="type"),
]


AnyEvent = InstalmentMissed | InstalmentDueSoon | PaymentReceived | LoanClosed | HardshipFlagged
EVENT_TYPES = ("instalment.missed", "instalment.due_soon", "payment.received", "loan.closed",
               "hardship.flagged")
CaseBoundEvent = InstalmentMissed | PaymentReceived | LoanClosed | HardshipFlagged
"""The events a loan's collections case receives (``instalment.due_soon`` opens none)."""

event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(CoreBankingEvent)
"""Validates one event from JSON, choosing the model by its ``type``."""


def loan_id_of(event: AnyEvent) -> str:
    return event.loan_id

