"""domain.calculator: penalty interest, pay-on-date scenarios and instalment plans.

Expected figures are worked by hand in the comments. The running example: arrears
1,000.00 overdue since 2026-01-15, contract rate 4.35%, uplift 50%, day basis 360, so the
penalty rate is 0.0435 x 1.5 = 0.06525 a year and 1,000 x 0.06525 / 360 = 0.18125 a day.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calculator import (
    CalculatorError,
    InstalmentPlanRow,
    PayOnDate,
    penalty_interest,
    repayment_scenarios,
    split_arrears,
)

D = Decimal
DUE = date(2026, 1, 15)
TODAY = date(2026, 2, 14)  # 30 days after DUE
RATE = D("0.0435")
UPLIFT = D("0.50")


@pytest.mark.parametrize(
    ("principal", "rate", "uplift", "days", "basis", "expected"),
    [
        # 1000 x 0.0435 x 1.5 x 30 / 360 = 1957.5 / 360 = 5.4375 -> 5.44
        pytest.param("1000.00", "0.0435", "0.50", 30, 360, "5.44", id="30-days"),
        # 1000 x 0.06525 x 37 / 360 = 2414.25 / 360 = 6.70625 -> 6.71
        pytest.param("1000.00", "0.0435", "0.50", 37, 360, "6.71", id="37-days"),
        # 1000 x 0.06525 x 60 / 360 = 10.875 -> half cent, 7 is odd -> 10.88
        pytest.param("1000.00", "0.0435", "0.50", 60, 360, "10.88", id="half-cent-to-even-up"),
        # 1000 x 0.036 x 1.25 x 1 / 360 = 45 / 360 = 0.125 -> half cent, 2 is even -> 0.12
        # (HALF_UP would give 0.13)
        pytest.param("1000", "0.036", "0.25", 1, 360, "0.12", id="half-cent-to-even-down"),
        # same, 3 days: 0.375 -> half cent, 7 is odd -> 0.38
        pytest.param("1000", "0.036", "0.25", 3, 360, "0.38", id="half-cent-three-days"),
        # 1000 x 0.0435 x 1.5 x 30 / 365 = 1957.5 / 365 = 5.36301... -> 5.36
        pytest.param("1000.00", "0.0435", "0.50", 30, 365, "5.36", id="365-day-basis"),
        # no uplift: 1000 x 0.0435 x 30 / 360 = 1305 / 360 = 3.625 -> half cent, 2 even -> 3.62
        pytest.param("1000.00", "0.0435", "0", 30, 360, "3.62", id="no-uplift"),
        # 0 days: nothing
        pytest.param("1000.00", "0.0435", "0.50", 0, 360, "0.00", id="zero-days"),
        # 0 principal: nothing
        pytest.param("0.00", "0.0435", "0.50", 30, 360, "0.00", id="zero-principal"),
        # 0.01 x 0.06525 x 30 / 360 = 0.0000544 -> 0.00 (never -0.00)
        pytest.param("0.01", "0.0435", "0.50", 30, 360, "0.00", id="sub-cent-rounds-to-zero"),
        # 333.34 x 0.06525 x 30 / 360 = 333.34 x 0.0054375 = 1.81253625 -> 1.81
        pytest.param("333.34", "0.0435", "0.50", 30, 360, "1.81", id="odd-amount"),
        # rounding only once: 1 day on 1000 is 0.18125; 30 x round(0.18125)=30 x 0.18 = 5.40
        # would be wrong, 30 days is 5.4375 -> 5.44 (see first row); 1 day alone -> 0.18
        pytest.param("1000.00", "0.0435", "0.50", 1, 360, "0.18", id="one-day"),
        # a big loan, 10 years at 24% + 100%, more digits than Decimal's default precision:
        # 9999999999999.99 x 0.24 x 2 = 4799999999999.9952; x 3650 = 17519999999999982.48;
        # / 360 = 48666666666666.6180 -> 48666666666666.62
        pytest.param("9999999999999.99", "0.24", "1", 3650, 360, "48666666666666.62",
                     id="large-amount-stays-exact"),
    ],
)
def test_penalty_interest(principal: str, rate: str, uplift: str, days: int, basis: int,
                          expected: str) -> None:
    result = penalty_interest(D(principal), D(rate), D(uplift), days, basis)
    assert result == D(expected)
    assert str(result) == expected  # quantised to the cent


def test_penalty_default_day_basis_is_360() -> None:
    assert penalty_interest(D("1000.00"), RATE, UPLIFT, 30) == D("5.44")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"days": -1}, "days", id="negative-days"),
        pytest.param({"overdue_principal": D("-1")}, "overdue_principal", id="negative-principal"),
        pytest.param({"annual_rate": D("-0.01")}, "annual_rate", id="negative-rate"),
        pytest.param({"uplift": D("-0.1")}, "uplift", id="negative-uplift"),
        pytest.param({"day_basis": 0}, "day_basis", id="zero-basis"),
        pytest.param({"annual_rate": 0.0435}, "annual_rate", id="float-rate"),
        pytest.param({"overdue_principal": D("NaN")}, "overdue_principal", id="nan"),
    ],
)
def test_penalty_interest_rejects(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"overdue_principal": D("100"), "annual_rate": RATE,
                               "uplift": UPLIFT, "days": 1, "day_basis": 360}
    args.update(kwargs)
    with pytest.raises(ValueError, match=field) as info:
        penalty_interest(**args)  # type: ignore[arg-type]
    assert isinstance(info.value, CalculatorError)
    assert info.value.field == field


def test_pay_on_date_scenarios() -> None:
    s = repayment_scenarios(arrears=D("1000.00"), oldest_due=DUE, today=TODAY,
                            annual_rate=RATE, uplift=UPLIFT)
    # today: 30 days, 5.4375 -> 5.44
    assert s.today == PayOnDate("today", TODAY, 30, D("1000.00"), D("5.44"), D("1005.44"))
    assert s.later == (
        # +7 days = 2026-02-21, 37 days overdue: 6.70625 -> 6.71
        PayOnDate("in_7_days", date(2026, 2, 21), 37, D("1000.00"), D("6.71"), D("1006.71")),
        # +30 days = 2026-03-16, 60 days overdue: 10.875 -> 10.88
        PayOnDate("in_30_days", date(2026, 3, 16), 60, D("1000.00"), D("10.88"), D("1010.88")),
    )


def _rows(option_rows: tuple[InstalmentPlanRow, ...]) -> list[tuple[object, ...]]:
    return [(r.number, r.pay_on, str(r.principal_part), str(r.penalty), str(r.total))
            for r in option_rows]


def test_instalment_plans() -> None:
    s = repayment_scenarios(arrears=D("1000.00"), oldest_due=DUE, today=TODAY,
                            annual_rate=RATE, uplift=UPLIFT)
    two, three, six = s.plans
    # Payments every 30 days from today: 03-16, 04-15, 05-15, 06-14, 07-14, 08-13.
    # The first period runs from the due date (01-15) to 03-16: 60 days on the full 1000.00:
    # 10.875 -> 10.88. Each later period is 30 days on what is still outstanding, at
    # 0.06525 x 30 / 360 = 0.0054375 per unit.
    assert two.instalments == 2
    assert _rows(two.rows) == [
        # 1000 / 2 = 500.00 each
        (1, date(2026, 3, 16), "500.00", "10.88", "510.88"),
        # 500.00 x 0.0054375 = 2.71875 -> 2.72
        (2, date(2026, 4, 15), "500.00", "2.72", "502.72"),
    ]
    assert two.total == D("1013.60")  # 510.88 + 502.72
    assert three.instalments == 3
    assert _rows(three.rows) == [
        # round(1000 / 3) = 333.33; the last takes 1000 - 2 x 333.33 = 333.34
        (1, date(2026, 3, 16), "333.33", "10.88", "344.21"),
        # outstanding 666.67 x 0.0054375 = 3.625018125 -> 3.63
        (2, date(2026, 4, 15), "333.33", "3.63", "336.96"),
        # outstanding 333.34 x 0.0054375 = 1.81253625 -> 1.81
        (3, date(2026, 5, 15), "333.34", "1.81", "335.15"),
    ]
    assert three.total == D("1016.32")  # 344.21 + 336.96 + 335.15
    assert six.instalments == 6
    assert _rows(six.rows) == [
        # round(1000 / 6) = round(166.666..) = 166.67; the last takes 1000 - 5 x 166.67 = 166.65
        (1, date(2026, 3, 16), "166.67", "10.88", "177.55"),
        # 833.33 x 0.0054375 = 4.531231875 -> 4.53
        (2, date(2026, 4, 15), "166.67", "4.53", "171.20"),
        # 666.66 x 0.0054375 = 3.62496375 -> 3.62
        (3, date(2026, 5, 15), "166.67", "3.62", "170.29"),
        # 499.99 x 0.0054375 = 2.718695625 -> 2.72
        (4, date(2026, 6, 14), "166.67", "2.72", "169.39"),
        # 333.32 x 0.0054375 = 1.8124275 -> 1.81
        (5, date(2026, 7, 14), "166.67", "1.81", "168.48"),
        # 166.65 x 0.0054375 = 0.906159375 -> 0.91
        (6, date(2026, 8, 13), "166.65", "0.91", "167.56"),
    ]
    # 1000.00 + (10.88 + 4.53 + 3.62 + 2.72 + 1.81 + 0.91 = 24.47)
    assert six.total == D("1024.47")


def test_custom_days_and_instalments() -> None:
    s = repayment_scenarios(arrears=D("1000.00"), oldest_due=DUE, today=TODAY,
                            annual_rate=RATE, uplift=UPLIFT, in_days=(14, 0, 14, 1),
                            instalments=(1,))
    # 0 is "today"; duplicates collapse; soonest first.
    # 31 days: 1000 x 0.06525 x 31 / 360 = 2022.75 / 360 = 5.61875 -> 5.62
    # 44 days: 1000 x 0.06525 x 44 / 360 = 2871 / 360 = 7.975 = 797.5 cents -> even 798 -> 7.98
    assert [(p.label, p.days_overdue, str(p.penalty)) for p in s.later] == [
        ("in_1_days", 31, "5.62"), ("in_14_days", 44, "7.98")]
    # One instalment 30 days out = paying in full in 30 days: 60 days, 10.88
    (one,) = s.plans
    assert _rows(one.rows) == [(1, date(2026, 3, 16), "1000.00", "10.88", "1010.88")]


def test_due_today_costs_no_penalty() -> None:
    s = repayment_scenarios(arrears=D("500.00"), oldest_due=TODAY, today=TODAY,
                            annual_rate=RATE, uplift=UPLIFT, in_days=())
    assert s.today.days_overdue == 0
    assert s.today.penalty == D("0.00")
    assert s.today.total == D("500.00")
    assert s.later == ()


def test_zero_rate_means_no_penalty() -> None:
    s = repayment_scenarios(arrears=D("500.00"), oldest_due=DUE, today=TODAY,
                            annual_rate=D("0"), uplift=UPLIFT)
    assert all(p.penalty == 0 for p in (s.today, *s.later))
    assert all(plan.total == D("500.00") for plan in s.plans)


@pytest.mark.parametrize(
    ("arrears", "instalments", "parts"),
    [
        pytest.param("1000.00", 3, ("333.33", "333.33", "333.34"), id="thirds"),
        pytest.param("1000.00", 6, ("166.67",) * 5 + ("166.65",), id="sixths-last-smaller"),
        pytest.param("100.00", 1, ("100.00",), id="one"),
        # 0.05 / 3 = 0.01666.. -> 0.02, 0.02, last 0.05 - 0.04 = 0.01
        pytest.param("0.05", 3, ("0.02", "0.02", "0.01"), id="cents"),
        # 0.09 / 6 = 0.015 -> 0.02 (half to even); last 0.09 - 0.10 = -0.01
        pytest.param("0.09", 6, ("0.02",) * 5 + ("-0.01",), id="degenerate"),
    ],
)
def test_split_arrears(arrears: str, instalments: int, parts: tuple[str, ...]) -> None:
    assert tuple(str(p) for p in split_arrears(D(arrears), instalments)) == parts


def test_degenerate_split_is_not_offered() -> None:
    # 0.09 in 6 would need a negative last part (see above); 0.09 in 2: 0.04 (0.045 to even)
    # and 0.05 is fine; 0.09 in 3: 0.03 x 3 is fine.
    s = repayment_scenarios(arrears=D("0.09"), oldest_due=DUE, today=TODAY,
                            annual_rate=RATE, uplift=UPLIFT)
    assert [plan.instalments for plan in s.plans] == [2, 3]
    assert [str(row.principal_part) for row in s.plans[0].rows] == ["0.04", "0.05"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"arrears": D("0")}, "arrears", id="zero-arrears"),
        pytest.param({"arrears": D("-5")}, "arrears", id="negative-arrears"),
        pytest.param({"arrears": D("10.005")}, "arrears", id="fraction-of-a-cent"),
        pytest.param({"arrears": 100.0}, "arrears", id="float-arrears"),
        pytest.param({"oldest_due": TODAY + timedelta(days=1)}, "oldest_due", id="due-in-future"),
        pytest.param({"annual_rate": D("-0.01")}, "annual_rate", id="negative-rate"),
        pytest.param({"uplift": D("-0.5")}, "uplift", id="negative-uplift"),
        pytest.param({"in_days": (7, -1)}, "in_days", id="negative-in-days"),
        pytest.param({"instalments": (0,)}, "instalments", id="zero-instalments"),
        pytest.param({"day_basis": -360}, "day_basis", id="negative-basis"),
        pytest.param({"today": date.max, "oldest_due": date.max - timedelta(days=1)},
                     "in_days", id="beyond-the-calendar"),
    ],
)
def test_scenarios_reject(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"arrears": D("100.00"), "oldest_due": DUE, "today": TODAY,
                               "annual_rate": RATE, "uplift": UPLIFT}
    args.update(kwargs)
    with pytest.raises(CalculatorError) as info:
        repayment_scenarios(**args)  # type: ignore[arg-type]
    assert info.value.field == field


# --- properties -------------------------------------------------------------------------

amounts = st.decimals(min_value=D("0.01"), max_value=D("9999999999.99"), places=2,
                      allow_nan=False, allow_infinity=False)
rates = st.decimals(min_value=D("0"), max_value=D("0.36"), places=4)
uplifts = st.decimals(min_value=D("0"), max_value=D("1"), places=2)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@given(amounts, st.integers(min_value=1, max_value=120))
def test_parts_sum_exactly_to_the_arrears(arrears: Decimal, instalments: int) -> None:
    parts = split_arrears(arrears, instalments)
    assert len(parts) == instalments
    assert sum(parts, D("0")) == arrears
    assert all(p == p.quantize(D("0.01")) for p in parts)


@given(amounts, rates, uplifts, st.integers(min_value=0, max_value=5000),
       st.integers(min_value=0, max_value=5000), st.sampled_from([360, 365]))
def test_penalty_is_monotonic_in_days(principal: Decimal, rate: Decimal, uplift: Decimal,
                                      a: int, b: int, basis: int) -> None:
    low, high = sorted((a, b))
    assert (penalty_interest(principal, rate, uplift, low, basis)
            <= penalty_interest(principal, rate, uplift, high, basis))


@given(amounts, rates, uplifts, st.integers(min_value=0, max_value=2000), dates,
       st.lists(st.integers(min_value=0, max_value=400), max_size=4),
       st.lists(st.integers(min_value=1, max_value=24), max_size=4))
def test_totals_are_parts_plus_penalties(arrears: Decimal, rate: Decimal, uplift: Decimal,
                                         overdue_days: int, today: date, in_days: list[int],
                                         instalments: list[int]) -> None:
    s = repayment_scenarios(arrears=arrears, oldest_due=today - timedelta(days=overdue_days),
                            today=today, annual_rate=rate, uplift=uplift, in_days=in_days,
                            instalments=instalments)
    for pay in (s.today, *s.later):
        assert pay.total == pay.arrears + pay.penalty
        assert pay.penalty >= 0
    # paying later never costs less than paying today
    assert all(pay.total >= s.today.total for pay in s.later)
    for plan in s.plans:
        assert sum((row.principal_part for row in plan.rows), D("0")) == arrears
        assert all(row.principal_part > 0 for row in plan.rows)
        assert all(row.total == row.principal_part + row.penalty for row in plan.rows)
        assert plan.total == arrears + sum((row.penalty for row in plan.rows), D("0"))
        assert [row.number for row in plan.rows] == list(range(1, plan.instalments + 1))
