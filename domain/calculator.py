"""The customers' repayment calculator: what paying now, later or in instalments costs.

Part of the self-help resources the bank sends with its reminders ("还款计划计算器").
Pure: the caller passes today's date; the HTTP page and the CLI are the adapters.

Penalty interest (罚息) accrues per day at the contract rate plus the policy's uplift::

    penalty = amount x annual_rate x (1 + uplift) x days / day_basis

computed exactly and rounded once, at the end, to the cent with banker's rounding
(``domain.money.to_money``). ``day_basis`` is 360 by default, the convention Chinese banks
use for daily rates (日利率 = 年利率 / 360).

Simplifications, so the figures are an estimate and core banking's statement prevails:

* The penalty is charged on the whole overdue amount (the arrears), not only on the
  principal part of the missed instalments: the calculator does not know how an instalment
  splits into principal and interest. For an amortising loan this slightly overstates it.
* Unpaid penalty does not itself bear interest (no compounding, 复利).
* Only the arrears are covered: the instalments not yet due are not part of any scenario.

Instalment plans (paying the arrears in ``m`` monthly instalments) pay every 30 days, the
first one 30 days after today. The arrears are split into ``m`` parts of
``round(arrears / m)``, the last taking ``arrears - (m - 1) x round(arrears / m)``, so the
parts add up to the arrears exactly. Before each payment, what is still outstanding accrues
penalty for the period since the previous payment (the first period from the oldest unpaid
due date); a row's penalty is that period's penalty, each rounded to the cent on its own, and
the row's total is its part plus its penalty. A split that would leave a part of zero or
less (arrears of a few cents) is not offered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from domain.money import ZERO, MoneyError, to_money

DEFAULT_DAY_BASIS = 360
DAY_BASES = (360, 365)
INSTALMENT_INTERVAL_DAYS = 30
"""Monthly instalments are paid every 30 days, the first one 30 days after today."""
_PRECISION = 60
"""Digits kept before the final rounding: products of bank-sized figures stay exact, and a
quotient that does not terminate is never exactly on a half cent."""


class CalculatorError(ValueError):
    """An input the calculator cannot work with; ``field`` names the argument."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _decimal(field: str, value: Decimal) -> Decimal:
    if isinstance(value, float) or not isinstance(value, Decimal | int):
        raise CalculatorError(field, "must be a Decimal (floats lose cents)")
    number = Decimal(value)
    if not number.is_finite():
        raise CalculatorError(field, "must be a finite number")
    if number < 0:
        raise CalculatorError(field, "must not be negative")
    return number


def _day_basis(day_basis: int) -> int:
    if isinstance(day_basis, bool) or not isinstance(day_basis, int) or day_basis <= 0:
        raise CalculatorError("day_basis", "must be a positive number of days")
    return day_basis


def penalty_interest(overdue_principal: Decimal, annual_rate: Decimal, uplift: Decimal,
                     days: int, day_basis: int = DEFAULT_DAY_BASIS) -> Decimal:
    """Penalty on ``overdue_principal`` for ``days`` days, rounded once to the cent.

    ``annual_rate`` and ``uplift`` are fractions (0.0435 for 4.35%, 0.50 for +50%).
    Negative days raise ``ValueError`` (a ``CalculatorError``); zero days cost 0.00.
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise CalculatorError("days", "must be a whole number of days")
    if days < 0:
        raise CalculatorError("days", "must not be negative")
    principal = _decimal("overdue_principal", overdue_principal)
    rate = _decimal("annual_rate", annual_rate)
    up = _decimal("uplift", uplift)
    basis = _day_basis(day_basis)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        exact = principal * rate * (1 + up) * days / basis
    try:
        return to_money(exact)
    except MoneyError as exc:
        raise CalculatorError("overdue_principal", "too large to compute to the cent") from exc


@dataclass(frozen=True)
class PayOnDate:
    """Paying all the arrears on one date."""

    label: str
    """``"today"`` or ``"in_<n>_days"``; adapters translate it."""
    pay_on: date
    days_overdue: int
    """Days from the oldest unpaid due date to ``pay_on``: the days penalty accrues for."""
    arrears: Decimal
    penalty: Decimal
    total: Decimal


@dataclass(frozen=True)
class InstalmentPlanRow:
    number: int
    """1-based."""
    pay_on: date
    principal_part: Decimal
    """This payment's share of the arrears."""
    penalty: Decimal
    """Penalty on what was outstanding over the period ending on ``pay_on``."""
    total: Decimal


@dataclass(frozen=True)
class InstalmentOption:
    instalments: int
    rows: tuple[InstalmentPlanRow, ...]
    total: Decimal
    """Sum of the rows' totals: the arrears plus every period's penalty."""


@dataclass(frozen=True)
class Scenarios:
    today: PayOnDate
    later: tuple[PayOnDate, ...]
    """One per positive entry of ``in_days``, soonest first (0 is ``today``)."""
    plans: tuple[InstalmentOption, ...]
    """One per entry of ``instalments``, in the order given, less degenerate splits."""


def _money(field: str, value: Decimal) -> Decimal:
    number = _decimal(field, value)
    try:
        amount = to_money(number)
    except MoneyError as exc:
        raise CalculatorError(field, "too large to hold to the cent") from exc
    if amount != number:
        raise CalculatorError(field, "must be an amount to the cent (at most two decimals)")
    return amount


def split_arrears(arrears: Decimal, instalments: int) -> tuple[Decimal, ...]:
    """``instalments`` parts adding up to ``arrears`` exactly; the last takes the remainder."""
    if isinstance(instalments, bool) or not isinstance(instalments, int) or instalments < 1:
        raise CalculatorError("instalments", "must be a whole number >= 1")
    total = _money("arrears", arrears)
    part = to_money(total / instalments)
    return (*([part] * (instalments - 1)), total - part * (instalments - 1))


def _after(start: date, days: int, field: str) -> date:
    try:
        return start + timedelta(days=days)
    except OverflowError as exc:
        raise CalculatorError(field, "reaches beyond the calendar") from exc


def repayment_scenarios(
    *,
    arrears: Decimal,
    oldest_due: date,
    today: date,
    annual_rate: Decimal,
    uplift: Decimal,
    in_days: Sequence[int] = (0, 7, 30),
    instalments: Sequence[int] = (2, 3, 6),
    day_basis: int = DEFAULT_DAY_BASIS,
) -> Scenarios:
    """What clearing ``arrears`` (overdue since ``oldest_due``) costs, as of ``today``.

    Raises ``CalculatorError`` (a ``ValueError`` naming the argument) on unusable input:
    arrears not positive or not to the cent, ``oldest_due`` after ``today``, negative
    rates or days, fewer than one instalment.
    """
    amount = _money("arrears", arrears)
    if amount <= ZERO:
        raise CalculatorError("arrears", "must be more than zero")
    if oldest_due > today:
        raise CalculatorError("oldest_due", "must not be after today")
    rate = _decimal("annual_rate", annual_rate)
    up = _decimal("uplift", uplift)
    basis = _day_basis(day_basis)
    for n in in_days:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise CalculatorError("in_days", "must be whole numbers of days >= 0")
    for m in instalments:
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise CalculatorError("instalments", "must be whole numbers >= 1")

    def pay_on(label: str, day: date) -> PayOnDate:
        days = (day - oldest_due).days
        penalty = penalty_interest(amount, rate, up, days, basis)
        return PayOnDate(label=label, pay_on=day, days_overdue=days, arrears=amount,
                         penalty=penalty, total=amount + penalty)

    later = tuple(pay_on(f"in_{n}_days", _after(today, n, "in_days"))
                  for n in sorted(set(in_days)) if n > 0)
    plans = []
    for m in instalments:
        parts = split_arrears(amount, m)
        if min(parts) <= ZERO:
            continue
        rows = []
        outstanding = amount
        period_start = oldest_due
        for number, part in enumerate(parts, start=1):
            due = _after(today, INSTALMENT_INTERVAL_DAYS * number, "instalments")
            penalty = penalty_interest(outstanding, rate, up, (due - period_start).days, basis)
            rows.append(InstalmentPlanRow(number=number, pay_on=due, principal_part=part,
                                          penalty=penalty, total=part + penalty))
            outstanding -= part
            period_start = due
        plans.append(InstalmentOption(instalments=m, rows=tuple(rows),
                                      total=sum((row.total for row in rows), ZERO)))
    return Scenarios(today=pay_on("today", today), later=later, plans=tuple(plans))
