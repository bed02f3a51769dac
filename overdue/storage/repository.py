"""Queries and writes the activities and the intake share. Idempotent by business keys."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from overdue.storage.models import (
    BucketChange,
    CollectionCase,
    ContactAttempt,
    ContactDecisionRecord,
    Customer,
    Loan,
    RepresentativeAssignment,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def dialect_insert(dialect: str) -> Any:
    """The ``insert`` with ON CONFLICT of a dialect (both dialects share the API)."""
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def insert_for_dialect(session: AsyncSession, table: Any) -> Any:
    """INSERT ... ON CONFLICT for the session's dialect."""
    return dialect_insert(session.get_bind().dialect.name)(table)


def payload_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class ContactTarget:
    loan_id: str
    customer_id: str
    currency: str
    annual_rate: Decimal
    customer_name: str
    phone: str
    email: str | None
    locale: str
    timezone: str | None
    birth_year: int | None
    preferred_channel: str | None
    sms_consent: bool
    email_consent: bool
    phone_consent: bool

    def consents(self) -> dict[str, bool]:
        return {"sms": self.sms_consent, "email": self.email_consent,
                "phone": self.phone_consent}


async def contact_target(session: AsyncSession, loan_id: str) -> ContactTarget | None:
    row = (await session.execute(
        select(Loan, Customer).join(Customer, Customer.customer_id == Loan.customer_id)
        .where(Loan.loan_id == loan_id)
    )).first()
    if row is None:
        return None
    loan, customer = row
    return ContactTarget(
        loan_id=loan.loan_id, customer_id=customer.customer_id, currency=loan.currency,
        annual_rate=loan.annual_rate, customer_name=customer.name, phone=customer.phone,
        email=customer.email, locale=customer.locale, timezone=customer.timezone,
        birth_year=customer.birth_year, preferred_channel=customer.preferred_channel,
        sms_consent=customer.sms_consent, email_consent=customer.email_consent,
        phone_consent=customer.phone_consent)


@dataclass(frozen=True)
class PastAttempt:
    channel: str
    at: datetime
    recipient_key: str
    answered: bool | None


async def customer_contacts_since(session: AsyncSession, customer_id: str,
                                  since: datetime) -> list[PastAttempt]:
    """Contacts actually made to a customer (any of their loans) since ``since``."""
    rows = (await session.execute(
        select(ContactAttempt.channel, ContactAttempt.scheduled_for,
               ContactAttempt.recipient_key, ContactAttempt.answered)
        .join(Loan, Loan.loan_id == ContactAttempt.loan_id)
        .where(Loan.customer_id == customer_id, ContactAttempt.scheduled_for >= since,
               ContactAttempt.status.in_(("sent", "delivered")))
    )).all()
    return [PastAttempt(channel, at, key, answered) for channel, at, key, answered in rows]


async def responsive_channels(session: AsyncSession, customer_id: str) -> list[str]:
    """Channels the customer answered or paid after, most recent first (all their loans)."""
    rows = (await session.execute(
        select(ContactAttempt.channel)
        .join(Loan, Loan.loan_id == ContactAttempt.loan_id)
        .where(Loan.customer_id == customer_id, ContactAttempt.responded_at.is_not(None))
        .order_by(ContactAttempt.responded_at.desc()).limit(20)
    )).scalars().all()
    return list(dict.fromkeys(rows))


async def record_decision(session: AsyncSession, *, key: str, loan_id: str, step: str,
                          channel: str | None, planned_for: datetime, allowed: bool,
                          reason: str, next_allowed_at: datetime | None, detail: str) -> None:
    stmt = insert_for_dialect(session, ContactDecisionRecord).values(
        decision_key=key, loan_id=loan_id, step=step, channel=channel,
        planned_for=planned_for, decided_at=utcnow(), allowed=allowed, reason=reason,
        next_allowed_at=next_allowed_at, detail=detail,
    ).on_conflict_do_nothing(index_elements=["decision_key"])
    await session.execute(stmt)


async def attempt_by_key(session: AsyncSession, key: str) -> ContactAttempt | None:
    return (await session.execute(
        select(ContactAttempt).where(ContactAttempt.idempotency_key == key)
    )).scalar_one_or_none()


async def record_receipt(session: AsyncSession, key: str, delivered: bool,
                         error: str | None) -> ContactAttempt | None:
    attempt = await attempt_by_key(session, key)
    if attempt is None:
        return None
    if delivered:
        if attempt.status == "sent":
            attempt.status = "delivered"
        attempt.delivered_at = attempt.delivered_at or utcnow()
    else:
        attempt.status = "failed"
        attempt.error = f"delivery failed: {error or 'unknown'}"
    return attempt


async def record_call_outcome(session: AsyncSession, key: str, outcome: str
                              ) -> ContactAttempt | None:
    attempt = await attempt_by_key(session, key)
    if attempt is None:
        return None
    attempt.outcome = outcome
    attempt.answered = {"no_answer": False, "wrong_number": None}.get(outcome, True)
    if attempt.answered:
        attempt.responded_at = attempt.responded_at or utcnow()
    return attempt


def mask_phone(phone: str) -> str:
    """Enough to tell numbers apart in a contact history, not enough to dial."""
    return phone[:4] + "*" * max(0, len(phone) - 8) + phone[-4:] if len(phone) > 8 else "****"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return (local[:1] + "***@" + domain)[:32]


def recipient_key(secret: bytes, recipient: str) -> str:
    """A keyed hash: the same number gives the same key, the key gives no number."""
    return hmac.new(secret, recipient.strip().lower().encode(), hashlib.sha256).hexdigest()


async def claim_contact_attempt(session: AsyncSession, *, key: str, loan_id: str, step: str,
                                channel: str, template: str, locale: str, recipient: str,
                                recipient_hash: str, scheduled_for: datetime) -> ContactAttempt:
    """Create the attempt for ``key`` or return the existing one, counting this try."""
    now = utcnow()
    masked = mask_email(recipient) if channel == "email" else mask_phone(recipient)
    stmt = insert_for_dialect(session, ContactAttempt).values(
        idempotency_key=key, loan_id=loan_id, step=step, channel=channel, template=template,
        locale=locale, recipient_masked=masked, recipient_key=recipient_hash, status="pending",
        scheduled_for=scheduled_for, first_attempt_at=now, last_attempt_at=now, tries=0,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"])
    await session.execute(stmt)
    attempt = (await session.execute(
        select(ContactAttempt).where(ContactAttempt.idempotency_key == key)
        .execution_options(populate_existing=True)
    )).scalar_one()
    return attempt


async def upsert_case(session: AsyncSession, *, case_ref: str, loan_id: str, workflow_id: str,
                      stage: str, outcome: str | None, arrears: Decimal, days_past_due: int,
                      bucket: str | None, policy_version: str | None,
                      closed: bool, oldest_unpaid_due_date: date | None = None,
                      assigned_officer: str | None = None) -> None:
    now = utcnow()
    values = dict(loan_id=loan_id, workflow_id=workflow_id, stage=stage, outcome=outcome,
                  arrears=arrears, days_past_due=days_past_due, bucket=bucket,
                  policy_version=policy_version, updated_at=now,
                  closed_at=now if closed else None,
                  oldest_unpaid_due_date=oldest_unpaid_due_date,
                  assigned_officer=assigned_officer)
    stmt = insert_for_dialect(session, CollectionCase).values(case_ref=case_ref, opened_at=now,
                                                               **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["case_ref"], set_=values))


async def record_bucket_change(session: AsyncSession, *, case_ref: str, loan_id: str,
                               sequence: int, changed_on: date, from_bucket: str | None,
                               to_bucket: str, days_past_due: int,
                               oldest_unpaid_due_date: date | None, arrears: Decimal) -> None:
    """One row per case and sequence number: a retried activity writes nothing more."""
    stmt = insert_for_dialect(session, BucketChange).values(
        change_key=f"{case_ref}:{sequence}", case_ref=case_ref, loan_id=loan_id,
        sequence=sequence, changed_on=changed_on, from_bucket=from_bucket, to_bucket=to_bucket,
        days_past_due=days_past_due, oldest_unpaid_due_date=oldest_unpaid_due_date,
        arrears=arrears, recorded_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["change_key"])
    await session.execute(stmt)


async def record_assignment(session: AsyncSession, *, key: str, loan_id: str, case_ref: str,
                            representative: str, hardship: str, flagged_by: str,
                            follow_up_task_id: str | None) -> RepresentativeAssignment:
    stmt = insert_for_dialect(session, RepresentativeAssignment).values(
        assignment_key=key, loan_id=loan_id, case_ref=case_ref, representative=representative,
        hardship=hardship, flagged_by=flagged_by, assigned_at=utcnow(),
        follow_up_task_id=follow_up_task_id,
    ).on_conflict_do_nothing(index_elements=["assignment_key"])
    await session.execute(stmt)
    return (await session.execute(
        select(RepresentativeAssignment).where(RepresentativeAssignment.assignment_key == key)
        .execution_options(populate_existing=True))).scalar_one()


async def close_assignment(session: AsyncSession, key: str, outcome: str) -> None:
    assignment = (await session.execute(
        select(RepresentativeAssignment).where(RepresentativeAssignment.assignment_key == key)
    )).scalar_one_or_none()
    if assignment is not None and assignment.closed_at is None:
        assignment.closed_at = utcnow()
        assignment.outcome = outcome
