"""domain.assessment: repayment capacity and the short-/long-term classification.

Figures are worked in the comments; the rules are the defaults (DSR ceiling 0.50, short-term
horizon 6 months) unless a row says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from domain.assessment import (
    AssessmentError,
    AssessmentRules,
    AssetItem,
    Capacity,
    DebtItem,
    ExpenseItem,
    IncomeItem,
    assess,
)

D = Decimal
RULES = AssessmentRules()


@dataclass(frozen=True)
class Case:
    incomes: tuple[str, ...]
    expenses: tuple[str, ...]
    debts: tuple[str, ...]
    instalment: str
    recovery: int | None
    disposable: str
    dsr: str | None
    affordable: str
    difficulty: str
    reason: str
    rules: AssessmentRules = RULES
    after: str | None = None


CASES = [
    # income 8000 + 1500 = 9500; expenses 3000 + 1200 = 4200; other debts 800:
    # disposable 9500 - 4200 - 800 = 4500.00; DSR (800 + 3561.59) / 9500 = 0.45911... -> 0.4591;
    # affordable min(4500.00, 9500 x 0.5 - 800 = 3950.00) = 3950.00 >= 3561.59
    pytest.param(Case(("8000.00", "1500.00"), ("3000.00", "1200.00"), ("800.00",), "3561.59",
                      3, "4500.00", "0.4591", "3950.00", "short_term",
                      "short-term difficulty: recovery expected in 3 months"),
                 id="recovery-in-3-months"),
    pytest.param(Case(("8000.00", "1500.00"), ("3000.00", "1200.00"), ("800.00",), "3561.59",
                      6, "4500.00", "0.4591", "3950.00", "short_term",
                      "recovery expected in 6 months (horizon 6)"),
                 id="recovery-at-the-horizon"),
    pytest.param(Case(("8000.00", "1500.00"), ("3000.00", "1200.00"), ("800.00",), "3561.59",
                      7, "4500.00", "0.4591", "3950.00", "long_term",
                      "beyond the short-term horizon of 6 months"),
                 id="recovery-beyond-horizon"),
    pytest.param(Case(("8000.00", "1500.00"), ("3000.00", "1200.00"), ("800.00",), "3561.59",
                      None, "4500.00", "0.4591", "3950.00", "long_term",
                      "no recovery of income is in sight"),
                 id="unknown-recovery"),
    # reduced income 4000, expenses 3000: disposable 1000.00, DSR 3561.59 / 4000 = 0.8903975
    # -> 0.8904; affordable min(1000, 2000) = 1000.00. After recovery to 9500: min(6500, 4750)
    # = 4750.00 >= 3561.59: short-term.
    pytest.param(Case(("4000.00",), ("3000.00",), (), "3561.59", 2, "1000.00", "0.8904",
                      "1000.00", "short_term",
                      "affordable at the recovered income of 9,500.00 (largest affordable "
                      "4,750.00)", after="9500.00"),
                 id="temporary-drop-recovers"),
    # recovery to only 6000: min(6000 - 3000, 3000) = 3000.00 < 3561.59: long-term.
    pytest.param(Case(("4000.00",), ("3000.00",), (), "3561.59", 2, "1000.00", "0.8904",
                      "1000.00", "long_term",
                      "even at the recovered income of 6,000.00 the current instalment is not "
                      "affordable (largest affordable 3,000.00)", after="6000.00"),
                 id="recovery-still-unaffordable"),
    # income 3000, expenses 2500, other debts 800: disposable -300.00 (negative is kept);
    # DSR (800 + 1000) / 3000 = 0.6000; affordable max(0, min(-300, 1500 - 800)) = 0.00
    pytest.param(Case(("3000.00",), ("2500.00",), ("800.00",), "1000.00", None, "-300.00",
                      "0.6000", "0.00", "long_term",
                      "expenses and other debt payments exceed the income"),
                 id="negative-disposable"),
    # no income: DSR undefined, nothing affordable
    pytest.param(Case((), ("1500.00",), ("200.00",), "1000.00", None, "-1700.00", None, "0.00",
                      "long_term", "no income: the debt-service ratio is undefined"),
                 id="no-income"),
    # DSR rounding to 4 places, half to even: 1000.40 / 8000 = 0.12505 -> 0.1250 (HALF_UP
    # would give 0.1251); affordable min(8000, 4000) = 4000.00
    pytest.param(Case(("8000.00",), (), (), "1000.40", 1, "8000.00", "0.1250", "4000.00",
                      "short_term", "debt-service ratio with the current instalment 0.1250 is "
                      "within the limit 0.50"),
                 id="dsr-half-even-down"),
    # 1001.20 / 8000 = 0.12515 -> 0.1252 (1 is odd, rounds up)
    pytest.param(Case(("8000.00",), (), (), "1001.20", 1, "8000.00", "0.1252", "4000.00",
                      "short_term", "0.1252"),
                 id="dsr-half-even-up"),
    # affordable to the cent, half to even: 8000.01 x 0.5 = 4000.005 -> 4000.00
    pytest.param(Case(("8000.01",), (), (), "100.00", 1, "8000.01", "0.0125", "4000.00",
                      "short_term", "largest affordable instalment 4,000.00"),
                 id="affordable-half-even-down"),
    # 8000.03 x 0.5 = 4000.015 -> 4000.02; DSR 100 / 8000.03 = 0.012499... -> 0.0125
    pytest.param(Case(("8000.03",), (), (), "100.00", 1, "8000.03", "0.0125", "4000.02",
                      "short_term", "largest affordable instalment 4,000.02"),
                 id="affordable-half-even-up"),
    # DSR above the ceiling: (1000 + 3000) / 6000 = 0.6667 > 0.50; affordable
    # min(6000 - 1000 - 1000 = 4000, 3000 - 1000 = 2000) = 2000.00 < 3000
    pytest.param(Case(("6000.00",), ("1000.00",), ("1000.00",), "3000.00", None, "4000.00",
                      "0.6667", "2000.00", "long_term",
                      "current instalment 3,000.00 is not affordable now"),
                 id="over-the-dsr-ceiling"),
    # bank rules: ceiling 0.40, horizon 3 months. 10000 x 0.4 = 4000; recovery in 4 months is
    # beyond the horizon.
    pytest.param(Case(("10000.00",), ("2000.00",), (), "3561.59", 4, "8000.00", "0.3562",
                      "4000.00", "long_term", "beyond the short-term horizon of 3 months",
                      rules=AssessmentRules(max_debt_service_ratio=D("0.40"),
                                            short_term_max_months=3)),
                 id="bank-rules"),
]


@pytest.mark.parametrize("case", CASES)
def test_capacity(case: Case) -> None:
    capacity = assess(
        [IncomeItem(f"income-{i}", D(a), proof_ref=f"doc-{i}") for i, a in enumerate(case.incomes)],
        [ExpenseItem(f"expense-{i}", D(a)) for i, a in enumerate(case.expenses)],
        [],
        [DebtItem(f"lender-{i}", D(a), D("10000.00")) for i, a in enumerate(case.debts)],
        current_instalment=D(case.instalment), expected_recovery_months=case.recovery,
        rules=case.rules, income_after_recovery=None if case.after is None else D(case.after))
    assert capacity.monthly_income == sum((D(a) for a in case.incomes), D("0.00"))
    assert capacity.monthly_expenses == sum((D(a) for a in case.expenses), D("0.00"))
    assert capacity.other_debt_payments == sum((D(a) for a in case.debts), D("0.00"))
    assert capacity.disposable_income == D(case.disposable)
    assert capacity.debt_service_ratio == (None if case.dsr is None else D(case.dsr))
    if capacity.debt_service_ratio is not None:
        assert capacity.debt_service_ratio.as_tuple().exponent == -4
    assert capacity.max_affordable_instalment == D(case.affordable)
    assert capacity.difficulty == case.difficulty
    assert any(case.reason in reason for reason in capacity.reasons), capacity.reasons
    assert capacity.reasons[0].startswith("income ")


def test_worked_reasons_in_full() -> None:
    capacity = assess([IncomeItem("salary", D("8000.00"), "payslip-2026-01")],
                      [ExpenseItem("rent", D("2500.00"))],
                      [AssetItem("deposit", D("20000.00"), liquid=True),
                       AssetItem("flat", D("800000.00"))],
                      [DebtItem("card", D("500.00"), D("6000.00"))],
                      current_instalment=D("3561.59"), expected_recovery_months=None,
                      rules=RULES)
    # disposable 8000 - 2500 - 500 = 5000; DSR 4061.59 / 8000 = 0.50769... -> 0.5077;
    # affordable min(5000, 4000 - 500) = 3500.00; only the deposit is liquid.
    assert capacity == Capacity(
        monthly_income=D("8000.00"), monthly_expenses=D("2500.00"),
        other_debt_payments=D("500.00"), disposable_income=D("5000.00"),
        debt_service_ratio=D("0.5077"), max_affordable_instalment=D("3500.00"),
        liquid_assets=D("20000.00"), difficulty="long_term",
        reasons=(
            "income 8,000.00 - expenses 2,500.00 - other debt payments 500.00 = disposable "
            "income 5,000.00",
            "debt-service ratio with the current instalment 0.5077 is above the limit 0.50",
            "largest affordable instalment 3,500.00: the lower of the disposable income and "
            "0.50 x income less other debt payments",
            "current instalment 3,561.59 is not affordable now",
            "long-term difficulty: no recovery of income is in sight",
            "liquid assets 20,000.00 are available",
        ))


@pytest.mark.parametrize(
    ("build", "field"),
    [
        pytest.param(lambda: IncomeItem("salary", D("-1.00")), "monthly_amount",
                     id="negative-income"),
        pytest.param(lambda: ExpenseItem("rent", D("-0.01")), "monthly_amount",
                     id="negative-expense"),
        pytest.param(lambda: AssetItem("deposit", D("-5.00"), liquid=True), "value",
                     id="negative-asset"),
        pytest.param(lambda: DebtItem("card", D("-1.00"), D("100.00")), "monthly_payment",
                     id="negative-debt-payment"),
        pytest.param(lambda: DebtItem("card", D("1.00"), D("-100.00")), "outstanding",
                     id="negative-debt-outstanding"),
        pytest.param(lambda: IncomeItem("salary", 8000.0), "monthly_amount",  # type: ignore[arg-type]
                     id="float-income"),
        pytest.param(lambda: IncomeItem("salary", D("8000.001")), "monthly_amount",
                     id="sub-cent-income"),
        pytest.param(lambda: IncomeItem("salary", D("NaN")), "monthly_amount",
                     id="nan-income"),
        pytest.param(lambda: assess([], [], [], [], current_instalment=D("-1.00"),
                                    expected_recovery_months=None, rules=RULES),
                     "current_instalment", id="negative-instalment"),
        pytest.param(lambda: assess([], [], [], [], current_instalment=D("1.00"),
                                    expected_recovery_months=-1, rules=RULES),
                     "expected_recovery_months", id="negative-recovery"),
        pytest.param(lambda: assess([], [], [], [], current_instalment=D("1.00"),
                                    expected_recovery_months=1, rules=RULES,
                                    income_after_recovery=D("-1.00")),
                     "income_after_recovery", id="negative-income-after-recovery"),
        pytest.param(lambda: AssessmentRules(max_debt_service_ratio=D("0")),
                     "max_debt_service_ratio", id="zero-dsr"),
        pytest.param(lambda: AssessmentRules(max_debt_service_ratio=D("1.5")),
                     "max_debt_service_ratio", id="dsr-above-one"),
        pytest.param(lambda: AssessmentRules(short_term_max_months=-1),
                     "short_term_max_months", id="negative-horizon"),
    ],
)
def test_refuses_negative_and_inexact_amounts(build: object, field: str) -> None:
    with pytest.raises(AssessmentError) as info:
        build()  # type: ignore[operator]
    assert info.value.field == field
    assert isinstance(info.value, ValueError)
    assert field in str(info.value)


def test_int_amounts_are_accepted_as_exact() -> None:
    item = IncomeItem("salary", 8000)  # type: ignore[arg-type]
    assert item.monthly_amount == D("8000.00")
    assert str(item.monthly_amount) == "8000.00"
