"""domain.arrears: oldest-first allocation of payments and days past due."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.arrears import ArrearsPosition, MissedInstalment, arrears_position, days_past_due
from domain.money import ZERO

JAN = MissedInstalment(1, date(2026, 1, 15), Decimal("1000.00"))
FEB = MissedInstalment(2, date(2026, 2, 15), Decimal("1000.00"))
MAR = MissedInstalment(3, date(2026, 3, 15), Decimal("1000.00"))


def _d(text: str) -> Decimal:
    return Decimal(text)


@pytest.mark.parametrize(
    ("missed", "paid", "arrears", "oldest", "credit"),
    [
        pytest.param([], "0", "0.00", None, "0.00", id="nothing-missed-nothing-paid"),
        pytest.param([JAN], "0", "1000.00", JAN.due_date, "0.00", id="one-missed-no-payment"),
        pytest.param([JAN, FEB, MAR], "0", "3000.00", JAN.due_date, "0.00",
                     id="three-missed-no-payment"),
        pytest.param([JAN, FEB, MAR], "999.99", "2000.01", JAN.due_date, "0.00",
                     id="partial-short-of-first-by-a-cent"),
        pytest.param([JAN, FEB, MAR], "1000.00", "2000.00", FEB.due_date, "0.00",
                     id="partial-exactly-covers-first"),
        pytest.param([JAN, FEB, MAR], "1500.00", "1500.00", FEB.due_date, "0.00",
                     id="partial-inside-second"),
        pytest.param([JAN, FEB, MAR], "2000.00", "1000.00", MAR.due_date, "0.00",
                     id="partial-covers-first-two"),
        pytest.param([JAN, FEB, MAR], "3000.00", "0.00", None, "0.00", id="exactly-cleared"),
        pytest.param([JAN, FEB, MAR], "3250.50", "0.00", None, "250.50",
                     id="overpayment-is-unapplied-credit"),
        pytest.param([MAR, JAN, FEB], "1500.00", "1500.00", FEB.due_date, "0.00",
                     id="unordered-input-allocates-oldest-first"),
        pytest.param([MAR, FEB, JAN], "1000.00", "2000.00", FEB.due_date, "0.00",
                     id="reverse-ordered-input"),
        pytest.param([], "500.00", "0.00", None, "500.00",
                     id="payment-without-instalments-is-credit"),
        pytest.param([JAN], "0.004", "1000.00", JAN.due_date, "0.00",
                     id="sub-cent-payment-rounds-to-nothing"),
        pytest.param([MissedInstalment(1, date(2026, 1, 15), Decimal("100.005"))], "0",
                     "100.00", date(2026, 1, 15), "0.00", id="instalment-amount-half-even"),
        pytest.param(
            [MissedInstalment(2, date(2026, 1, 15), Decimal("300.00")),
             MissedInstalment(1, date(2026, 1, 15), Decimal("100.00"))],
            "100.00", "300.00", date(2026, 1, 15), "0.00",
            id="same-due-date-ordered-by-number"),
        pytest.param(
            [MissedInstalment(1, date(2026, 1, 15), Decimal("0.00")), FEB],
            "0", "1000.00", FEB.due_date, "0.00",
            id="zero-instalment-is-never-unpaid"),
    ],
)
def test_arrears_position(
    missed: list[MissedInstalment], paid: str, arrears: str, oldest: date | None, credit: str
) -> None:
    position = arrears_position(missed, _d(paid))
    assert position == ArrearsPosition(
        arrears=_d(arrears), oldest_unpaid_due_date=oldest, unapplied_credit=_d(credit))
    assert str(position.arrears) == arrears
    assert str(position.unapplied_credit) == credit
    assert position.in_arrears is (_d(arrears) > 0)


@pytest.mark.parametrize(
    "paid",
    [
        pytest.param(Decimal("-0.01"), id="minus-a-cent"),
        pytest.param(Decimal("-1000"), id="minus-thousand"),
    ],
)
def test_negative_paid_total_raises(paid: Decimal) -> None:
    with pytest.raises(ValueError, match="negative"):
        arrears_position([JAN], paid)


def test_arrears_position_does_not_reorder_callers_list() -> None:
    missed = [MAR, JAN, FEB]
    arrears_position(missed, Decimal("1500"))
    assert missed == [MAR, JAN, FEB]


@pytest.mark.parametrize(
    ("oldest", "business_date", "expected"),
    [
        pytest.param(None, date(2026, 3, 1), 0, id="no-unpaid-instalment"),
        pytest.param(date(2026, 3, 10), date(2026, 3, 1), 0, id="due-after-business-date"),
        pytest.param(date(2026, 3, 1), date(2026, 3, 1), 0, id="due-today"),
        pytest.param(date(2026, 3, 1), date(2026, 3, 2), 1, id="one-day"),
        pytest.param(date(2026, 3, 1), date(2026, 3, 31), 30, id="thirty-days"),
        pytest.param(date(2026, 3, 1), date(2026, 4, 1), 31, id="thirty-one-days"),
        pytest.param(date(2026, 1, 1), date(2026, 4, 2), 91, id="ninety-one-days"),
        pytest.param(date(2024, 2, 28), date(2024, 3, 1), 2, id="across-leap-day"),
        pytest.param(date(2025, 12, 31), date(2026, 1, 1), 1, id="across-year-end"),
    ],
)
def test_days_past_due(oldest: date | None, business_date: date, expected: int) -> None:
    assert days_past_due(oldest, business_date) == expected


# --- Properties ---------------------------------------------------------------------------

cents = st.integers(min_value=0, max_value=10_000_000).map(lambda c: Decimal(c).scaleb(-2))
instalments = st.lists(
    st.builds(
        MissedInstalment,
        number=st.integers(min_value=1, max_value=360),
        due_date=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
        amount=cents,
    ),
    max_size=12,
)


@given(missed=instalments, paid=cents)
def test_allocation_conserves_money(missed: list[MissedInstalment], paid: Decimal) -> None:
    position = arrears_position(missed, paid)
    total_missed = sum((m.amount for m in missed), ZERO)
    applied = paid - position.unapplied_credit

    assert position.arrears >= ZERO
    assert position.unapplied_credit >= ZERO
    assert ZERO <= applied <= paid
    assert position.arrears + applied == total_missed
    assert position.arrears == max(ZERO, total_missed - paid)
    assert position.unapplied_credit == max(ZERO, paid - total_missed)
    # Credit only exists once every missed instalment is paid.
    assert position.arrears == ZERO or position.unapplied_credit == ZERO
    assert position.in_arrears is (position.arrears > ZERO)


@given(missed=instalments, paid=cents)
def test_oldest_unpaid_is_min_due_date_of_not_fully_paid(
    missed: list[MissedInstalment], paid: Decimal
) -> None:
    position = arrears_position(missed, paid)
    # Reference allocation, written independently: walk oldest first, paying each in full
    # while money lasts.
    remaining = paid
    not_fully_paid: list[date] = []
    for m in sorted(missed, key=lambda m: (m.due_date, m.number)):
        if remaining >= m.amount:
            remaining -= m.amount
        else:
            remaining = ZERO
            not_fully_paid.append(m.due_date)
    expected = min(not_fully_paid) if not_fully_paid else None
    assert position.oldest_unpaid_due_date == expected
    assert (position.oldest_unpaid_due_date is None) is (position.arrears == ZERO)


@given(missed=instalments, paid=cents, extra=cents)
def test_paying_more_never_increases_arrears_or_days_past_due(
    missed: list[MissedInstalment], paid: Decimal, extra: Decimal
) -> None:
    before = arrears_position(missed, paid)
    after = arrears_position(missed, paid + extra)
    assert after.arrears <= before.arrears
    today = date(2031, 1, 1)
    assert days_past_due(after.oldest_unpaid_due_date, today) <= days_past_due(
        before.oldest_unpaid_due_date, today)


@given(missed=instalments, paid=cents)
def test_allocation_ignores_input_order(missed: list[MissedInstalment], paid: Decimal) -> None:
    assert arrears_position(missed, paid) == arrears_position(list(reversed(missed)), paid)


@given(
    due=st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)),
    offset=st.integers(min_value=-4000, max_value=4000),
)
def test_days_past_due_is_clamped_day_difference(due: date, offset: int) -> None:
    assert days_past_due(due, due + timedelta(days=offset)) == max(0, offset)
