"""Inputs and outputs of the activities the loan workflow calls. Pure models, no I/O."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.contact_rules import Channel
from domain.early_warning import RiskFeatures, RiskScore
from domain.legal_case import ClaimView
from domain.policy import BankContacts, ChannelsPolicy, ContactRulesPolicy, StepChannel


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadPolicyRequest(ContractModel):
    loan_id: str


class PlanContactRequest(ContractModel):
    loan_id: str
    step: str
    decision_key: str
    """Unique per decision (loan + step + attempt), so a retried activity records it once."""
    at: datetime
    """Case time of the contact, aware."""
    step_channel: StepChannel
    channels: list[Channel]
    """The channels the step may use (those with a template)."""
    exclude: list[Channel] = []
    """Channels that already failed hard for this step."""
    responsive_channels: list[Channel] = []
    dispute_open: bool = False
    rules: ContactRulesPolicy
    channel_policy: ChannelsPolicy
    bank_timezone: str


class ContactPlan(ContractModel):
    action: Literal["send", "defer", "blocked", "none"]
    """send now; defer until ``next_allowed_at``; blocked until the case's state changes
    (e.g. a dispute is resolved); none: no lawful channel for this step."""
    channel: Channel | None = None
    next_allowed_at: datetime | None = None
    reason: str
    basis: str | None = None


class SendReminderRequest(ContractModel):
    loan_id: str
    case_ref: str
    step: str
    idempotency_key: str
    template_name: str
    templates: dict[str, str]
    """The step's template in every locale, from the policy version the case runs on."""
    subject_templates: dict[str, str] | None = None
    """E-mail only: the subject in every locale."""
    bank: BankContacts
    penalty_uplift: Decimal
    default_locale: str
    overdue_amount: Decimal
    due_date: date
    days_past_due: int
    scheduled_for: datetime
    amount_due: Decimal | None = None
    """The instalment a pre-due reminder is about (``{amount_due}``); when absent the
    placeholder shows the overdue amount."""


class ContactOutcome(ContractModel):
    attempt_id: int
    status: Literal["sent", "failed", "suppressed"]
    channel: str
    replayed: bool = False
    reason: str | None = None
    provider_id: str | None = None
    """The gateway's message id, the e-mail Message-ID or the contact centre's task id."""


class AssignRepresentativeRequest(ContractModel):
    loan_id: str
    case_ref: str
    assignment_key: str
    hardship: str
    flagged_by: str
    representatives: list[str]
    follow_up_by: datetime
    bank: BankContacts


class RepresentativeAssigned(ContractModel):
    representative: str
    follow_up_task_id: str | None


class CloseAssignmentRequest(ContractModel):
    assignment_key: str
    outcome: str


class CaseRecord(ContractModel):
    case_ref: str
    loan_id: str
    workflow_id: str
    stage: str
    outcome: str | None
    arrears: Decimal
    days_past_due: int
    bucket: str | None
    policy_version: str | None
    closed: bool
    oldest_unpaid_due_date: date | None = None
    assigned_officer: str | None = None
    closure_reason: str | None = None
    decided_by: str | None = None
    paid_total: Decimal = Decimal("0.00")
    recovered: Decimal = Decimal("0.00")


class BucketChangeRecord(ContractModel):
    case_ref: str
    loan_id: str
    sequence: int
    changed_on: date
    from_bucket: str | None
    to_bucket: str
    days_past_due: int
    oldest_unpaid_due_date: date | None
    arrears: Decimal


class LoanPositionRequest(ContractModel):
    loan_id: str
    arrears: Decimal
    oldest_unpaid_due_date: date
    next_due_date: date
    as_of: date
    penalty_uplift: Decimal
    penalty_day_basis: int = 360


class NegotiationRecord(ContractModel):
    negotiation_id: str
    loan_id: str
    case_ref: str
    round: int
    negotiator: str
    status: str
    failure_reason: str | None
    arrears: Decimal
    ended: bool


class NegotiationEventRecord(ContractModel):
    negotiation_id: str
    loan_id: str
    sequence: int
    kind: str
    actor: str
    at: datetime
    detail: dict[str, object]


class PromiseRecord(ContractModel):
    promise_key: str
    loan_id: str
    source: str
    made_by: str
    amount: Decimal
    due_date: date
    status: str
    received: Decimal


class ReviewRequest(ContractModel):
    legal_id: str
    loan_id: str
    arrears: Decimal
    days_past_due: int
    failed_negotiations: int


class FilingRequest(ContractModel):
    legal_id: str
    loan_id: str
    court: str
    facts: str
    claims: list[str]
    claim: ClaimView


class EnforcementRequest(ContractModel):
    legal_id: str
    filing_id: str
    actions: list[tuple[str, str | None]]


class LegalReminderRequest(ContractModel):
    legal_id: str
    loan_id: str
    step: str
    number: int


class LegalRecord(ContractModel):
    legal_id: str
    loan_id: str
    case_ref: str
    step: str
    outcome: str | None
    trigger: str
    filing_id: str | None
    claim_total: Decimal | None
    recovered: Decimal
    judgment: str | None


class SurveyRequest(ContractModel):
    loan_id: str
    case_ref: str
    outcome: str
    template: str
    templates: dict[str, str]
    bank: BankContacts
    default_locale: str


class FollowUpRequest(ContractModel):
    loan_id: str
    case_ref: str
    number: int
    template: str
    templates: dict[str, str]
    bank: BankContacts
    default_locale: str


# --- early warning ----------------------------------------------------------------------


class DueInstalmentsRequest(ContractModel):
    as_of: date
    """The bank's business date of the sweep; instalments due after it, within lead_days."""
    lead_days: int
    after_loan_id: str | None = None
    """Paging: loans after this id (loan id order)."""
    limit: int = 500


class DueInstalment(ContractModel):
    loan_id: str
    due_date: date
    amount_due: Decimal
    features: RiskFeatures


class DueInstalmentsPage(ContractModel):
    items: list[DueInstalment]
    next_after: str | None
    """The last loan id of this page when more may follow, else None."""


class ScoredInstalment(ContractModel):
    loan_id: str
    due_date: date
    amount_due: Decimal
    score: RiskScore


class RecordWarningsRequest(ContractModel):
    scored_on: date
    policy_version: str
    items: list[ScoredInstalment]


class PreDueTarget(ContractModel):
    """A flagged instalment whose pre-due reminder has not been settled yet."""

    loan_id: str
    due_date: date
    amount_due: Decimal
    warning_key: str


class RecordReminderRequest(ContractModel):
    warning_key: str
    status: Literal["sent", "no_channel", "expired", "failed", "disabled"]
    channel: str | None = None


class EarlyWarningSweepInput(ContractModel):
    """What the daily schedule starts the sweep with (empty), or a continued run."""

    as_of: date | None = None
    """None: today in the bank's time zone."""
    after_loan_id: str | None = None
    scored: int = 0
    flagged: int = 0
    reminders_started: int = 0


class EarlyWarningSweepResult(ContractModel):
    as_of: date
    scored: int
    flagged: int
    reminders_started: int
    policy_version: str | None


class PreDueReminderInput(ContractModel):
    """One courteous reminder before an instalment falls due. No personal data."""

    loan_id: str
    due_date: date
    amount_due: Decimal
    warning_key: str


class StartRemindersRequest(ContractModel):
    targets: list[PreDueTarget]
