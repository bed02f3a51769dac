"""What flows in and out of a loan's workflow. No personal data: ids, dates and amounts only."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.arrears import ArrearsPosition, MissedInstalment, arrears_position
from domain.legal_case import LegalResult
from domain.money import ZERO
from domain.negotiation import NegotiationResult, PaymentNotice
from domain.policy import Policy

EventType = Literal["instalment.missed", "payment.received", "loan.closed", "hardship.flagged"]
Stage = Literal["opened", "early", "negotiation", "legal", "closed"]
Outcome = Literal["cured", "restructured", "settled", "recovered", "written_off", "transferred",
                  "loan_closed", "no_arrears"]
HardshipKind = Literal["illness", "unemployment", "disaster", "bereavement", "other"]
CallOutcomeKind = Literal["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute"]

SIGNAL_CORE_BANKING_EVENT = "core_banking_event"
SIGNAL_CALL_OUTCOME = "call_outcome"
SIGNAL_CONTACT_RECEIPT = "contact_receipt"
SIGNAL_HARDSHIP = "hardship_flagged"
SIGNAL_REPRESENTATIVE_UPDATE = "representative_update"
SIGNAL_DISPUTE = "dispute_update"
SIGNAL_STAGE_RESULT = "stage_result"
QUERY_STATE = "case_state"
UPDATE_LEGAL_OVERRIDE = "legal_override"
UPDATE_WRITE_OFF = "write_off"
UPDATE_TRANSFER = "transfer"
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
    hardship_kind: HardshipKind | None = None


class CallOutcome(CaseModel):
    """An agent's outcome of a phone task, from the contact centre (or an officer)."""

    idempotency_key: str
    outcome: CallOutcomeKind
    promise_amount: Decimal | None = None
    promise_date: date | None = None
    agent: str | None = None


class ContactReceipt(CaseModel):
    """A delivery receipt: the gateway delivered the message, or could not."""

    idempotency_key: str
    status: Literal["delivered", "failed"]
    error: str | None = None


class HardshipFlag(CaseModel):
    kind: HardshipKind
    flagged_by: str


class RepresentativeUpdate(CaseModel):
    """The representative's word: go on with collection, or the circumstances are settled."""

    representative: str
    outcome: Literal["resume_collection", "arrangement_made", "handled"]


class DisputeUpdate(CaseModel):
    open: bool
    by: str


class LegalOverride(CaseModel):
    """Legal action before the rule allows it: a dedicated role and a written reason."""

    officer: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=32)
    reason: str = Field(min_length=20, max_length=1000)


class WriteOff(CaseModel):
    officer: str = Field(min_length=1, max_length=64)
    reason_code: str = Field(min_length=1, max_length=32)


class Transfer(CaseModel):
    """Non-performing loan transfer or agency placement, after screening."""

    officer: str = Field(min_length=1, max_length=64)
    channel: Literal["npl_transfer", "agency_placement"]
    counterparty: str = Field(min_length=1, max_length=120)
    deceased: bool = False
    bankrupt: bool = False


class ClosureDecision(CaseModel):
    outcome: Literal["written_off", "transferred"]
    reason: str
    decided_by: str


class InstalmentRecord(CaseModel):
    number: int
    due_date: date
    amount: Decimal


class ContactRecord(CaseModel):
    step: str
    channel: str
    idempotency_key: str
    status: str
    """sent, delivered, failed, suppressed, skipped, or a call outcome."""
    scheduled_for: datetime
    attempt_id: int | None = None
    note: str | None = None


class HardshipState(CaseModel):
    kind: HardshipKind
    flagged_by: str
    flagged_at: datetime
    representative: str | None = None
    follow_up_task_id: str | None = None
    pause_until: datetime | None = None
    """Case time at which the automatic ladder resumes even without the representative."""
    active: bool = True
    outcome: str | None = None


class PromiseState(CaseModel):
    amount: Decimal
    due: date
    made_at: datetime
    paid_before: Decimal
    """What had been paid when the promise was made; the promise counts payments after."""
    status: Literal["open", "kept", "broken"] = "open"
    key: str = ""
    made_by: str = "contact-centre"
    recorded_status: str | None = None
    """The status last written to the database."""


class StageResult(CaseModel):
    """A negotiation round's or legal case's result, signalled by the child to its case.

    The case continues as new while a child runs, so the run that awaits the result may
    not be the run that started the child; the signal reaches whichever run is current.
    """

    child_id: str
    negotiation: NegotiationResult | None = None
    legal: LegalResult | None = None


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
    hardship: HardshipState | None = None
    hardship_count: int = 0
    dispute_open: bool = False
    promise: PromiseState | None = None
    promises: list[PromiseState] = Field(default_factory=list)
    responsive_channels: list[str] = Field(default_factory=list)
    call_outcomes: dict[str, CallOutcome] = Field(default_factory=dict)
    receipts: dict[str, ContactReceipt] = Field(default_factory=dict)
    escalation_at: datetime | None = None
    negotiation_rounds: int = 0
    consecutive_failed_negotiations: int = 0
    negotiation_id: str | None = None
    negotiation_results: list[NegotiationResult] = Field(default_factory=list)
    pending_payments: list[PaymentNotice] = Field(default_factory=list)
    """Payments to hand to the running negotiation round or legal case."""
    payment_log: list[PaymentNotice] = Field(default_factory=list)
    """Every payment with its value date: the legal claim's ledger."""
    legal_override: LegalOverride | None = None
    legal_count: int = 0
    legal_id: str | None = None
    legal_results: list[LegalResult] = Field(default_factory=list)
    officer_closure: ClosureDecision | None = None
    round_pause_until: datetime | None = None
    """End of the pause before the next negotiation round, while it runs."""
    children_outlive_runs: bool = False
    """Children started to outlive this run (ABANDON), so the case may continue as new
    while a negotiation round or legal case runs; False for cases opened before."""
    stage_results: dict[str, StageResult] = Field(default_factory=dict)
    """Results signalled by the running child, until the case takes them."""
    refresh_at_bucket_changes: bool = False
    """Days past due refreshed when the bucket changes (not daily): OverdueSince is set."""
    log_bucket_changes: bool = False
    """Each change of bucket or oldest unpaid due date is written to ``bucket_changes``."""
    logged_bucket: str | None = None
    logged_oldest_unpaid: date | None = None
    bucket_changes: int = 0
    """Rows written to ``bucket_changes`` (their sequence numbers)."""

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
    case_ref: str | None = None
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
    hardship: HardshipState | None = None
    dispute_open: bool = False
    promise: PromiseState | None = None
    escalation_at: datetime | None = None
    negotiation_id: str | None = None
    negotiation_rounds: int = 0
    consecutive_failed_negotiations: int = 0
    negotiation_results: list[NegotiationResult] = Field(default_factory=list)
    legal_id: str | None = None
    legal_results: list[LegalResult] = Field(default_factory=list)


class CaseOutcome(CaseModel):
    loan_id: str
    outcome: Outcome
    arrears: Decimal
    paid_total: Decimal
    contacts_sent: int
    policy_version: str | None
