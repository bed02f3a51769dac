"""Queries and writes the activities and the intake share. Idempotent by business keys."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.events import AnyEvent, InstalmentMissed
from overdue.storage.models import (
    CollectionCase,
    ContactAttempt,
    CoreBankingEventRecord,
    Customer,
    Loan,
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _insert(session: AsyncSession, table: Any) -> Any:
    """INSERT ... ON CONFLICT for the session's dialect (both dialects share the API)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database dialect {dialect!r}")


def payload_digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class EventReceipt:
    event_id: str
    status: str
    """'new' (first delivery), 'pending' (seen, not yet handed to Temporal), 'delivered'."""
    same_payload: bool


async def record_event(session: AsyncSession, event: AnyEvent, workflow_id: str,
                       digest: str, loan_id: str) -> EventReceipt:
    """Store the event id once. A re-delivery finds the first record and reports its state."""
    now = utcnow()
    stmt = _insert(session, CoreBankingEventRecord).values(
        event_id=event.event_id, type=event.type, loan_id=loan_id,
        occurred_at=event.occurred_at, received_at=now, status="received", delivered_at=None,
        workflow_id=workflow_id, payload_sha256=digest,
        business_date=event.instalment.due_date if isinstance(event, InstalmentMissed) else None,
    ).on_conflict_do_nothing(index_elements=["event_id"])
    result = cast(CursorResult[Any], await session.execute(stmt))
    if result.rowcount == 1:
        return EventReceipt(event.event_id, "new", True)
    existing = await session.get(CoreBankingEventRecord, event.event_id)
    assert existing is not None
    status = "delivered" if existing.status == "delivered" else "pending"
    return EventReceipt(event.event_id, status, existing.payload_sha256 == digest)


async def mark_event_delivered(session: AsyncSession, event_id: str) -> None:
    record = await session.get(CoreBankingEventRecord, event_id)
    if record is not None and record.status != "delivered":
        record.status = "delivered"
        record.delivered_at = utcnow()


async def upsert_snapshot(session: AsyncSession, event: InstalmentMissed) -> None:
    """Keep the latest customer and loan snapshot core banking sent."""
    now = utcnow()
    c = event.customer
    customer_values = dict(
        name=c.name, phone=c.phone, email=c.email, locale=c.locale, timezone=c.timezone,
        birth_year=c.birth_year, preferred_channel=c.preferred_channel,
        sms_consent=c.sms_consent, email_consent=c.email_consent,
        phone_consent=c.phone_consent, updated_at=now,
    )
    stmt = _insert(session, Customer).values(customer_id=c.customer_id, **customer_values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["customer_id"],
                                                     set_=customer_values))
    loan = event.loan
    loan_values = dict(
        customer_id=c.customer_id, product=loan.product, branch=loan.branch,
        currency=loan.currency, principal_outstanding=loan.principal_outstanding,
        annual_rate=loan.annual_rate, instalment_amount=loan.instalment_amount,
        remaining_instalments=loan.remaining_instalments, updated_at=now,
    )
    stmt = _insert(session, Loan).values(loan_id=loan.loan_id, **loan_values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["loan_id"],
                                                     set_=loan_values))


@dataclass(frozen=True)
class ContactTarget:
    loan_id: str
    currency: str
    annual_rate: Decimal
    customer_name: str
    phone: str
    locale: str
    sms_consent: bool


async def contact_target(session: AsyncSession, loan_id: str) -> ContactTarget | None:
    row = (await session.execute(
        select(Loan, Customer).join(Customer, Customer.customer_id == Loan.customer_id)
        .where(Loan.loan_id == loan_id)
    )).first()
    if row is None:
        return None
    loan, customer = row
    return ContactTarget(loan_id=loan.loan_id, currency=loan.currency,
                         annual_rate=loan.annual_rate, customer_name=customer.name,
                         phone=customer.phone, locale=customer.locale,
                         sms_consent=customer.sms_consent)


def mask_phone(phone: str) -> str:
    """Enough to tell numbers apart in a contact history, not enough to dial."""
    return phone[:4] + "*" * max(0, len(phone) - 8) + phone[-4:] if len(phone) > 8 else "****"


async def claim_contact_attempt(session: AsyncSession, *, key: str, loan_id: str, step: str,
                                channel: str, template: str, locale: str, recipient: str,
                                scheduled_for: datetime) -> ContactAttempt:
    """Create the attempt for ``key`` or return the existing one, counting this try."""
    now = utcnow()
    stmt = _insert(session, ContactAttempt).values(
        idempotency_key=key, loan_id=loan_id, step=step, channel=channel, template=template,
        locale=locale, recipient_masked=mask_phone(recipient), status="pending",
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
                      closed: bool) -> None:
    now = utcnow()
    values = dict(loan_id=loan_id, workflow_id=workflow_id, stage=stage, outcome=outcome,
                  arrears=arrears, days_past_due=days_past_due, bucket=bucket,
                  policy_version=policy_version, updated_at=now,
                  closed_at=now if closed else None)
    stmt = _insert(session, CollectionCase).values(case_ref=case_ref, opened_at=now, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["case_ref"], set_=values))
