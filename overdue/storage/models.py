"""Tables. Personal data lives here (the bank's own database), never in Temporal history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from overdue.storage.types import Money, Rate, UTCDateTime

# Named constraints so Alembic batch migrations on SQLite can alter them.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON(),
    }


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    sms_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    email_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    phone_consent: Mapped[bool] = mapped_column(Boolean, default=True)
    monthly_income: Mapped[Decimal | None]
    """Declared or verified monthly income, when core banking has it (debt-service ratio)."""
    updated_at: Mapped[datetime]


class Loan(Base):
    __tablename__ = "loans"

    loan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    product: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    principal_outstanding: Mapped[Decimal]
    annual_rate: Mapped[Decimal] = mapped_column(Rate())
    instalment_amount: Mapped[Decimal]
    remaining_instalments: Mapped[int] = mapped_column(Integer)
    next_due_date: Mapped[date | None] = mapped_column(Date, index=True)
    """The next instalment's due date (core banking's snapshot): the early-warning sweep
    scores the loans falling due within the policy's lead days."""
    late_instalments_12m: Mapped[int | None] = mapped_column(Integer)
    """Repayment record from core banking: instalments late or missed in 12 months,..."""
    max_days_past_due: Mapped[int | None] = mapped_column(Integer)
    """...the most days past due the loan reached,..."""
    last_delinquency_date: Mapped[date | None] = mapped_column(Date)
    """...and when it was last delinquent (None: never, as far as core banking knows)."""
    updated_at: Mapped[datetime]


class CollectionCase(Base):
    """One collections case of a loan, from its first event to its outcome."""

    __tablename__ = "collection_cases"

    case_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    workflow_id: Mapped[str] = mapped_column(String(100))
    stage: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    arrears: Mapped[Decimal]
    days_past_due: Mapped[int] = mapped_column(Integer)
    bucket: Mapped[str | None] = mapped_column(String(16))
    oldest_unpaid_due_date: Mapped[date | None] = mapped_column(Date)
    assigned_officer: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class ContactAttempt(Base):
    """Every contact the case made or decided not to make, keyed by loan + step."""

    __tablename__ = "contact_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(16))
    recipient_masked: Mapped[str] = mapped_column(String(32))
    recipient_key: Mapped[str] = mapped_column(String(64), index=True, server_default="")
    """A keyed hash of the number or address: per-number call caps without the number."""
    status: Mapped[str] = mapped_column(String(16))
    """pending -> sent -> delivered | failed | suppressed."""
    scheduled_for: Mapped[datetime]
    first_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None]
    answered: Mapped[bool | None] = mapped_column(Boolean)
    """Calls: did the customer pick up."""
    outcome: Mapped[str | None] = mapped_column(String(32))
    """Calls: the agent's outcome (promise_to_pay, refused, no_answer, wrong_number, dispute)."""
    responded_at: Mapped[datetime | None]
    """When the customer answered or paid after this contact: observed responsiveness."""


class ContactDecisionRecord(Base):
    """Every compliance decision taken before a contact, allowed or not."""

    __tablename__ = "contact_decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    decision_key: Mapped[str] = mapped_column(String(240), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    planned_for: Mapped[datetime]
    decided_at: Mapped[datetime]
    allowed: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(32))
    next_allowed_at: Mapped[datetime | None]
    detail: Mapped[str] = mapped_column(Text)


class RepresentativeAssignment(Base):
    """A dedicated service representative for a customer in special circumstances."""

    __tablename__ = "representative_assignments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    assignment_key: Mapped[str] = mapped_column(String(240), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    case_ref: Mapped[str] = mapped_column(String(200))
    representative: Mapped[str] = mapped_column(String(64))
    hardship: Mapped[str] = mapped_column(String(32))
    flagged_by: Mapped[str] = mapped_column(String(64))
    assigned_at: Mapped[datetime]
    follow_up_task_id: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))


class CoreBankingEventRecord(Base):
    """Processed core-banking events: the event id makes a re-delivery a no-op."""

    __tablename__ = "core_banking_events"
    __table_args__ = (Index("ix_core_banking_events_loan_received", "loan_id", "received_at"),)

    event_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    loan_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    """received (stored, not yet handed to Temporal) -> delivered."""
    delivered_at: Mapped[datetime | None]
    workflow_id: Mapped[str] = mapped_column(String(100))
    payload_sha256: Mapped[str] = mapped_column(String(64))
    business_date: Mapped[date | None] = mapped_column(Date)


class Negotiation(Base):
    """One negotiation round of a case: who negotiates, how it ended."""

    __tablename__ = "negotiations"

    negotiation_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    case_ref: Mapped[str] = mapped_column(String(200))
    round: Mapped[int] = mapped_column(Integer)
    negotiator: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    """open, awaiting_approval, following, kept, failed, cured, cancelled."""
    failure_reason: Mapped[str | None] = mapped_column(String(32))
    arrears_at_start: Mapped[Decimal]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class NegotiationEvent(Base):
    """Every step of a negotiation (assessment, proposal, answer, approval, promise),
    in order: the full history of revisions."""

    __tablename__ = "negotiation_events"

    event_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    negotiation_id: Mapped[str] = mapped_column(String(120), index=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    detail: Mapped[dict[str, Any]]


class Agreement(Base):
    """An accepted repayment plan with its schedule."""

    __tablename__ = "agreements"

    agreement_id: Mapped[str] = mapped_column(String(140), primary_key=True)
    negotiation_id: Mapped[str] = mapped_column(String(120), index=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    option_kind: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]]
    new_instalment: Mapped[Decimal]
    total_cost: Mapped[Decimal]
    instalments: Mapped[int] = mapped_column(Integer)
    schedule: Mapped[dict[str, Any]]
    """{"rows": [{number, due_date, principal, interest, arrears, fees, total, balance}]}."""
    proposed_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    """following, kept, broken."""
    agreed_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class PromiseToPay(Base):
    __tablename__ = "promises_to_pay"

    promise_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(32))
    """call (contact-centre outcome) or officer."""
    made_by: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal]
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    """open, kept, broken."""
    received: Mapped[Decimal]
    made_at: Mapped[datetime]
    settled_at: Mapped[datetime | None]


class LegalCase(Base):
    """A legal case of a loan: why it started, where it stands, what it recovered."""

    __tablename__ = "legal_cases"

    legal_id: Mapped[str] = mapped_column(String(120), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    case_ref: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(Text)
    step: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(32))
    filing_id: Mapped[str | None] = mapped_column(String(100))
    claim_total: Mapped[Decimal | None]
    recovered: Mapped[Decimal]
    judgment: Mapped[str | None] = mapped_column(String(16))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LegalTask(Base):
    """A reminder for the legal team when the legal system has been silent too long."""

    __tablename__ = "legal_tasks"

    task_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    legal_id: Mapped[str] = mapped_column(String(120), index=True)
    loan_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class CaseClosure(Base):
    """How a case ended, with its amounts and reason (write-off code, transfer channel)."""

    __tablename__ = "case_closures"

    case_ref: Mapped[str] = mapped_column(String(200), primary_key=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    arrears: Mapped[Decimal]
    paid_total: Mapped[Decimal]
    recovered: Mapped[Decimal]
    closed_at: Mapped[datetime]


class Survey(Base):
    """A satisfaction survey after a case closed, and the customer's answer."""

    __tablename__ = "surveys"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(200), unique=True)
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(16))
    sent_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    rating: Mapped[int | None] = mapped_column(Integer)
    """1 (very dissatisfied) to 5 (very satisfied)."""
    treated_fairly: Mapped[bool | None] = mapped_column(Boolean)
    comment: Mapped[str | None] = mapped_column(Text)


class ApiToken(Base):
    """An officer's API bearer token: only its SHA-256 is stored, never the token itself."""

    __tablename__ = "api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    officer: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Every officer API attempt, allowed or refused: who, as what role, did what to which
    case, and how it ended. No personal data: ids and the command minus free text."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    officer: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    loan_id: Mapped[str | None] = mapped_column(String(64), index=True)
    target_workflow: Mapped[str | None] = mapped_column(String(140))
    result: Mapped[str] = mapped_column(String(16))
    """ok, refused or error."""
    detail: Mapped[dict[str, Any]]


class EarlyWarning(Base):
    """An upcoming instalment's early-warning score, with every factor, and what the
    pre-due reminder did. One row per loan and due date: the first score is kept."""

    __tablename__ = "early_warnings"
    __table_args__ = (Index("ix_early_warnings_due_date_flagged", "due_date", "flagged"),)

    warning_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    """<loan id>:<due date>."""
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    due_date: Mapped[date] = mapped_column(Date)
    amount_due: Mapped[Decimal]
    scored_on: Mapped[date] = mapped_column(Date)
    """The bank's business date of the sweep that scored it."""
    policy_version: Mapped[str] = mapped_column(String(64))
    probability: Mapped[Decimal] = mapped_column(Rate())
    threshold: Mapped[Decimal] = mapped_column(Rate())
    flagged: Mapped[bool] = mapped_column(Boolean)
    factors: Mapped[dict[str, Any]]
    """{"intercept", "log_odds", "factors": [{feature, value, weight, contribution, note}]},
    largest effect first."""
    reminder_status: Mapped[str] = mapped_column(String(16))
    """not_flagged | pending -> sent | no_channel | expired | failed | disabled."""
    reminder_channel: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class BucketChange(Base):
    """A case's delinquency over time: a row each time its days-past-due bucket or its
    oldest unpaid due date changes (a payment that moves the date within a bucket has
    ``from_bucket == to_bucket``). The KPIs read past buckets from it, so roll rates are
    exact for the cases that have it."""

    __tablename__ = "bucket_changes"
    __table_args__ = (Index("ix_bucket_changes_case_ref_changed_on", "case_ref", "changed_on"),)

    change_key: Mapped[str] = mapped_column(String(220), primary_key=True)
    """<case ref>:<sequence number in the case>: a retried write is the same row."""
    case_ref: Mapped[str] = mapped_column(String(200))
    loan_id: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    changed_on: Mapped[date] = mapped_column(Date)
    """The bank's business date (case clock) from which ``to_bucket`` holds."""
    from_bucket: Mapped[str | None] = mapped_column(String(16))
    """``None`` for the first row of a case."""
    to_bucket: Mapped[str] = mapped_column(String(16))
    days_past_due: Mapped[int] = mapped_column(Integer)
    oldest_unpaid_due_date: Mapped[date | None] = mapped_column(Date)
    """``None`` once every instalment due is paid (``to_bucket`` is then the current one)."""
    arrears: Mapped[Decimal]
    recorded_at: Mapped[datetime]
