"""Arrears position of a loan: which instalments are unpaid and for how long."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.money import ZERO, to_money


@dataclass(frozen=True)
class MissedInstalment:
    number: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class ArrearsPosition:
    arrears: Decimal
    """What is still owed on missed instalments."""
    oldest_unpaid_due_date: date | None
    """Due date of the oldest instalment not yet fully paid; drives days past due."""
    unapplied_credit: Decimal
    """Money received beyond the arrears (e.g. a payment that arrived before the miss)."""

    @property
    def in_arrears(self) -> bool:
        return self.arrears > ZERO


def arrears_position(missed: Sequence[MissedInstalment], paid_total: Decimal) -> ArrearsPosition:
    """Apply everything paid to the missed instalments, oldest first.

    Oldest-first is how core banking allocates a repayment to overdue instalments, and
    it is what makes days past due fall when an old instalment is cleared.
    """
    remaining = to_money(paid_total)
    if remaining < ZERO:
        raise ValueError("paid total cannot be negative")
    oldest_unpaid: date | None = None
    arrears = ZERO
    for instalment in sorted(missed, key=lambda m: (m.due_date, m.number)):
        owed = to_money(instalment.amount)
        applied = min(owed, remaining)
        remaining -= applied
        unpaid = owed - applied
        if unpaid > ZERO:
            arrears += unpaid
            if oldest_unpaid is None:
                oldest_unpaid = instalment.due_date
    return ArrearsPosition(arrears=arrears, oldest_unpaid_due_date=oldest_unpaid,
                           unapplied_credit=remaining)


def days_past_due(oldest_unpaid_due_date: date | None, business_date: date) -> int:
    """DPD = business date - due date of the oldest unpaid instalment, never negative."""
    if oldest_unpaid_due_date is None:
        return 0
    return max(0, (business_date - oldest_unpaid_due_date).days)
