"""The intake's writes: every core-banking event is recorded before its signal and marked
delivered after it.

They run for every event, on the machine the Temporal server shares, so they are Core
statements built once per dialect (bound parameters, no per-event statement building or
cache keys) and each transaction runs in one greenlet. Through the ORM session the same
work cost the intake more CPU than the database did, and that CPU came out of the server's
share (profile in bench/README.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain.events import AnyEvent, InstalmentDueSoon, InstalmentMissed
from overdue.storage.models import CollectionCase, CoreBankingEventRecord, Customer, Loan
from overdue.storage.repository import dialect_insert, utcnow

Admission = Literal["new", "pending", "delivered", "conflict", "loan_closed", "recorded"]
"""What recording an event found: ``new`` (first delivery) and ``pending`` (seen, never
handed to Temporal) go on to the signal; ``delivered`` is a duplicate; ``conflict`` is the
event id reused with other content; ``loan_closed`` is kept but chases nobody; ``recorded``
is a due-soon snapshot stored and done."""

_EVENTS: Table = CoreBankingEventRecord.__table__  # type: ignore[assignment]
_CASES: Table = CollectionCase.__table__  # type: ignore[assignment]
_CUSTOMERS: Table = Customer.__table__  # type: ignore[assignment]
_LOANS: Table = Loan.__table__  # type: ignore[assignment]

_CUSTOMER_COLUMNS = ("name", "phone", "email", "locale", "timezone", "birth_year",
                     "preferred_channel", "sms_consent", "email_consent", "phone_consent",
                     "updated_at")
_LOAN_COLUMNS = ("customer_id", "product", "branch", "currency", "principal_outstanding",
                 "annual_rate", "instalment_amount", "remaining_instalments", "updated_at")
# A due-soon event also carries the repayment record; a missed instalment leaves it alone.
_DUE_SOON_CUSTOMER_COLUMNS = (*_CUSTOMER_COLUMNS, "monthly_income")
_DUE_SOON_LOAN_COLUMNS = (*_LOAN_COLUMNS, "next_due_date", "late_instalments_12m",
                          "max_days_past_due", "last_delinquency_date")


@dataclass(frozen=True)
class _Statements:
    insert_event: Any
    event_state: Any
    closed_for_good: Any
    set_status: Any
    mark_delivered: Any
    customer_upsert: Any
    loan_upsert: Any
    due_soon_customer_upsert: Any
    due_soon_loan_upsert: Any


def _upsert(insert: Any, table: Table, key: str, columns: Sequence[str]) -> Any:
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=[key],
                                      set_={name: stmt.excluded[name] for name in columns})


def _build(dialect: str) -> _Statements:
    insert = dialect_insert(dialect)
    event_id = _EVENTS.c.event_id
    return _Statements(
        insert_event=insert(_EVENTS).on_conflict_do_nothing(index_elements=["event_id"]),
        event_state=select(_EVENTS.c.status, _EVENTS.c.payload_sha256)
        .where(event_id == bindparam("event_id")),
        closed_for_good=select(_CASES.c.case_ref).where(
            _CASES.c.loan_id == bindparam("loan_id"), _CASES.c.outcome == "loan_closed"
        ).limit(1),
        # update() reserves bind names equal to column names for its SET clause.
        set_status=update(_EVENTS).where(event_id == bindparam("the_event_id"))
        .values(status=bindparam("new_status")),
        mark_delivered=update(_EVENTS)
        .where(event_id.in_(bindparam("event_ids", expanding=True)),
               _EVENTS.c.status != "delivered")
        .values(status="delivered", delivered_at=bindparam("delivered_at")),
        customer_upsert=_upsert(insert, _CUSTOMERS, "customer_id", _CUSTOMER_COLUMNS),
        loan_upsert=_upsert(insert, _LOANS, "loan_id", _LOAN_COLUMNS),
        due_soon_customer_upsert=_upsert(insert, _CUSTOMERS, "customer_id",
                                         _DUE_SOON_CUSTOMER_COLUMNS),
        due_soon_loan_upsert=_upsert(insert, _LOANS, "loan_id", _DUE_SOON_LOAN_COLUMNS),
    )


_BY_DIALECT: dict[str, _Statements] = {}


def _statements(connection: Connection) -> _Statements:
    dialect = connection.dialect.name
    if dialect not in _BY_DIALECT:
        _BY_DIALECT[dialect] = _build(dialect)
    return _BY_DIALECT[dialect]


def _write_snapshot(connection: Connection, event: InstalmentMissed | InstalmentDueSoon,
                    now: datetime) -> None:
    """Keep the latest customer and loan snapshot core banking sent (and, from a due-soon
    event, the next due date and the repayment record the early warning scores)."""
    sql = _statements(connection)
    c = event.customer
    loan = event.loan
    customer_row: dict[str, Any] = dict(
        customer_id=c.customer_id, name=c.name, phone=c.phone, email=c.email,
        locale=c.locale, timezone=c.timezone, birth_year=c.birth_year,
        preferred_channel=c.preferred_channel, sms_consent=c.sms_consent,
        email_consent=c.email_consent, phone_consent=c.phone_consent, updated_at=now)
    loan_row: dict[str, Any] = dict(
        loan_id=loan.loan_id, customer_id=c.customer_id, product=loan.product,
        branch=loan.branch, currency=loan.currency,
        principal_outstanding=loan.principal_outstanding, annual_rate=loan.annual_rate,
        instalment_amount=loan.instalment_amount,
        remaining_instalments=loan.remaining_instalments, updated_at=now)
    if isinstance(event, InstalmentDueSoon):
        record = event.repayment
        customer_row["monthly_income"] = record.monthly_income
        loan_row.update(next_due_date=event.instalment.due_date,
                        late_instalments_12m=record.late_instalments_12m,
                        max_days_past_due=record.max_days_past_due,
                        last_delinquency_date=record.last_delinquency_date)
        connection.execute(sql.due_soon_customer_upsert, customer_row)
        connection.execute(sql.due_soon_loan_upsert, loan_row)
    else:
        connection.execute(sql.customer_upsert, customer_row)
        connection.execute(sql.loan_upsert, loan_row)


def _admit(session: Session, event: AnyEvent, workflow_id: str, digest: str,
           loan_id: str) -> Admission:
    connection = session.connection()
    sql = _statements(connection)
    now = utcnow()
    inserted = connection.execute(sql.insert_event, dict(
        event_id=event.event_id, type=event.type, loan_id=loan_id,
        occurred_at=event.occurred_at, received_at=now, status="received", delivered_at=None,
        workflow_id=workflow_id, payload_sha256=digest,
        business_date=(event.instalment.due_date
                       if isinstance(event, InstalmentMissed | InstalmentDueSoon) else None)))
    admission: Admission = "new"
    if inserted.rowcount != 1:
        status, first_digest = connection.execute(
            sql.event_state, {"event_id": event.event_id}).one()
        if first_digest != digest:
            session.rollback()
            return "conflict"
        if status == "delivered":
            session.rollback()
            return "delivered"
        admission = "pending"
    if connection.execute(sql.closed_for_good, {"loan_id": loan_id}).first() is not None:
        connection.execute(sql.set_status, {"the_event_id": event.event_id,
                                            "new_status": "ignored"})
        admission = "loan_closed"
    elif isinstance(event, InstalmentDueSoon):
        _write_snapshot(connection, event, now)
        connection.execute(sql.mark_delivered, {"event_ids": [event.event_id],
                                                "delivered_at": now})
        admission = "recorded"
    elif isinstance(event, InstalmentMissed):
        _write_snapshot(connection, event, now)
    session.commit()
    return admission


async def admit_event(session: AsyncSession, event: AnyEvent, workflow_id: str, digest: str,
                      loan_id: str) -> Admission:
    """Record the event id once, in one transaction with what comes with it: the snapshot
    of a missed or due-soon instalment, the delivery of a due-soon event, the ``ignored``
    mark of an event for a loan core banking closed. Commits unless the event is a
    duplicate or a conflict (then nothing is written)."""
    return await session.run_sync(_admit, event, workflow_id, digest, loan_id)


def _mark_delivered(session: Session, event_ids: Sequence[str]) -> None:
    connection = session.connection()
    connection.execute(_statements(connection).mark_delivered,
                       {"event_ids": list(event_ids), "delivered_at": utcnow()})
    session.commit()


async def mark_events_delivered(session: AsyncSession, event_ids: Sequence[str]) -> None:
    """Mark events handed to Temporal, in one transaction; commits."""
    await session.run_sync(_mark_delivered, event_ids)


async def upsert_snapshot(session: AsyncSession,
                          event: InstalmentMissed | InstalmentDueSoon) -> None:
    """The customer and loan snapshot of an event, in the session's transaction."""
    await session.run_sync(lambda sync: _write_snapshot(sync.connection(), event, utcnow()))
