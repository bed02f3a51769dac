"""domain.restructuring: annuity instalment and level-instalment schedules.

Figures are worked in the comments. Two independent cross-checks:

* an exact rational reference (``fractions.Fraction``: no precision limit at all) for the
  instalment and for a whole schedule in integer fen;
* ``numpy_financial`` (float), compared as stated in ``test_matches_numpy_financial``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import numpy as np
import numpy_financial as npf  # type: ignore[import-untyped]
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from domain.money import to_money
from domain.restructuring import (
    OptionError,
    Schedule,
    ScheduleRow,
    add_months,
    amortise,
    annuity_payment,
)

D = Decimal
CENT = D("0.01")


# --- exact rational reference ---------------------------------------------------------------

def exact_annuity_fen(principal: Decimal, annual_rate: Decimal, months: int) -> int:
    """The instalment in fen, from exact rationals, rounded half to even (``round`` on a
    Fraction rounds half to even)."""
    p = Fraction(principal) * 100
    r = Fraction(annual_rate) / 12
    if r == 0:
        return round(p / months)
    growth = (1 + r) ** months
    return round(p * r * growth / (growth - 1))


def reference_rows(principal: Decimal, annual_rate: Decimal, months: int
                   ) -> list[tuple[int, int, int]]:
    """(principal, interest, balance after) per row in fen, all in exact integer arithmetic."""
    r = Fraction(annual_rate) / 12
    instalment = exact_annuity_fen(principal, annual_rate, months)
    balance = int(principal * 100)
    rows = []
    for k in range(months):
        interest = round(balance * r)
        part = balance if k == months - 1 else min(max(instalment - interest, 0), balance)
        balance -= part
        rows.append((part, interest, balance))
    return rows


def fen(amount: Decimal) -> int:
    return int(amount * 100)


# --- annuity_payment --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("principal", "rate", "months", "expected"),
    [
        # r = 0.0435/12 = 0.003625; (1.003625)^36 = 1.1391302...;
        # 120000 x 0.003625 x 1.1391302 / 0.1391302 = 435 x 8.187519... = 3561.5921 -> 3561.59
        pytest.param("120000.00", "0.0435", 36, "3561.59", id="worked-example-36m"),
        # (1.003625)^48 = 1.1896805...; 435 x 1.1896805 / 0.1896805 = 2728.3196 -> 2728.32
        pytest.param("120000.00", "0.0435", 48, "2728.32", id="worked-example-48m"),
        # r = 0.01: 1.01^12 = 1.1268250; 10000 x 0.01 x 1.126825 / 0.126825 = 888.4879 -> 888.49
        pytest.param("10000.00", "0.12", 12, "888.49", id="12pct-1y"),
        # 1.01^3 = 1.030301; 1000 x 0.01 x 1.030301 / 0.030301 = 340.0221 -> 340.02
        pytest.param("1000.00", "0.12", 3, "340.02", id="12pct-3m"),
        # one month: P(1 + r) = 1000 x 1.01 = 1010.00
        pytest.param("1000.00", "0.12", 1, "1010.00", id="single-month"),
        # the textbook 30-year 6% mortgage: 100000 -> 599.55
        pytest.param("100000.00", "0.06", 360, "599.55", id="30y-6pct"),
        # the figure Chinese banks quote for 200,000 over 20 years at 4.9% (等额本息): 1308.89
        pytest.param("200000.00", "0.049", 240, "1308.89", id="cn-mortgage-20y"),
        # and 1,000,000 over 30 years at 4.9%: 5307.27
        pytest.param("1000000.00", "0.049", 360, "5307.27", id="cn-mortgage-30y"),
        # rate 0: P / n
        pytest.param("12000.00", "0", 12, "1000.00", id="zero-rate-even"),
        # 100 / 3 = 33.333... -> 33.33
        pytest.param("100.00", "0", 3, "33.33", id="zero-rate-thirds"),
        # 0.05 / 2 = 0.025: half cent, 2 is even -> 0.02 (HALF_UP would give 0.03)
        pytest.param("0.05", "0", 2, "0.02", id="zero-rate-half-even-down"),
        # 0.15 / 10 = 0.015: half cent, 1 is odd -> 0.02
        pytest.param("0.15", "0", 10, "0.02", id="zero-rate-half-even-up"),
        # nothing borrowed, nothing to pay
        pytest.param("0.00", "0.0435", 12, "0.00", id="zero-principal"),
        # one month: 18 x (1 + 0.01/12) = 18 + 0.015 = 18.015 exactly, a half cent although
        # 0.01/12 = 0.000833... never terminates: to the even cent 18.02 (a rounded rate/12
        # would give 18.0149999... -> 18.01)
        pytest.param("18.00", "0.01", 1, "18.02", id="exact-half-cent-with-rate-over-12"),
    ],
)
def test_annuity_payment(principal: str, rate: str, months: int, expected: str) -> None:
    assert annuity_payment(D(principal), D(rate), months) == D(expected)
    assert fen(D(expected)) == exact_annuity_fen(D(principal), D(rate), months)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"principal": D("-1.00")}, "principal", id="negative-principal"),
        pytest.param({"principal": D("1.001")}, "principal", id="sub-cent-principal"),
        pytest.param({"principal": 1000.0}, "principal", id="float-principal"),
        pytest.param({"annual_rate": D("-0.01")}, "annual_rate", id="negative-rate"),
        pytest.param({"annual_rate": 0.05}, "annual_rate", id="float-rate"),
        pytest.param({"months": 0}, "months", id="zero-months"),
        pytest.param({"months": -3}, "months", id="negative-months"),
        pytest.param({"months": 1201}, "months", id="over-100-years"),
    ],
)
def test_annuity_payment_refuses(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"principal": D("1000.00"), "annual_rate": D("0.05"),
                               "months": 12, **kwargs}
    with pytest.raises(OptionError) as info:
        annuity_payment(**args)  # type: ignore[arg-type]
    assert info.value.field == field


# --- amortise ---------------------------------------------------------------------------------

def test_amortise_worked_three_months() -> None:
    # 1000.00 at 12% over 3 months, A = 340.02, r = 0.01:
    #   row 1: interest 1000.00 x 0.01 = 10.00, principal 330.02, balance 669.98
    #   row 2: interest 669.98 x 0.01 = 6.6998 -> 6.70, principal 333.32, balance 336.66
    #   row 3: interest 336.66 x 0.01 = 3.3666 -> 3.37; the last row takes the balance
    #          336.66, total 340.03 (1 cent of residue), balance 0.00
    schedule = amortise(D("1000.00"), D("0.12"), 3, date(2026, 3, 15))
    assert schedule.rows == (
        ScheduleRow(1, date(2026, 3, 15), D("330.02"), D("10.00"), D("0.00"), D("0.00"),
                    D("340.02"), D("669.98")),
        ScheduleRow(2, date(2026, 4, 15), D("333.32"), D("6.70"), D("0.00"), D("0.00"),
                    D("340.02"), D("336.66")),
        ScheduleRow(3, date(2026, 5, 15), D("336.66"), D("3.37"), D("0.00"), D("0.00"),
                    D("340.03"), D("0.00")),
    )
    assert schedule.total_principal == D("1000.00")
    assert schedule.total_interest == D("20.07")
    assert schedule.total_paid == D("1020.07")
    assert schedule.total_fees == D("0.00")
    assert schedule.total_arrears == D("0.00")


def test_interest_exactly_on_a_half_cent_goes_to_even() -> None:
    # 18.00 x 0.01 / 12 = 0.015 exactly -> 0.02 (1 is odd); 6.00 x 0.01 / 12 = 0.005 -> 0.00.
    # Dividing by 12 last keeps the product exact, so the tie is seen as a tie.
    assert amortise(D("18.00"), D("0.01"), 2, date(2026, 1, 15)).rows[0].interest == D("0.02")
    assert amortise(D("6.00"), D("0.01"), 2, date(2026, 1, 15)).rows[0].interest == D("0.00")


def test_amortise_worked_example_loan_against_exact_reference() -> None:
    # 120,000.00 at 4.35% over 36 months: 35 rows of 3,561.59 and a last row of 3,561.64
    # (5 cents of accumulated rounding residue); the exact integer reference agrees row by row.
    schedule = amortise(D("120000.00"), D("0.0435"), 36, date(2026, 3, 15))
    assert [row.total for row in schedule.rows[:-1]] == [D("3561.59")] * 35
    assert schedule.rows[-1].total == D("3561.64")
    # first row: interest 120000 x 0.003625 = 435.00, principal 3126.59
    assert (schedule.rows[0].interest, schedule.rows[0].principal) == (D("435.00"), D("3126.59"))
    assert schedule.total_interest == D("8217.29")  # 35 x 3561.59 + 3561.64 - 120000
    assert [(fen(r.principal), fen(r.interest), fen(r.remaining_balance))
            for r in schedule.rows] == reference_rows(D("120000.00"), D("0.0435"), 36)


@pytest.mark.parametrize(
    ("principal", "rate", "months"),
    [
        pytest.param("120000.00", "0.0435", 36, id="worked-example"),
        pytest.param("1000.00", "0.12", 3, id="short"),
        pytest.param("200000.00", "0.049", 240, id="mortgage-20y"),
        pytest.param("5000.00", "0.2399", 24, id="card-rate"),
        pytest.param("12000.00", "0", 12, id="zero-rate"),
        pytest.param("100.00", "0", 3, id="zero-rate-residue"),
        pytest.param("0.15", "0", 10, id="tiny-repaid-early"),
        pytest.param("0.01", "0.05", 12, id="one-cent"),
    ],
)
def test_amortise_invariants(principal: str, rate: str, months: int) -> None:
    p = D(principal)
    schedule = amortise(p, D(rate), months, date(2026, 1, 31))
    assert len(schedule.rows) == months
    assert [row.number for row in schedule.rows] == list(range(1, months + 1))
    assert schedule.total_principal == p  # exactly, thanks to the last row
    assert schedule.rows[-1].remaining_balance == D("0.00")
    before = p
    for row in schedule.rows:
        # round(balance before x r), exactly: Fraction rounds half to even
        assert int(row.interest * 100) == round(Fraction(before) * Fraction(rate) / 12 * 100)
        assert row.principal >= 0
        assert 0 <= row.remaining_balance <= before
        assert row.remaining_balance == before - row.principal
        assert row.total == row.principal + row.interest + row.arrears + row.fees
        before = row.remaining_balance


def test_balances_strictly_decrease_on_a_normal_loan() -> None:
    schedule = amortise(D("200000.00"), D("0.049"), 240, date(2026, 1, 31))
    balances = [D("200000.00"), *(row.remaining_balance for row in schedule.rows)]
    assert all(later < earlier for earlier, later in pairwise(balances))


def test_tiny_loan_is_repaid_before_its_last_row() -> None:
    # 0.15 over 10 months at 0%: A = 0.02 (0.015 to even). 7 rows of 0.02 = 0.14, row 8 takes
    # the last cent, rows 9 and 10 carry nothing; never a negative balance.
    schedule = amortise(D("0.15"), D("0"), 10, date(2026, 1, 15))
    assert [row.principal for row in schedule.rows] == (
        [D("0.02")] * 7 + [D("0.01"), D("0.00"), D("0.00")])
    assert [row.remaining_balance for row in schedule.rows][-3:] == [D("0.00")] * 3


@pytest.mark.parametrize(
    ("first_due", "expected"),
    [
        pytest.param(date(2024, 1, 31), [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31),
                                         date(2024, 4, 30), date(2024, 5, 31)],
                     id="jan-31-leap-year"),
        pytest.param(date(2025, 1, 31), [date(2025, 1, 31), date(2025, 2, 28), date(2025, 3, 31),
                                         date(2025, 4, 30), date(2025, 5, 31)],
                     id="jan-31-common-year"),
        pytest.param(date(2025, 8, 30), [date(2025, 8, 30), date(2025, 9, 30), date(2025, 10, 30),
                                         date(2025, 11, 30), date(2025, 12, 30)],
                     id="day-30"),
        pytest.param(date(2025, 11, 29), [date(2025, 11, 29), date(2025, 12, 29),
                                          date(2026, 1, 29), date(2026, 2, 28),
                                          date(2026, 3, 29)],
                     id="day-29-over-year-end"),
        pytest.param(date(2026, 3, 15), [date(2026, 3, 15), date(2026, 4, 15), date(2026, 5, 15),
                                         date(2026, 6, 15), date(2026, 7, 15)],
                     id="mid-month"),
    ],
)
def test_due_dates_clamp_to_month_end(first_due: date, expected: list[date]) -> None:
    schedule = amortise(D("1000.00"), D("0.05"), 5, first_due)
    assert [row.due_date for row in schedule.rows] == expected
    assert [add_months(first_due, k) for k in range(5)] == expected


def next_weekday(day: date) -> date:
    """A stand-in for the business calendar: Saturday and Sunday move to Monday."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def test_adjust_moves_due_dates_but_not_the_arithmetic() -> None:
    # 2026-03-15 is a Sunday -> Monday 16th; 2026-04-15 Wednesday; 2026-05-15 Friday;
    # 2026-06-15 Monday; 2026-08-15 Saturday -> Monday 17th. Clamping works on the
    # contractual dates, not the moved ones.
    plain = amortise(D("5000.00"), D("0.06"), 6, date(2026, 3, 15))
    moved = amortise(D("5000.00"), D("0.06"), 6, date(2026, 3, 15), adjust=next_weekday)
    assert [row.due_date for row in moved.rows] == [
        date(2026, 3, 16), date(2026, 4, 15), date(2026, 5, 15), date(2026, 6, 15),
        date(2026, 7, 15), date(2026, 8, 17)]
    assert [(r.principal, r.interest, r.total) for r in moved.rows] == [
        (r.principal, r.interest, r.total) for r in plain.rows]


def test_arrears_and_fees_are_separate_components() -> None:
    # Same loan as the 3-month worked example, with 10.00 and 5.00 of arrears in rows 1, 2
    # and a 1.00 fee in row 1: principal and interest are unchanged, totals grow.
    schedule = amortise(D("1000.00"), D("0.12"), 3, date(2026, 3, 15),
                        extra=[D("10.00"), D("5.00")], fees=[D("1.00")])
    assert [row.total for row in schedule.rows] == [D("351.02"), D("345.02"), D("340.03")]
    assert [row.arrears for row in schedule.rows] == [D("10.00"), D("5.00"), D("0.00")]
    assert [row.fees for row in schedule.rows] == [D("1.00"), D("0.00"), D("0.00")]
    assert schedule.total_arrears == D("15.00")
    assert schedule.total_fees == D("1.00")
    assert schedule.total_paid == D("1000.00") + D("20.07") + D("15.00") + D("1.00")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"extra": [D("1.00")] * 4}, "extra", id="more-extras-than-rows"),
        pytest.param({"fees": [D("1.00")] * 4}, "fees", id="more-fees-than-rows"),
        pytest.param({"extra": [D("-1.00")]}, "extra[0]", id="negative-extra"),
        pytest.param({"fees": [D("0.001")]}, "fees[0]", id="sub-cent-fee"),
    ],
)
def test_amortise_refuses_bad_components(kwargs: dict[str, list[Decimal]], field: str) -> None:
    with pytest.raises(OptionError) as info:
        amortise(D("1000.00"), D("0.12"), 3, date(2026, 3, 15), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


# --- cross-check against numpy_financial ------------------------------------------------------

NPF_LOANS = [
    ("120000.00", "0.0435", 36),
    ("120000.00", "0.0435", 48),
    ("123487.20", "0.0435", 60),
    ("10000.00", "0.12", 12),
    ("1000.00", "0.12", 3),
    ("100000.00", "0.06", 360),
    ("200000.00", "0.049", 240),
    ("1000000.00", "0.049", 360),
    ("50000.00", "0.0365", 24),
    ("8888.88", "0.1825", 18),
    ("5000.00", "0.2399", 24),
    ("300000.00", "0.0310", 120),
    ("75000.00", "0.0588", 84),
    ("2500.00", "0.36", 6),
    ("999999.99", "0.0001", 60),
]


@pytest.mark.parametrize(("principal", "rate", "months"),
                         [pytest.param(*loan, id=f"{loan[0]}@{loan[1]}x{loan[2]}")
                          for loan in NPF_LOANS])
def test_matches_numpy_financial(principal: str, rate: str, months: int) -> None:
    """What is compared, precisely (numpy_financial works in float on the unrounded plan):

    1. the instalment exactly: ``annuity_payment == round_half_even(-npf.pmt(r, n, P), 2)``
       (the float is converted through its shortest repr; none of these loans sits near a
       half cent);
    2. each row's interest within ``0.005 + r x drift_k + 1e-6``, where ``drift_k =
       0.01 x (k - 1) x (1 + r)^(k - 1)`` bounds how far our balance before row ``k`` can be
       from the unrounded one (each earlier row moves it by at most half a cent of instalment
       rounding plus half a cent of interest rounding, compounded at ``r``); 0.005 is this
       row's own interest rounding;
    3. each row's principal (but the last) within that bound + 0.005 (the instalment's own
       rounding); the last row's principal is our remaining balance, within ``drift_n``
       + 1e-6 of ``npf.ppmt`` for the last period;
    4. total interest within the sum of the per-row bounds of 2.
    """
    p = D(principal)
    schedule = amortise(p, D(rate), months, date(2026, 1, 15))
    r = float(rate) / 12
    instalment = annuity_payment(p, D(rate), months)

    pmt = -npf.pmt(r, months, float(principal))
    assert instalment == to_money(D(repr(float(pmt))))

    periods = np.arange(1, months + 1)
    ipmt = -npf.ipmt(r, periods, months, float(principal))
    ppmt = -npf.ppmt(r, periods, months, float(principal))
    bounds = []
    for k, row in enumerate(schedule.rows, start=1):
        drift = 0.01 * (k - 1) * (1 + r) ** (k - 1)
        bound = 0.005 + r * drift + 1e-6
        bounds.append(bound)
        assert abs(float(row.interest) - float(ipmt[k - 1])) <= bound, k
        if k < months:
            assert abs(float(row.principal) - float(ppmt[k - 1])) <= bound + 0.005, k
        else:
            assert abs(float(row.principal) - float(ppmt[k - 1])) <= drift + 1e-6
    assert abs(float(schedule.total_interest) - float(ipmt.sum())) <= sum(bounds)


def test_matches_numpy_financial_zero_rate_instalment() -> None:
    # npf.ipmt divides by the rate (a RuntimeWarning at 0%), so only the instalment is compared
    # at 0%: pmt(0, 12, -12000) = 1000.0.
    assert annuity_payment(D("12000.00"), D("0"), 12) == to_money(
        D(repr(float(-npf.pmt(0.0, 12, 12000.0)))))


# --- properties -------------------------------------------------------------------------------

amounts = st.integers(min_value=0, max_value=10**10).map(lambda cents: D(cents) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 10000)
terms = st.integers(min_value=1, max_value=360)


@settings(max_examples=150, deadline=None)
@given(principal=amounts, rate=rates, months=terms,
       extra=st.lists(st.integers(min_value=0, max_value=10**7), max_size=12),
       fees=st.lists(st.integers(min_value=0, max_value=10**5), max_size=12))
def test_every_schedule_repays_exactly(principal: Decimal, rate: Decimal, months: int,
                                       extra: list[int], fees: list[int]) -> None:
    extras = [D(c) / 100 for c in extra[:months]]
    charges = [D(c) / 100 for c in fees[:months]]
    schedule = amortise(principal, rate, months, date(2026, 1, 31), extra=extras, fees=charges)
    assert len(schedule.rows) == months
    assert schedule.total_principal == principal
    assert schedule.rows[-1].remaining_balance == 0
    assert schedule.total_arrears == sum(extras, D(0))
    assert schedule.total_fees == sum(charges, D(0))
    assert schedule.total_paid == (principal + schedule.total_interest + schedule.total_arrears
                                   + schedule.total_fees)
    before = principal
    for row in schedule.rows:
        assert row.principal >= 0 and row.interest >= 0
        assert 0 <= row.remaining_balance <= before
        assert row.total == row.principal + row.interest + row.arrears + row.fees
        before = row.remaining_balance


@settings(max_examples=150, deadline=None)
@given(principal=amounts, rate=rates, months=st.integers(min_value=1, max_value=120))
# A balance x 0.2875 / 12 exactly on a half cent: once missed by computing with rate / 12.
@example(principal=D("409.45"), rate=D("0.2875"), months=97)
def test_instalment_and_rows_match_exact_rationals(principal: Decimal, rate: Decimal,
                                                   months: int) -> None:
    assert fen(annuity_payment(principal, rate, months)) == exact_annuity_fen(principal, rate,
                                                                              months)
    schedule = amortise(principal, rate, months, date(2026, 1, 15))
    assert [(fen(r.principal), fen(r.interest), fen(r.remaining_balance))
            for r in schedule.rows] == reference_rows(principal, rate, months)


def test_schedule_totals_of_an_empty_schedule() -> None:
    assert Schedule(()).total_paid == D("0.00")
