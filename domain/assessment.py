"""Financial assessment in negotiation: what the customer can afford each month.

The negotiation team collects income (with a reference to its proof), expenses, assets and
other debts, and the assessment turns them into a repayment capacity:

* ``disposable_income = income - expenses - other debt payments`` (may be negative);
* ``debt_service_ratio = (other debt payments + current instalment) / income``, to four
  places with banker's rounding; ``None`` when there is no income;
* ``max_affordable_instalment = max(0, min(disposable_income,
  income x max_debt_service_ratio - other debt payments))`` to the cent: the instalment the
  customer can pay from what is left and without exceeding the debt-service ceiling;
* ``liquid_assets``: the value of the assets marked liquid (deposits, funds), which could
  clear arrears at once.

Difficulty (short-term or long-term hardship) decides which options the team leads with:
spreading short-term arrears, or restructuring the plan. The rule, kept deliberately simple:

* **short_term** when a recovery is expected (``expected_recovery_months`` is given) within
  ``rules.short_term_max_months`` AND the current instalment is affordable at the income
  expected after the recovery (``income_after_recovery``, with the same expenses and other
  debts). When ``income_after_recovery`` is not given, the assessor's expected recovery is
  taken to mean the customer's normal income returns and the current instalment with it;
* **long_term** otherwise: no expected recovery (``None``), a recovery beyond the short-term
  horizon, or a current instalment that stays unaffordable even at the recovered income.

``reasons`` states each step in English for the case record. All amounts are ``Decimal``
to the cent (floats refused); a negative or sub-cent amount raises ``AssessmentError`` (a
``ValueError``) whose ``field`` names it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal

from domain.money import ZERO, MoneyError, to_money

Difficulty = Literal["short_term", "long_term"]
RATIO_PLACES = Decimal("0.0001")
_PRECISION = 50


class AssessmentError(ValueError):
    """An input the assessment cannot use; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _amount(field: str, value: Decimal) -> Decimal:
    """A non-negative amount to the cent, as a ``Decimal`` with two places."""
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int):
        raise AssessmentError(field, "must be a Decimal amount (floats lose cents)")
    number = Decimal(value)
    if not number.is_finite():
        raise AssessmentError(field, "must be a finite amount")
    if number < 0:
        raise AssessmentError(field, f"must not be negative (got {number})")
    try:
        amount = to_money(number)
    except MoneyError as exc:
        raise AssessmentError(field, "too large to hold to the cent") from exc
    if amount != number:
        raise AssessmentError(field, "must be an amount to the cent (at most two decimals)")
    return amount


def _months(field: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AssessmentError(field, "must be a whole number of months >= 0")
    return value


def _fmt(amount: Decimal) -> str:
    return f"{to_money(amount):,.2f}"


@dataclass(frozen=True)
class IncomeItem:
    source: str
    """E.g. ``"salary"``, ``"rent"``, ``"pension"``."""
    monthly_amount: Decimal
    proof_ref: str | None = None
    """Reference to the proof document held elsewhere (never its content)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "monthly_amount", _amount("monthly_amount", self.monthly_amount))


@dataclass(frozen=True)
class ExpenseItem:
    category: str
    monthly_amount: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "monthly_amount", _amount("monthly_amount", self.monthly_amount))


@dataclass(frozen=True)
class AssetItem:
    kind: str
    value: Decimal
    liquid: bool = False
    """Can be turned into cash at once (deposits, money-market funds)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _amount("value", self.value))


@dataclass(frozen=True)
class DebtItem:
    lender: str
    monthly_payment: Decimal
    outstanding: Decimal

    def __post_init__(self) -> None:
        object.__setattr__(self, "monthly_payment",
                           _amount("monthly_payment", self.monthly_payment))
        object.__setattr__(self, "outstanding", _amount("outstanding", self.outstanding))


@dataclass(frozen=True)
class AssessmentRules:
    """Thresholds of the assessment; the policy supplies them."""

    max_debt_service_ratio: Decimal = Decimal("0.50")
    """Ceiling on (all debt payments) / income, as a fraction."""
    short_term_max_months: int = 6
    """A recovery expected within this many months makes the hardship short-term."""

    def __post_init__(self) -> None:
        ratio = self.max_debt_service_ratio
        if isinstance(ratio, bool | float) or not isinstance(ratio, Decimal | int):
            raise AssessmentError("max_debt_service_ratio", "must be a Decimal fraction")
        if not Decimal(ratio).is_finite() or not 0 < ratio <= 1:
            raise AssessmentError("max_debt_service_ratio", "must be in (0, 1]")
        object.__setattr__(self, "max_debt_service_ratio", Decimal(ratio))
        _months("short_term_max_months", self.short_term_max_months)


@dataclass(frozen=True)
class Capacity:
    monthly_income: Decimal
    monthly_expenses: Decimal
    other_debt_payments: Decimal
    disposable_income: Decimal
    """Income - expenses - other debt payments; negative when they exceed the income."""
    debt_service_ratio: Decimal | None
    """(Other debt payments + current instalment) / income to 4 places; None without income."""
    max_affordable_instalment: Decimal
    """max(0, min(disposable, income x max DSR - other debt payments)), to the cent."""
    liquid_assets: Decimal
    difficulty: Difficulty
    reasons: tuple[str, ...]


def _affordable(income: Decimal, expenses: Decimal, other_debts: Decimal,
                max_dsr: Decimal) -> Decimal:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        disposable = income - expenses - other_debts
        ceiling = income * max_dsr - other_debts
        return max(ZERO, to_money(min(disposable, ceiling)))


def assess(
    incomes: Sequence[IncomeItem],
    expenses: Sequence[ExpenseItem],
    assets: Sequence[AssetItem],
    debts: Sequence[DebtItem],
    *,
    current_instalment: Decimal,
    expected_recovery_months: int | None,
    rules: AssessmentRules,
    income_after_recovery: Decimal | None = None,
) -> Capacity:
    """The customer's repayment capacity and the kind of difficulty (see the module doc)."""
    instalment = _amount("current_instalment", current_instalment)
    if expected_recovery_months is not None:
        _months("expected_recovery_months", expected_recovery_months)
    recovered_income = (None if income_after_recovery is None
                        else _amount("income_after_recovery", income_after_recovery))

    income = sum((item.monthly_amount for item in incomes), ZERO)
    spent = sum((item.monthly_amount for item in expenses), ZERO)
    other = sum((item.monthly_payment for item in debts), ZERO)
    liquid = sum((item.value for item in assets if item.liquid), ZERO)
    disposable = income - spent - other
    max_dsr = rules.max_debt_service_ratio

    reasons = [f"income {_fmt(income)} - expenses {_fmt(spent)} - other debt payments "
               f"{_fmt(other)} = disposable income {_fmt(disposable)}"]
    if disposable < 0:
        reasons.append("expenses and other debt payments exceed the income")

    ratio: Decimal | None
    if income == 0:
        ratio = None
        reasons.append("no income: the debt-service ratio is undefined")
    else:
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            ratio = ((other + instalment) / income).quantize(RATIO_PLACES,
                                                             rounding=ROUND_HALF_EVEN)
        relation = "above" if ratio > max_dsr else "within"
        reasons.append(f"debt-service ratio with the current instalment {ratio} is {relation} "
                       f"the limit {max_dsr}")

    affordable = _affordable(income, spent, other, max_dsr)
    reasons.append(f"largest affordable instalment {_fmt(affordable)}: the lower of the "
                   f"disposable income and {max_dsr} x income less other debt payments")
    affordable_now = instalment <= affordable
    reasons.append(f"current instalment {_fmt(instalment)} is "
                   f"{'affordable' if affordable_now else 'not affordable'} now")

    horizon = rules.short_term_max_months
    difficulty: Difficulty
    if expected_recovery_months is None:
        difficulty = "long_term"
        reasons.append("long-term difficulty: no recovery of income is in sight")
    elif expected_recovery_months > horizon:
        difficulty = "long_term"
        reasons.append(f"long-term difficulty: recovery expected in {expected_recovery_months} "
                       f"months, beyond the short-term horizon of {horizon} months")
    elif recovered_income is None:
        difficulty = "short_term"
        reasons.append(f"short-term difficulty: recovery expected in {expected_recovery_months} "
                       f"months (horizon {horizon}); the normal income is taken to return "
                       f"and with it the capacity to pay the current instalment")
    else:
        after = _affordable(recovered_income, spent, other, max_dsr)
        if instalment <= after:
            difficulty = "short_term"
            reasons.append(f"short-term difficulty: recovery expected in "
                           f"{expected_recovery_months} months (horizon {horizon}) and the "
                           f"current instalment is affordable at the recovered income of "
                           f"{_fmt(recovered_income)} (largest affordable {_fmt(after)})")
        else:
            difficulty = "long_term"
            reasons.append(f"long-term difficulty: even at the recovered income of "
                           f"{_fmt(recovered_income)} the current instalment is not affordable "
                           f"(largest affordable {_fmt(after)})")
    if liquid > 0:
        reasons.append(f"liquid assets {_fmt(liquid)} are available")

    return Capacity(
        monthly_income=income,
        monthly_expenses=spent,
        other_debt_payments=other,
        disposable_income=disposable,
        debt_service_ratio=ratio,
        max_affordable_instalment=affordable,
        liquid_assets=liquid,
        difficulty=difficulty,
        reasons=tuple(reasons),
    )
