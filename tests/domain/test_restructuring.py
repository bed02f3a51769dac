"""domain.restructuring: the five negotiation options on a worked example, limits, properties.

The worked example: 120,000.00 outstanding at 4.35% with 36 instalments left, the next due
2026-03-15; arrears principal 3,000.00 + interest 435.00 + penalty 52.20 = 3,487.20.
r = 0.0435 / 12 = 0.003625; the current instalment annuity(120000, r, 36) = 3,561.59.
The current plan: 35 x 3,561.59 + a last row of 3,561.64 (rounding residue) = 128,217.29,
interest 8,217.29. What the current plan costs from now on: 128,217.29 + 3,487.20 =
131,704.49.

Schedule figures are checked against an exact integer (fen) reference and numpy_financial.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import numpy_financial as npf  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import to_money
from domain.restructuring import (
    LoanPosition,
    OptionError,
    OptionLimits,
    RestructuringOption,
    ScheduleRow,
    all_options,
    annuity_payment,
    arrears_instalments,
    current_plan,
    extend_term,
    full_restructure,
    reduce_payment,
    same_day,
    spread_arrears,
)

D = Decimal
RATE = D("0.0435")
NEXT_DUE = date(2026, 3, 15)  # a Sunday
TODAY = date(2026, 2, 14)
LIMITS = OptionLimits()
CAPACITY = D("4000.00")
CURRENT_PLAN_COST = D("131704.49")


def position(**changes: object) -> LoanPosition:
    fields: dict[str, object] = dict(
        outstanding_principal=D("120000.00"), annual_rate=RATE, remaining_instalments=36,
        current_instalment=D("3561.59"), next_due_date=NEXT_DUE,
        arrears_principal=D("3000.00"), arrears_interest=D("435.00"),
        penalty_interest=D("52.20"))
    fields.update(changes)
    return LoanPosition(**fields)  # type: ignore[arg-type]


POSITION = position()


def reference_fen(principal: Decimal, annual_rate: Decimal, instalment: Decimal,
                  months: int) -> tuple[list[int], list[int]]:
    """(principal parts, interest parts) in fen of a level plan, exact integer arithmetic."""
    r = Fraction(annual_rate) / 12
    balance, a = int(principal * 100), int(instalment * 100)
    parts, interests = [], []
    for k in range(months):
        interest = round(balance * r)  # Fraction rounds half to even
        part = balance if k == months - 1 else min(max(a - interest, 0), balance)
        balance -= part
        parts.append(part)
        interests.append(interest)
    return parts, interests


def npf_instalment(principal: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    return to_money(D(repr(float(-npf.pmt(float(annual_rate) / 12, months, float(principal))))))


def check_rows(option: RestructuringOption) -> None:
    rows = option.schedule.rows
    assert [row.number for row in rows] == list(range(1, len(rows) + 1))
    assert all(a.due_date <= b.due_date for a, b in pairwise(rows))
    for row in rows:
        assert min(row.principal, row.interest, row.arrears, row.fees) >= 0
        assert row.remaining_balance >= 0
        assert row.total == row.principal + row.interest + row.arrears + row.fees
    assert rows[-1].remaining_balance == 0
    effect = option.effect
    assert effect.total_cost == option.schedule.total_paid
    assert effect.extra_cost == effect.total_cost - effect.current_plan_cost
    assert option.within_limits == (not option.limit_violations)


# --- the position and the current plan -------------------------------------------------------

def test_worked_example_position() -> None:
    assert annuity_payment(D("120000.00"), RATE, 36) == D("3561.59")
    assert npf_instalment(D("120000.00"), RATE, 36) == D("3561.59")
    assert POSITION.arrears_total == D("3487.20")
    plan = current_plan(POSITION)
    assert [row.total for row in plan.rows] == [D("3561.59")] * 35 + [D("3561.64")]
    assert plan.total_paid == D("128217.29")
    assert plan.total_paid + POSITION.arrears_total == CURRENT_PLAN_COST
    parts, interests = reference_fen(D("120000.00"), RATE, D("3561.59"), 36)
    assert [int(row.principal * 100) for row in plan.rows] == parts
    assert [int(row.interest * 100) for row in plan.rows] == interests


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"outstanding_principal": D("-1.00")}, "outstanding_principal",
                     id="negative-principal"),
        pytest.param({"arrears_interest": D("-0.01")}, "arrears_interest",
                     id="negative-arrears"),
        pytest.param({"penalty_interest": D("1.005")}, "penalty_interest", id="sub-cent"),
        pytest.param({"fees": 1.5}, "fees", id="float-fees"),
        pytest.param({"annual_rate": D("-0.01")}, "annual_rate", id="negative-rate"),
        pytest.param({"remaining_instalments": 0}, "remaining_instalments", id="no-instalments"),
        # 120000 x 0.003625 = 435.00 is the month's interest: 434.99 never amortises
        pytest.param({"current_instalment": D("434.99")}, "current_instalment",
                     id="instalment-below-interest"),
    ],
)
def test_position_refuses(changes: dict[str, object], field: str) -> None:
    with pytest.raises(OptionError) as info:
        position(**changes)
    assert info.value.field == field


# --- the five options on the worked example ----------------------------------------------------

def test_a_spread_arrears() -> None:
    # 3487.20 / 6 = 581.20 exactly: six parts of 581.20; row 1 = 3561.59 + 581.20 = 4142.79.
    # The plan is otherwise unchanged and spread arrears bear no interest: no extra cost.
    option = spread_arrears(POSITION, 6, adjust=same_day, limits=LIMITS, capacity=CAPACITY)
    check_rows(option)
    rows = option.schedule.rows
    assert option.kind == "spread_arrears" and option.params == {"m": "6"}
    assert [row.arrears for row in rows[:6]] == [D("581.20")] * 6
    assert all(row.arrears == 0 for row in rows[6:])
    assert option.schedule.total_arrears == POSITION.arrears_total
    assert option.schedule.total_principal == D("120000.00")
    assert option.schedule.total_interest == D("8217.29")
    effect = option.effect
    assert (effect.new_instalment, effect.first_instalment) == (D("4142.79"), D("4142.79"))
    assert effect.total_cost == effect.current_plan_cost == CURRENT_PLAN_COST
    assert effect.extra_cost == D("0.00")
    assert effect.months_until_current == 6
    assert effect.fits_capacity is False  # 4142.79 > 4000.00
    assert option.within_limits


@pytest.mark.parametrize(
    ("m", "parts"),
    [
        # 3487.20 / 4 = 871.80 exactly
        pytest.param(4, ["871.80"] * 4, id="four"),
        # 3487.20 / 7 = 498.1714... -> 498.17; last 3487.20 - 6 x 498.17 = 498.18
        pytest.param(7, ["498.17"] * 6 + ["498.18"], id="seven-last-takes-residue"),
        # 3487.20 / 9 = 387.4666... -> 387.47; last 3487.20 - 8 x 387.47 = 3487.20 - 3099.76
        #  = 387.44
        pytest.param(9, ["387.47"] * 8 + ["387.44"], id="nine-last-smaller"),
        pytest.param(1, ["3487.20"], id="all-at-once"),
    ],
)
def test_a_split_of_the_arrears(m: int, parts: list[str]) -> None:
    option = spread_arrears(POSITION, m, adjust=same_day, limits=LIMITS, capacity=None)
    assert [row.arrears for row in option.schedule.rows[:m]] == [D(p) for p in parts]
    assert option.schedule.total_arrears == D("3487.20")
    assert option.effect.fits_capacity is None
    assert option.effect.months_until_current == m


def test_b_arrears_instalments_on_their_own_dates() -> None:
    # Six arrears instalments of 581.20 from 2026-02-14 (Feb 14, Mar 14, ..., Jul 14) beside
    # the plan's 15ths: 36 + 6 = 42 rows. The first monthly cycle (Feb 15 .. Mar 15) holds the
    # Mar 14 arrears instalment and the Mar 15 plan instalment: 581.20 + 3561.59 = 4142.79;
    # the Feb 14 one is paid up front (first_instalment 581.20).
    option = arrears_instalments(POSITION, 6, start=TODAY, adjust=same_day, limits=LIMITS,
                                 capacity=CAPACITY)
    check_rows(option)
    rows = option.schedule.rows
    assert len(rows) == 42
    assert rows[0] == ScheduleRow(1, date(2026, 2, 14), D("0.00"), D("0.00"), D("581.20"),
                                  D("0.00"), D("581.20"), D("120000.00"))
    assert rows[1].due_date == date(2026, 3, 14) and rows[1].arrears == D("581.20")
    assert rows[2].due_date == date(2026, 3, 15) and rows[2].total == D("3561.59")
    # an arrears-only row after a plan row carries that row's balance
    assert rows[3].due_date == date(2026, 4, 14)
    assert rows[3].remaining_balance == rows[2].remaining_balance == D("116873.41")
    assert option.schedule.total_arrears == D("3487.20")
    effect = option.effect
    assert effect.first_instalment == D("581.20")
    assert effect.new_instalment == D("4142.79")
    assert effect.total_cost == CURRENT_PLAN_COST and effect.extra_cost == D("0.00")
    assert effect.months_until_current == 6  # Feb 14 .. Jul 14, inclusive
    assert effect.fits_capacity is False
    assert option.params == {"k": "6", "start": "2026-02-14"}


def test_b_merges_with_plan_rows_on_the_same_adjusted_date() -> None:
    # Starting on the next due date, each arrears instalment falls on a plan date: merged.
    # With the weekend rule, Sunday 2026-03-15 moves to Monday 16th for both.
    option = arrears_instalments(POSITION, 6, start=NEXT_DUE, adjust=next_weekday,
                                 limits=LIMITS, capacity=CAPACITY)
    check_rows(option)
    rows = option.schedule.rows
    assert len(rows) == 36
    assert rows[0].due_date == date(2026, 3, 16)
    assert [row.arrears for row in rows[:6]] == [D("581.20")] * 6
    assert option.effect.new_instalment == D("4142.79")


def test_b_beyond_maturity_is_an_extension() -> None:
    # 3 instalments left (due Mar, Apr, May 15); 6 arrears instalments from Mar 15 run to
    # Aug 15: 3 months beyond the last plan date.
    short = position(outstanding_principal=D("10000.00"), remaining_instalments=3,
                     current_instalment=annuity_payment(D("10000.00"), RATE, 3))
    option = arrears_instalments(short, 6, start=NEXT_DUE, adjust=same_day,
                                 limits=OptionLimits(max_extension_months=2), capacity=None)
    check_rows(option)
    assert option.effect.extension_months == 3
    assert option.limit_violations == (
        "max_extension_months: runs 3 months beyond the current plan (limit 2)",)
    assert option.schedule.rows[-1].due_date == date(2026, 8, 15)
    assert option.schedule.rows[-1].remaining_balance == 0


def test_c_extend_term() -> None:
    # n' = 36 + 12 = 48; A' = annuity(120000, r, 48) = 2728.32 (npf agrees). The arrears are
    # spread over the first min(12, 48) = 12 instalments: 3487.20 / 12 = 290.60 exactly, so
    # the new instalment is 2728.32 + 290.60 = 3018.92. Interest over 48 months: 10,959.47
    # (exact reference below), extra cost 10,959.47 - 8,217.29 = 2,742.18.
    option = extend_term(POSITION, 12, adjust=same_day, limits=LIMITS, capacity=CAPACITY)
    check_rows(option)
    rows = option.schedule.rows
    assert len(rows) == 48
    assert npf_instalment(D("120000.00"), RATE, 48) == D("2728.32")
    assert [row.principal + row.interest for row in rows[:-1]] == [D("2728.32")] * 47
    assert [row.arrears for row in rows] == [D("290.60")] * 12 + [D("0.00")] * 36
    _, interests = reference_fen(D("120000.00"), RATE, D("2728.32"), 48)
    assert [int(row.interest * 100) for row in rows] == interests
    assert option.schedule.total_interest == D("10959.47") == D(sum(interests)) / 100
    assert option.schedule.total_principal == D("120000.00")
    assert option.schedule.total_arrears == D("3487.20")
    effect = option.effect
    assert effect.new_instalment == D("3018.92")
    assert effect.total_cost == D("134446.67")  # 120000 + 10959.47 + 3487.20
    assert effect.extra_cost == D("2742.18")
    assert effect.months_until_current == 12
    assert effect.fits_capacity is True
    assert (effect.agreement_months, effect.extension_months) == (48, 12)
    assert option.within_limits


@pytest.mark.parametrize(
    ("k", "limits", "violations"),
    [
        pytest.param(24, LIMITS, (), id="60-months-is-allowed"),
        pytest.param(25, LIMITS, ("max_agreement_months: the agreement runs 61 months "
                                  "(limit 60)",), id="agreement-61-months"),
        pytest.param(61, LIMITS, ("max_agreement_months: the agreement runs 97 months "
                                  "(limit 60)",
                                  "max_extension_months: runs 61 months beyond the current plan "
                                  "(limit 60)"), id="extension-61-months"),
        pytest.param(12, OptionLimits(max_extension_months=6),
                     ("max_extension_months: runs 12 months beyond the current plan "
                      "(limit 6)",), id="bank-limit-6-months"),
    ],
)
def test_c_limits_are_flagged_not_hidden(k: int, limits: OptionLimits,
                                         violations: tuple[str, ...]) -> None:
    option = extend_term(POSITION, k, adjust=same_day, limits=limits, capacity=None)
    check_rows(option)
    assert option.limit_violations == violations
    assert option.within_limits is (not violations)
    assert len(option.schedule.rows) == 36 + k


def test_d_reduce_payment_to_80_percent() -> None:
    # target = 80% of 3561.59 = 2849.272 -> 2849.27 (the all_options default).
    # n' = ceil(-ln(1 - 435/2849.27) / ln(1.003625)) = ceil(0.1656... / 0.0036184...) =
    # ceil(45.78...) = 46 (npf.nper agrees). 45 rows of 2849.27 and a smaller last row.
    option = reduce_payment(POSITION, D("2849.27"), adjust=same_day, limits=LIMITS,
                            capacity=CAPACITY)
    check_rows(option)
    rows = option.schedule.rows
    nper = npf.nper(0.0435 / 12, -2849.27, 120000.0)
    assert 45 < nper < 46
    assert len(rows) == 46
    assert [row.principal + row.interest for row in rows[:-1]] == [D("2849.27")] * 45
    last = rows[-1].principal + rows[-1].interest
    assert last < D("2849.27")
    parts, interests = reference_fen(D("120000.00"), RATE, D("2849.27"), 46)
    assert [int(row.principal * 100) for row in rows] == parts
    assert option.schedule.total_interest == D(sum(interests)) / 100 == D("10451.03")
    assert [row.arrears for row in rows[:12]] == [D("290.60")] * 12
    effect = option.effect
    assert effect.new_instalment == D("3139.87")  # 2849.27 + 290.60
    assert effect.total_cost == D("133938.23")  # 120000 + 10451.03 + 3487.20
    assert effect.extra_cost == D("2233.74")
    assert effect.months_until_current == 12
    assert effect.fits_capacity is True
    assert (effect.agreement_months, effect.extension_months) == (46, 10)


@pytest.mark.parametrize(
    ("target", "months"),
    [
        # -ln(1 - 435/3000) / ln(1.003625) = 0.15665 / 0.0036184 = 43.29 -> 44
        pytest.param("3000.00", 44, id="3000"),
        # -ln(1 - 435/600) / ln(1.003625) = 1.29098 / 0.0036184 = 356.8 -> 357
        pytest.param("600.00", 357, id="600-very-long"),
        # above the current instalment the term shrinks: 435/4000 -> 32.0 .. -> 32
        pytest.param("4000.00", 32, id="above-current"),
    ],
)
def test_d_term_follows_the_target(target: str, months: int) -> None:
    option = reduce_payment(POSITION, D(target), adjust=same_day, limits=LIMITS, capacity=None)
    check_rows(option)
    assert len(option.schedule.rows) == months
    nper = npf.nper(0.0435 / 12, -float(target), 120000.0)
    assert months - 1 < nper <= months
    assert option.schedule.total_principal == D("120000.00")
    assert option.effect.agreement_months == months
    assert option.within_limits is (months <= 60)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("435.00", id="equal-to-interest"),  # 120000 x 0.003625 = 435.00
        pytest.param("100.00", id="below-interest"),
        pytest.param("0.00", id="zero"),
        # 435.01 amortises, but over ln(43501)/0.0036184 = 2944 months: beyond 100 years
        pytest.param("435.01", id="more-than-100-years"),
    ],
)
def test_d_target_too_low_raises(target: str) -> None:
    with pytest.raises(OptionError) as info:
        reduce_payment(POSITION, D(target), adjust=same_day, limits=LIMITS, capacity=None)
    assert info.value.field == "target"


def test_e_full_restructure_capitalises_everything() -> None:
    # P' = 120000 + 3000 + 435 + 52.20 = 123,487.20 over 60 months at 4.35%:
    # A' = 2293.76 (npf agrees); interest 14,138.52; total 137,625.72; extra 5,921.23.
    option = full_restructure(POSITION, new_rate=RATE, months=60, waive_penalty=False,
                              adjust=same_day, limits=LIMITS, capacity=CAPACITY)
    check_rows(option)
    schedule = option.schedule
    assert npf_instalment(D("123487.20"), RATE, 60) == D("2293.76")
    assert schedule.total_principal == D("123487.20")
    assert schedule.total_arrears == D("0.00")
    _, interests = reference_fen(D("123487.20"), RATE, D("2293.76"), 60)
    assert schedule.total_interest == D(sum(interests)) / 100 == D("14138.52")
    effect = option.effect
    assert effect.new_instalment == effect.first_instalment == D("2293.76")
    assert effect.total_cost == D("137625.72")
    assert effect.extra_cost == D("5921.23")
    assert effect.months_until_current == 0
    assert effect.fits_capacity is True
    assert (effect.agreement_months, effect.extension_months) == (60, 24)
    assert option.params == {"new_rate": "0.0435", "months": "60", "waive_penalty": "false",
                             "capitalise": "all"}


def test_e_waiver_at_a_lower_rate_saves_money() -> None:
    # Penalty 52.20 waived: P' = 123,435.00 at 3% over 36 months; A' = 3589.64; total
    # 129,227.02, 2,477.47 less than the current plan.
    option = full_restructure(POSITION, new_rate=D("0.03"), months=36, waive_penalty=True,
                              adjust=same_day, limits=LIMITS, capacity=None)
    check_rows(option)
    assert option.schedule.total_principal == D("123435.00")
    assert npf_instalment(D("123435.00"), D("0.03"), 36) == D("3589.64")
    assert option.effect.total_cost == D("129227.02")
    assert option.effect.extra_cost == D("-2477.47")
    assert any("waived" in note for note in option.effect.notes)


def test_e_penalty_and_fees_with_the_first_instalment() -> None:
    # capitalise principal and interest only: P' = 123,435.00; penalty 52.20 and fees 20.00
    # go into row 1's arrears: 72.20.
    with_fees = position(fees=D("20.00"))
    option = full_restructure(with_fees, new_rate=RATE, months=60, waive_penalty=False,
                              capitalise="principal_and_interest", adjust=same_day,
                              limits=LIMITS, capacity=None)
    check_rows(option)
    rows = option.schedule.rows
    assert option.schedule.total_principal == D("123435.00")
    assert rows[0].arrears == D("72.20")
    assert option.schedule.total_arrears == D("72.20")
    assert option.effect.new_instalment == annuity_payment(D("123435.00"), RATE, 60) + D("72.20")
    assert option.effect.months_until_current == 0


def test_e_limits() -> None:
    option = full_restructure(POSITION, new_rate=RATE, months=72, waive_penalty=False,
                              adjust=same_day, limits=LIMITS, capacity=None)
    assert option.limit_violations == (
        "max_agreement_months: the agreement runs 72 months (limit 60)",)
    assert option.effect.extension_months == 36


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda: spread_arrears(POSITION, 0, adjust=same_day, limits=LIMITS,
                                            capacity=None), "m", id="a-m-zero"),
        pytest.param(lambda: spread_arrears(POSITION, 37, adjust=same_day, limits=LIMITS,
                                            capacity=None), "m", id="a-m-beyond-plan"),
        pytest.param(lambda: spread_arrears(position(arrears_principal=D("0.10"),
                                                     arrears_interest=D("0.00"),
                                                     penalty_interest=D("0.05")),
                                            10, adjust=same_day, limits=LIMITS, capacity=None),
                     # 0.15 / 10 -> 0.02; 9 x 0.02 = 0.18 > 0.15: the last part would be -0.03
                     "m", id="a-arrears-too-small-to-split"),
        pytest.param(lambda: arrears_instalments(POSITION, 0, start=TODAY, adjust=same_day,
                                                 limits=LIMITS, capacity=None), "k",
                     id="b-k-zero"),
        pytest.param(lambda: extend_term(POSITION, 0, adjust=same_day, limits=LIMITS,
                                         capacity=None), "k", id="c-k-zero"),
        pytest.param(lambda: full_restructure(POSITION, new_rate=RATE, months=0,
                                              waive_penalty=False, adjust=same_day,
                                              limits=LIMITS, capacity=None), "months",
                     id="e-months-zero"),
        pytest.param(lambda: full_restructure(POSITION, new_rate=D("-0.01"), months=12,
                                              waive_penalty=False, adjust=same_day,
                                              limits=LIMITS, capacity=None), "new_rate",
                     id="e-negative-rate"),
        pytest.param(lambda: spread_arrears(POSITION, 6, adjust=same_day, limits=LIMITS,
                                            capacity=D("-1.00")), "capacity",
                     id="negative-capacity"),
        pytest.param(lambda: all_options(POSITION, capacity=None, limits=LIMITS,
                                         adjust=same_day, today=date(2026, 3, 16)), "today",
                     id="stale-position"),
        pytest.param(lambda: all_options(POSITION, capacity=None, limits=LIMITS,
                                         adjust=same_day, today=TODAY, spread_m=0),
                     "spread_m", id="all-spread-m-zero"),
        pytest.param(lambda: all_options(POSITION, capacity=None, limits=LIMITS,
                                         adjust=same_day, today=TODAY, target=D("400.00")),
                     "target", id="all-explicit-target-too-low"),
    ],
)
def test_impossible_inputs_raise(call: object, field: str) -> None:
    with pytest.raises(OptionError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kind", "build"),
    [
        pytest.param("spread", lambda lim: spread_arrears(POSITION, 13, adjust=same_day,
                                                          limits=lim, capacity=None),
                     id="a-13-parts"),
        pytest.param("instalments", lambda lim: arrears_instalments(
            POSITION, 13, start=TODAY, adjust=same_day, limits=lim, capacity=None),
                     id="b-13-parts"),
    ],
)
def test_spreading_beyond_the_limit_is_flagged(kind: str, build: object) -> None:
    option = build(LIMITS)  # type: ignore[operator]
    assert option.limit_violations == (
        "max_spread_instalments: arrears spread over 13 instalments (limit 12)",)
    assert option.schedule.total_arrears == D("3487.20")


# --- all_options --------------------------------------------------------------------------------

def test_all_options_worked_example() -> None:
    options = all_options(POSITION, capacity=CAPACITY, limits=LIMITS, adjust=same_day,
                          today=TODAY)
    table = [(o.kind, o.effect.new_instalment, o.effect.total_cost, o.effect.extra_cost,
              o.effect.months_until_current, o.effect.fits_capacity) for o in options]
    assert table == [
        ("spread_arrears", D("4142.79"), D("131704.49"), D("0.00"), 6, False),
        ("arrears_instalments", D("4142.79"), D("131704.49"), D("0.00"), 6, False),
        ("extend_term", D("3018.92"), D("134446.67"), D("2742.18"), 12, True),
        ("reduce_payment", D("3139.87"), D("133938.23"), D("2233.74"), 12, True),
        ("full_restructure", D("2293.76"), D("137625.72"), D("5921.23"), 0, True),
    ]
    assert all(o.within_limits for o in options)
    assert all(o.effect.current_plan_cost == CURRENT_PLAN_COST for o in options)
    for option in options:
        check_rows(option)


def test_all_options_adjusts_to_a_short_plan() -> None:
    # 3 instalments left: (a) spreads over 3 and says so; (e) defaults to 3 + 24 = 27 months.
    short = position(outstanding_principal=D("10000.00"), remaining_instalments=3,
                     current_instalment=annuity_payment(D("10000.00"), RATE, 3))
    a, _, c, _, e = all_options(short, capacity=None, limits=LIMITS, adjust=same_day,
                                today=TODAY)
    assert a.params == {"m": "3"}
    assert a.effect.notes[0] == "only 3 instalments remain: spread over 3"
    assert len(c.schedule.rows) == 15
    assert e.params["months"] == "27"


def test_all_options_default_target_when_80_percent_is_below_interest() -> None:
    # 24% a year, 300 instalments left: r = 0.02, the month's interest on 100,000 is 2,000.00;
    # the instalment 2000 x 1.02^300 / (1.02^300 - 1) = 2000 x 380.2 / 379.2 = 2,005.27, and
    # 2,005.27 x 0.8 = 1,604.22 would never amortise, so the target becomes the instalment over
    # 300 + 60 = 360 months: 2000 x 1.02^360 / (1.02^360 - 1) = 2000 x 1247.56 / 1246.56 =
    # 2,001.604..., rounded UP to 2,001.61 (2,001.60 would need a 361st month).
    long = position(outstanding_principal=D("100000.00"), annual_rate=D("0.24"),
                    remaining_instalments=300,
                    current_instalment=annuity_payment(D("100000.00"), D("0.24"), 300))
    assert long.current_instalment == D("2005.27")
    d = all_options(long, capacity=None, limits=LIMITS, adjust=same_day, today=TODAY)[3]
    assert annuity_payment(D("100000.00"), D("0.24"), 360) == D("2001.60")
    assert d.params == {"target": "2001.61"}
    assert len(d.schedule.rows) == 360
    rounded_down = reduce_payment(long, D("2001.60"), adjust=same_day, limits=LIMITS,
                                  capacity=None)
    assert len(rounded_down.schedule.rows) == 361
    assert "target set to the instalment over 360 months" in d.effect.notes[0]
    assert d.effect.extension_months == 60


def test_no_arrears_means_current_already() -> None:
    clean = position(arrears_principal=D("0"), arrears_interest=D("0"),
                     penalty_interest=D("0"))
    for option in all_options(clean, capacity=None, limits=LIMITS, adjust=same_day,
                              today=TODAY):
        check_rows(option)
        assert option.effect.months_until_current == 0
        assert option.schedule.total_arrears == 0
    b = arrears_instalments(clean, 6, start=TODAY, adjust=same_day, limits=LIMITS,
                            capacity=None)
    assert len(b.schedule.rows) == 36


def test_matured_loan_all_in_arrears() -> None:
    # Nothing outstanding, 3,487.20 in arrears: the current plan asks for nothing more; (e)
    # turns the arrears into a new loan of 3,487.20 over 1 + 24 = 25 months at 4.35%.
    matured = position(outstanding_principal=D("0.00"), remaining_instalments=1,
                       current_instalment=D("0.00"))
    options = all_options(matured, capacity=CAPACITY, limits=LIMITS, adjust=same_day,
                          today=TODAY)
    for option in options:
        check_rows(option)
        assert option.effect.current_plan_cost == D("3487.20")
    a, _, c, d, e = options
    assert a.params == {"m": "1"} and a.effect.new_instalment == D("3487.20")
    # (c) 1 + 12 = 13 rows of nothing but the arrears: 290.60 in each of the first 12
    assert len(c.schedule.rows) == 13
    assert [row.total for row in c.schedule.rows] == [D("290.60")] * 12 + [D("0.00")]
    assert len(d.schedule.rows) == 1
    assert e.params["months"] == "25"
    assert e.schedule.total_principal == D("3487.20")
    assert e.effect.new_instalment == annuity_payment(D("3487.20"), RATE, 25)


def next_weekday(day: date) -> date:
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


# --- properties -------------------------------------------------------------------------------

cents = st.integers


@st.composite
def positions(draw: st.DrawFn) -> LoanPosition:
    principal = D(draw(cents(min_value=0, max_value=10**9))) / 100
    rate = D(draw(st.integers(min_value=0, max_value=2400))) / 10000
    remaining = draw(st.integers(min_value=1, max_value=240))
    instalment = annuity_payment(principal, rate, remaining)
    instalment += D(draw(cents(min_value=0, max_value=2000))) / 100
    return LoanPosition(
        outstanding_principal=principal, annual_rate=rate, remaining_instalments=remaining,
        current_instalment=instalment,
        next_due_date=date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 730))),
        arrears_principal=D(draw(cents(min_value=0, max_value=10**7))) / 100,
        arrears_interest=D(draw(cents(min_value=0, max_value=10**6))) / 100,
        penalty_interest=D(draw(cents(min_value=0, max_value=10**5))) / 100,
        fees=D(draw(cents(min_value=0, max_value=10**4))) / 100)


@settings(max_examples=60, deadline=None)
@given(pos=positions(), days_before=st.integers(min_value=0, max_value=45),
       capacity=st.none() | cents(min_value=0, max_value=10**7).map(lambda c: D(c) / 100),
       waive=st.booleans(), spread_m=st.integers(1, 24), arrears_k=st.integers(1, 24),
       extend_k=st.integers(1, 72))
def test_every_option_repays_its_principal_and_arrears(
        pos: LoanPosition, days_before: int, capacity: Decimal | None, waive: bool,
        spread_m: int, arrears_k: int, extend_k: int) -> None:
    options = all_options(pos, capacity=capacity, limits=LIMITS, adjust=next_weekday,
                          today=pos.next_due_date - timedelta(days=days_before),
                          spread_m=spread_m, arrears_k=arrears_k, extend_k=extend_k,
                          waive_penalty=waive)
    assert [o.kind for o in options] == ["spread_arrears", "arrears_instalments",
                                         "extend_term", "reduce_payment", "full_restructure"]
    arrears = pos.arrears_total
    for option in options[:4]:
        check_rows(option)
        assert option.schedule.total_principal == pos.outstanding_principal
        assert option.schedule.total_arrears == arrears
    for option in options[:2]:
        assert option.effect.extra_cost == 0  # same plan, arrears without interest
    restructure = options[4]
    check_rows(restructure)
    waived = pos.penalty_interest if waive else D(0)
    assert (restructure.schedule.total_principal + restructure.schedule.total_arrears
            + waived) == pos.outstanding_principal + arrears
    assert restructure.effect.months_until_current == 0
    for option in options:
        effect = option.effect
        assert effect.fits_capacity == (None if capacity is None
                                        else effect.new_instalment <= capacity)
        if arrears == 0:
            assert effect.months_until_current == 0


@settings(max_examples=100, deadline=None)
@given(pos=positions(), share=st.integers(min_value=1, max_value=150))
def test_reduce_payment_pays_the_target_until_a_smaller_last_instalment(
        pos: LoanPosition, share: int) -> None:
    interest = to_money(pos.outstanding_principal * pos.annual_rate / 12)
    target = max(interest + D("0.01"), to_money(pos.current_instalment * share / 100))
    try:
        option = reduce_payment(pos, target, adjust=same_day, limits=LIMITS, capacity=None)
    except OptionError as exc:  # only a term beyond 100 years
        assert exc.field == "target"
        return
    check_rows(option)
    rows = option.schedule.rows
    assert all(row.principal + row.interest == target for row in rows[:-1])
    assert (0 if pos.outstanding_principal == 0 else D("0.01")) <= (
        rows[-1].principal + rows[-1].interest) <= target
    assert option.schedule.total_principal == pos.outstanding_principal
    assert option.schedule.total_arrears == pos.arrears_total
