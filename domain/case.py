"""What flows in and out of a loan's workflow. No personal data: ids, dates and amounts only."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.arrears import ArrearsPosition, MissedInstalment, arrears_position
from domain.money import ZERO
from domain.policy import Policy

EventType = Literal["instalment.missed", "payment.received", "loan.closed"]
Stage = Literal["opened", "early", "closed"]
Outcome = Literal["cured", "loan_closed", "no_arrears"]

SIGNAL_CORE_BANKING_EVENT = "core_banking_event"
QUERY_STATE = "case_state"
WORKFLOW_TYPE = "LoanDelinquency"


def workflow_id_for(loan_id: str) -> str:
    return f"loan-{loan_id}"


class CaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CaseEvent(CaseModel):
    """A core-banking event as the loan's workflow sees it."""

    event_id: str
    type: EventType
    occurred_at: datetime
    instalment_number: int | None = None
    due_date: date | None = None
    value_date: date | None = None
    amount: Decimal | None = None
    product: str | None = None
    branch: str | None = None
    currency: str | None = None
    closure_reason: str | None = None


class InstalmentRecord(CaseModel):
    number: int
    due_date: date
    amount: Decimal


class ContactRecord(CaseModel):
    step: str
    channel: str
    idempotency_key: str
    status: str
    scheduled_for: datetime
    attempt_id: int | None = None


class CaseState(CaseModel):
    """The whole case; carried across continue-as-new."""

    loan_id: str
    case_ref: str | None = None
    """Stable key of this case (loan id + the event that opened it), for storage."""
    policy: Policy | None = None
    stage: Stage = "opened"
    outcome: Outcome | None = None
    product: str | None = None
    branch: str | None = None
    currency: str | None = None
    missed: list[InstalmentRecord] = Field(default_factory=list)
    paid_total: Decimal = ZERO
    seen_event_ids: list[str] = Field(default_factory=list)
    closure_reason: str | None = None
    contacts: list[ContactRecord] = Field(default_factory=list)
    completed_steps: list[str] = Field(default_factory=list)
    episode_due_date: date | None = None
    """Due date the current arrears episode started from; the ladder counts from it."""
    clock_anchor_real: datetime | None = None
    clock_anchor_case: datetime | None = None
    next_step: str | None = None
    next_step_at: datetime | None = None
    runs: int = 1

    def position(self) -> ArrearsPosition:
        return arrears_position(
            [MissedInstalment(m.number, m.due_date, m.amount) for m in self.missed],
            self.paid_total,
        )


class CaseInput(CaseModel):
    loan_id: str
    resume: CaseState | None = None


class CaseView(CaseModel):
    """The answer to the ``case_state`` query, for ops and officer tools."""

    loan_id: str
    stage: Stage
    outcome: Outcome | None
    policy_version: str | None
    arrears: Decimal
    unapplied_credit: Decimal
    days_past_due: int
    bucket: str | None
    oldest_unpaid_due_date: date | None
    missed_instalments: int
    paid_total: Decimal
    contacts: list[ContactRecord]
    next_step: str | None
    next_step_at: datetime | None
    case_time: datetime | None


class CaseOutcome(CaseModel):
    loan_id: str
    outcome: Outcome
    arrears: Decimal
    paid_total: Decimal
    contacts_sent: int
    policy_version: str | None
