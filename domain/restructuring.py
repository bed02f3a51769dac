"""Repayment schedules and the five negotiation options of the bank's process.

The negotiation team offers, each with a detailed schedule and its expected effect:

(a) ``spread_arrears``      spread short-term arrears over the next instalments of the plan;
(b) ``arrears_instalments`` pay the arrears in separate monthly instalments;
(c) ``extend_term``         extend the term (lower instalment, more interest);
(d) ``reduce_payment``      lower the instalment to a target (the term follows);
(e) ``full_restructure``    restructure the whole plan for long-term hardship.

Money is ``Decimal`` to the cent with banker's rounding (``domain.money.to_money``), never
float. The instalment is computed in exact rational arithmetic, the rest exactly or with
50 significant digits, and each figure is rounded once.

Schedules (``amortise``)
    Level (annuity) instalment ``A = P·r·(1+r)^n / ((1+r)^n − 1)``, ``r`` = annual rate / 12,
    rounded to the cent (``P / n`` rounded when the rate is 0). Row ``k`` (1-based) falls due
    ``k − 1`` months after the first due date, on the same day of the month, clamped to the
    month end (Jan 31 → Feb 28/29 → Mar 31: each date is counted from the first, not from the
    previous one), then moved by ``adjust`` (the caller's business-calendar rule, e.g. the
    next working day). Each row's interest is ``round(balance before × r)``, its principal
    ``A − interest``; the last row takes the whole remaining balance, so the principal parts
    add up to the principal exactly and the balance ends at exactly 0.00. A principal part
    never exceeds the balance: a tiny loan may be repaid before its last row, and the rows
    after carry nothing (the row count is always the term). ``arrears`` (spread arrears) and
    ``fees`` are separate components of a row, included in its ``total``; they bear no
    interest. ``remaining_balance`` is the loan principal still outstanding after the row:
    arrears still owed are not part of it.

The current plan (``current_plan``)
    ``remaining_instalments`` rows of the position's ``current_instalment`` (as contracted,
    not recomputed), from ``next_due_date``, interest as above, the last row clearing the
    balance. What it costs from now on (``current_plan_cost``) is its rows plus the arrears
    (principal, interest, penalty accrued to date, fees).

Payment reduction (d)
    ``n' = ceil(−ln(1 − r·P'/A') / ln(1 + r))`` with 50-digit logarithms, valid only when
    ``A'`` exceeds the month's interest. The schedule pays ``A'`` until the cent-rounded
    balance plus interest is at most ``A'``, which is the last, smaller instalment. That is
    the formula's ``n'`` unless rounding each month's interest moves the end across a month
    (rare: a target within cents of the interest, or an exact term within a hair of a whole
    month); the option then notes both.

Arrears treatment in the options
    (a) ``a = round(arrears / m)`` is added to each of the next ``m`` instalments but the
        last, which takes ``arrears − (m − 1)·a``; the plan is otherwise unchanged.
    (b) ``k`` monthly arrears instalments (split as in (a)) falling due ``start``,
        ``start + 1 month``, ... (clamped, then ``adjust``-ed). They are merged by due date:
        an arrears instalment due on the same (adjusted) date as a plan instalment is put in
        that row's ``arrears``; on any other date it is a row of its own with principal and
        interest 0.00. Rows are numbered in date order.
    (c), (d) the arrears stay payable and are spread, as in (a), over the first
        ``min(limits.max_spread_instalments, n')`` instalments of the new plan (12 by
        default). When the arrears are a few cents, too little to split that way, they go
        over fewer instalments (noted).
    (e) the arrears are capitalised: ``P' = outstanding + arrears principal + arrears
        interest [+ penalty unless waived] [+ fees]``; with ``capitalise =
        "principal_and_interest"`` the penalty (unless waived) and the fees are not
        capitalised but added to the first instalment (``arrears`` of row 1).
    Spread or separately paid arrears bear no interest, and the figures assume no further
    penalty interest accrues on arrears covered by an agreement (the agreement stops it).

Effects (``OptionEffect``)
    ``total_cost`` is everything the schedule asks for (``Schedule.total_paid``);
    ``current_plan_cost`` the current plan's rows plus the arrears; ``extra_cost`` their
    difference (negative when a waiver saves money). ``new_instalment`` is the amount due in
    the plan's first monthly cycle: the rows due after ``next_due_date − 1 month`` and on or
    before the first plan due date (for (b) this includes an arrears instalment due a few
    days before the plan instalment; one due even earlier is paid up front and belongs to no
    cycle); ``first_instalment`` is the first row's total. ``months_until_current`` counts
    the monthly cycles up to and including the one in which the last part of the arrears is
    paid: ``m`` for (a), the spread count for (c) and (d), for (b) the months from the
    earlier of ``start`` and the next due date to the last arrears instalment, inclusive; 0
    without arrears and for (e), where the loan is current once the agreement is signed.
    ``fits_capacity`` is ``new_instalment <= capacity`` (``None`` without a capacity); a
    later cycle above the capacity is noted.

Limits (``OptionLimits``)
    ``agreement_months``: how long the agreement runs: ``m`` for (a), ``k`` for (b) (the rest
    of the plan is the original contract), the new term for (c), (d), (e). At most
    ``max_agreement_months`` (CBRC credit-card rule 2011 Art. 70: an individual instalment
    agreement runs at most 5 years). ``extension_months``: months beyond the current plan's
    last due date, at most ``max_extension_months``. (a) and (b) spread at most
    ``max_spread_instalments`` parts. An option beyond a limit is still returned, with
    ``within_limits`` False and ``limit_violations`` naming the limit; only impossible inputs
    (fewer than one instalment, a target too low to amortise, ...) raise ``OptionError``
    naming the parameter.

Pure: no I/O, no clock; ``all_options`` is told today's date.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import MAXYEAR, MINYEAR, date
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext
from fractions import Fraction
from typing import Literal

from domain.money import MINOR_UNIT, ZERO, MoneyError, to_money

OptionKind = Literal[
    "spread_arrears", "arrears_instalments", "extend_term", "reduce_payment", "full_restructure"
]
Capitalise = Literal["all", "principal_and_interest"]
Adjust = Callable[[date], date]

MAX_SCHEDULE_MONTHS = 1200
"""No schedule runs longer than 100 years: beyond that an input is wrong, not a plan."""
DEFAULT_TARGET_SHARE = Decimal("0.80")
"""``all_options`` aims ``reduce_payment`` at 80% of the current instalment by default."""
DEFAULT_RESTRUCTURE_EXTENSION = 24
"""``all_options`` restructures over the remaining term plus this many months by default."""
_PRECISION = 50
_INTEGER_TOLERANCE = Decimal("1e-30")


class OptionError(ValueError):
    """An impossible input for an option or a schedule; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@contextmanager
def _exact() -> Iterator[None]:
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        yield


def _number(field: str, value: Decimal) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int):
        raise OptionError(field, "must be a Decimal (floats lose cents)")
    number = Decimal(value)
    if not number.is_finite():
        raise OptionError(field, "must be a finite number")
    if number < 0:
        raise OptionError(field, f"must not be negative (got {number})")
    return number


def _money(field: str, value: Decimal) -> Decimal:
    number = _number(field, value)
    try:
        amount = to_money(number)
    except MoneyError as exc:
        raise OptionError(field, "too large to hold to the cent") from exc
    if amount != number:
        raise OptionError(field, "must be an amount to the cent (at most two decimals)")
    return amount


def _count(field: str, value: int, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise OptionError(field, f"must be a whole number >= {minimum}")
    if value > MAX_SCHEDULE_MONTHS:
        raise OptionError(field, f"must be at most {MAX_SCHEDULE_MONTHS}")
    return value


def _fmt(amount: Decimal) -> str:
    return f"{to_money(amount):,.2f}"


def same_day(day: date) -> date:
    """The identity ``adjust``: no business-calendar rule."""
    return day


def add_months(start: date, months: int) -> date:
    """``start`` plus ``months`` calendar months, the day clamped to the month's end."""
    index = start.year * 12 + start.month - 1 + months
    year, month0 = divmod(index, 12)
    if not MINYEAR <= year <= MAXYEAR:
        raise OptionError("months", "reaches beyond the calendar")
    month = month0 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def _whole_months(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (>= start); a clamped month end counts as whole."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day and end.day != calendar.monthrange(end.year, end.month)[1]:
        months -= 1
    return months


def _monthly_rate(annual_rate: Decimal) -> Decimal:
    with _exact():
        return annual_rate / 12


def _interest(balance: Decimal, annual_rate: Decimal) -> Decimal:
    """A month's interest, ``round(balance × annual_rate / 12)``, dividing last: the product
    is exact, so an exact half cent is seen as one (``balance × (rate / 12)`` with a rounded
    ``rate / 12`` could miss it)."""
    with _exact():
        return to_money(balance * annual_rate / 12)


@dataclass(frozen=True)
class LoanPosition:
    """Where the loan stands on the day the options are worked out.

    Amounts are non-negative ``Decimal`` to the cent, ``remaining_instalments`` at least 1
    and ``current_instalment`` at least the month's interest on the outstanding principal,
    else ``OptionError`` naming the field. A matured loan (nothing outstanding, all of it in
    arrears) is ``outstanding_principal=0`` with one remaining instalment: its current plan
    asks for nothing more, and the options spread or capitalise the arrears. Later due dates
    are counted from ``next_due_date``'s day of the month: pass the contractual date (a loan
    due on the 31st whose next due date is clamped to Feb 28 would continue on the 28th).
    """

    outstanding_principal: Decimal
    """Principal not yet due (the balance the remaining instalments amortise); may be 0."""
    annual_rate: Decimal
    """Contract rate as a fraction (0.0435 for 4.35%)."""
    remaining_instalments: int
    """Instalments of the current plan not yet due (>= 1)."""
    current_instalment: Decimal
    next_due_date: date
    """Contractual due date of the next instalment not yet due."""
    arrears_principal: Decimal
    arrears_interest: Decimal
    penalty_interest: Decimal
    """Accrued to date."""
    fees: Decimal = ZERO
    """Overdue fees and charges, part of the arrears."""

    def __post_init__(self) -> None:
        for name in ("outstanding_principal", "current_instalment", "arrears_principal",
                     "arrears_interest", "penalty_interest", "fees"):
            object.__setattr__(self, name, _money(name, getattr(self, name)))
        object.__setattr__(self, "annual_rate", _number("annual_rate", self.annual_rate))
        _count("remaining_instalments", self.remaining_instalments)
        first_interest = _interest(self.outstanding_principal, self.annual_rate)
        if self.current_instalment < first_interest:
            raise OptionError("current_instalment",
                              f"must cover the month's interest {_fmt(first_interest)}")

    @property
    def arrears_total(self) -> Decimal:
        """Arrears principal + arrears interest + penalty + fees."""
        return self.arrears_principal + self.arrears_interest + self.penalty_interest + self.fees


@dataclass(frozen=True)
class ScheduleRow:
    number: int
    """1-based, in due-date order."""
    due_date: date
    """After ``adjust``."""
    principal: Decimal
    interest: Decimal
    arrears: Decimal
    """Arrears repaid in this row (0.00 when none); bears no interest."""
    fees: Decimal
    total: Decimal
    """principal + interest + arrears + fees."""
    remaining_balance: Decimal
    """Loan principal outstanding after this row (arrears not included); never negative."""


@dataclass(frozen=True)
class Schedule:
    rows: tuple[ScheduleRow, ...]

    @property
    def total_paid(self) -> Decimal:
        return sum((row.total for row in self.rows), ZERO)

    @property
    def total_interest(self) -> Decimal:
        return sum((row.interest for row in self.rows), ZERO)

    @property
    def total_principal(self) -> Decimal:
        return sum((row.principal for row in self.rows), ZERO)

    @property
    def total_arrears(self) -> Decimal:
        return sum((row.arrears for row in self.rows), ZERO)

    @property
    def total_fees(self) -> Decimal:
        return sum((row.fees for row in self.rows), ZERO)


def annuity_payment(principal: Decimal, annual_rate: Decimal, months: int) -> Decimal:
    """``A = P·r·(1+r)^n / ((1+r)^n − 1)``, ``r = annual_rate / 12``, to the cent (HALF_EVEN).

    Computed in exact rational arithmetic and rounded once, so a result exactly on a half
    cent goes to the even cent. A rate of 0 gives ``P / n`` rounded. Raises ``OptionError``
    on a negative or sub-cent principal, a negative rate or fewer than one month.
    """
    amount = _money("principal", principal)
    rate = _number("annual_rate", annual_rate)
    n = _count("months", months)
    return _cents(_exact_annuity(amount, rate, n))


def _exact_annuity(principal: Decimal, annual_rate: Decimal, months: int) -> Fraction:
    """The instalment before rounding, as an exact rational (no precision limit)."""
    r = Fraction(annual_rate) / 12
    if r == 0:
        return Fraction(principal) / months
    growth = (1 + r) ** months
    return Fraction(principal) * r * growth / (growth - 1)


def _cents(value: Fraction, *, up: bool = False) -> Decimal:
    """``value`` to the cent: half to even (``round`` of a Fraction), or up."""
    cents = math.ceil(value * 100) if up else round(value * 100)
    return to_money(Decimal(cents).scaleb(-2))


def _per_row(field: str, values: Sequence[Decimal], months: int) -> tuple[Decimal, ...]:
    if len(values) > months:
        raise OptionError(field, f"has {len(values)} entries for {months} rows")
    amounts = tuple(_money(f"{field}[{i}]", value) for i, value in enumerate(values))
    return amounts + (ZERO,) * (months - len(amounts))


def _level_rows(principal: Decimal, annual_rate: Decimal, instalment: Decimal, months: int,
                first_due: date, adjust: Adjust, arrears: Sequence[Decimal],
                fees: Sequence[Decimal]) -> tuple[ScheduleRow, ...]:
    rows = []
    balance = principal
    with _exact():
        for k in range(months):
            interest = _interest(balance, annual_rate)
            last = k == months - 1
            part = balance if last else min(max(instalment - interest, ZERO), balance)
            balance -= part
            extra = arrears[k] if k < len(arrears) else ZERO
            fee = fees[k] if k < len(fees) else ZERO
            rows.append(ScheduleRow(
                number=k + 1, due_date=adjust(add_months(first_due, k)), principal=part,
                interest=interest, arrears=extra, fees=fee,
                total=part + interest + extra + fee, remaining_balance=balance))
    return tuple(rows)


def amortise(principal: Decimal, annual_rate: Decimal, months: int, first_due: date, *,
             adjust: Adjust = same_day, extra: Sequence[Decimal] = (),
             fees: Sequence[Decimal] = ()) -> Schedule:
    """The level-instalment schedule of ``principal`` over ``months`` (see the module doc).

    ``extra[i]`` is arrears repaid in row ``i + 1`` and ``fees[i]`` a fee charged in it (at
    most ``months`` entries each, missing ones 0.00).
    """
    amount = _money("principal", principal)
    rate = _number("annual_rate", annual_rate)
    n = _count("months", months)
    arrears = _per_row("extra", extra, n)
    charges = _per_row("fees", fees, n)
    instalment = annuity_payment(amount, rate, n)
    return Schedule(_level_rows(amount, rate, instalment, n, first_due, adjust,
                                arrears, charges))


def current_plan(position: LoanPosition, *, adjust: Adjust = same_day) -> Schedule:
    """The rest of the current plan: ``current_instalment`` until the principal is repaid."""
    return Schedule(_level_rows(position.outstanding_principal, position.annual_rate,
                                position.current_instalment, position.remaining_instalments,
                                position.next_due_date, adjust, (), ()))


def _split(total: Decimal, parts: int, field: str) -> tuple[Decimal, ...]:
    """``parts`` amounts adding up to ``total``: ``round(total / parts)``, the last the rest."""
    with _exact():
        part = to_money(total / parts)
    last = total - part * (parts - 1)
    if last < 0:
        raise OptionError(field, f"arrears of {_fmt(total)} are too small to split into "
                                 f"{parts} parts")
    return (*([part] * (parts - 1)), last)


def _feasible_parts(total: Decimal, parts: int) -> int:
    """The most parts <= ``parts`` that ``_split`` can make of ``total`` (at least 1)."""
    while parts > 1:
        with _exact():
            part = to_money(total / parts)
        if total - part * (parts - 1) >= 0:
            return parts
        parts -= 1
    return 1


@dataclass(frozen=True)
class OptionLimits:
    max_extension_months: int = 60
    """Months an option may run beyond the current plan's last due date."""
    max_agreement_months: int = 60
    """CBRC credit-card rule (2011) Art. 70: an individual instalment agreement runs at most
    5 years."""
    max_spread_instalments: int = 12
    """Most instalments arrears may be spread over ((a), (b); (c) and (d) spread over at most
    this many)."""

    def __post_init__(self) -> None:
        _count("max_extension_months", self.max_extension_months, minimum=0)
        _count("max_agreement_months", self.max_agreement_months)
        _count("max_spread_instalments", self.max_spread_instalments)


@dataclass(frozen=True)
class OptionEffect:
    new_instalment: Decimal
    """Due in the plan's first monthly cycle: rows due after ``next_due_date - 1 month`` and
    on or before the first plan due date."""
    first_instalment: Decimal
    """The first row's total."""
    total_cost: Decimal
    """Everything the customer pays under the option from now on."""
    current_plan_cost: Decimal
    """The current plan's remaining instalments + arrears (principal, interest, penalty, fees)."""
    extra_cost: Decimal
    """total_cost - current_plan_cost; negative when a waiver saves money."""
    months_until_current: int
    """Monthly cycles until the arrears are cleared; 0 without arrears or when capitalised."""
    fits_capacity: bool | None
    """new_instalment <= capacity; None when no capacity was given."""
    notes: tuple[str, ...]
    agreement_months: int
    """How long the agreement runs (see the module doc)."""
    extension_months: int
    """Months beyond the current plan's last due date."""


@dataclass(frozen=True)
class RestructuringOption:
    kind: OptionKind
    params: Mapping[str, str]
    schedule: Schedule
    effect: OptionEffect
    within_limits: bool
    limit_violations: tuple[str, ...]


def _cycle_totals(rows: Sequence[ScheduleRow], before: date,
                  plan_dates: Sequence[date]) -> tuple[Decimal, list[Decimal]]:
    """What falls due on or before ``before`` (up front), and the total of each monthly cycle:
    the rows due after one plan date up to the next one (the first cycle starting after
    ``before``); rows after the last plan date are a cycle each."""
    index = 0
    up_front = ZERO
    while index < len(rows) and rows[index].due_date <= before:
        up_front += rows[index].total
        index += 1
    totals: list[Decimal] = []
    for plan_date in plan_dates:
        total = ZERO
        while index < len(rows) and rows[index].due_date <= plan_date:
            total += rows[index].total
            index += 1
        totals.append(total)
    totals.extend(row.total for row in rows[index:])
    return up_front, totals


def _option(kind: OptionKind, params: Mapping[str, str], rows: tuple[ScheduleRow, ...],
            position: LoanPosition, *, plan_months: int, adjust: Adjust, limits: OptionLimits,
            capacity: Decimal | None, months_until_current: int, agreement_months: int,
            extension_months: int, spread: int | None, notes: list[str]) -> RestructuringOption:
    limit = None if capacity is None else _money("capacity", capacity)
    schedule = Schedule(rows)
    plan_dates = [adjust(add_months(position.next_due_date, k)) for k in range(plan_months)]
    up_front, cycles = _cycle_totals(rows, add_months(position.next_due_date, -1),
                                     plan_dates)
    new_instalment = cycles[0]
    current_cost = current_plan(position, adjust=adjust).total_paid + position.arrears_total
    total_cost = schedule.total_paid
    fits = None if limit is None else new_instalment <= limit
    if limit is not None:
        peak = max(up_front, *cycles)
        if fits and peak > limit:
            notes.append(f"a later monthly cycle of {_fmt(peak)} exceeds the capacity of "
                         f"{_fmt(limit)}")
        notes.append(f"the new instalment of {_fmt(new_instalment)} "
                     f"{'fits' if fits else 'exceeds'} the capacity of {_fmt(limit)}")
    violations = []
    if spread is not None and spread > limits.max_spread_instalments:
        violations.append(f"max_spread_instalments: arrears spread over {spread} instalments "
                          f"(limit {limits.max_spread_instalments})")
    if agreement_months > limits.max_agreement_months:
        violations.append(f"max_agreement_months: the agreement runs {agreement_months} months "
                          f"(limit {limits.max_agreement_months})")
    if extension_months > limits.max_extension_months:
        violations.append(f"max_extension_months: runs {extension_months} months beyond the "
                          f"current plan (limit {limits.max_extension_months})")
    effect = OptionEffect(
        new_instalment=new_instalment, first_instalment=rows[0].total, total_cost=total_cost,
        current_plan_cost=current_cost, extra_cost=total_cost - current_cost,
        months_until_current=months_until_current, fits_capacity=fits, notes=tuple(notes),
        agreement_months=agreement_months, extension_months=extension_months)
    return RestructuringOption(kind=kind, params=dict(params), schedule=schedule, effect=effect,
                               within_limits=not violations,
                               limit_violations=tuple(violations))


def spread_arrears(position: LoanPosition, m: int, *, adjust: Adjust, limits: OptionLimits,
                   capacity: Decimal | None) -> RestructuringOption:
    """(a) The arrears added, split in ``m`` parts, to the next ``m`` instalments of the plan.

    ``m`` must be between 1 and the remaining instalments, and the arrears large enough to
    split (``OptionError('m')`` otherwise).
    """
    m = _count("m", m)
    if m > position.remaining_instalments:
        raise OptionError("m", f"only {position.remaining_instalments} instalments remain")
    arrears = position.arrears_total
    parts = _split(arrears, m, "m")
    rows = _level_rows(position.outstanding_principal, position.annual_rate,
                       position.current_instalment, position.remaining_instalments,
                       position.next_due_date, adjust, parts, ())
    notes = [f"arrears of {_fmt(arrears)} added to the next {m} instalments "
             f"({_fmt(parts[0])} each, the last {_fmt(parts[-1])}); the plan is otherwise "
             f"unchanged and the spread arrears bear no interest"]
    return _option("spread_arrears", {"m": str(m)}, rows, position,
                   plan_months=position.remaining_instalments, adjust=adjust, limits=limits,
                   capacity=capacity, months_until_current=m if arrears > 0 else 0,
                   agreement_months=m, extension_months=0, spread=m, notes=notes)


def arrears_instalments(position: LoanPosition, k: int, *, start: date, adjust: Adjust,
                        limits: OptionLimits, capacity: Decimal | None) -> RestructuringOption:
    """(b) The arrears paid in ``k`` monthly instalments from ``start``, beside the plan.

    An arrears instalment due on the same adjusted date as a plan instalment is merged into
    that row; otherwise it is a row of its own (principal and interest 0.00).
    """
    k = _count("k", k)
    arrears = position.arrears_total
    parts = _split(arrears, k, "k")
    remaining = position.remaining_instalments
    plan = list(_level_rows(position.outstanding_principal,
                            position.annual_rate, position.current_instalment,
                            remaining, position.next_due_date, adjust, (), ()))
    contractual = [add_months(start, j) for j in range(k)]
    by_date = {row.due_date: i for i, row in enumerate(plan)}
    separate: list[ScheduleRow] = []
    if arrears > 0:
        for day, part in zip(contractual, parts, strict=True):
            due = adjust(day)
            if due in by_date:
                i = by_date[due]
                row = plan[i]
                plan[i] = replace(row, arrears=row.arrears + part, total=row.total + part)
            else:
                before = [row for row in plan if row.due_date < due]
                balance = (before[-1].remaining_balance if before
                           else position.outstanding_principal)
                separate.append(ScheduleRow(number=0, due_date=due, principal=ZERO,
                                            interest=ZERO, arrears=part, fees=ZERO, total=part,
                                            remaining_balance=balance))
    # Stable sort: on equal dates (not merged only if adjust is not a function) plan first.
    ordered = sorted([*plan, *separate], key=lambda row: row.due_date)
    rows = tuple(replace(row, number=i) for i, row in enumerate(ordered, start=1))

    maturity = add_months(position.next_due_date, remaining - 1)
    last_arrears = contractual[-1]
    first = min(start, position.next_due_date)
    until_current = _whole_months(first, last_arrears) + 1 if arrears > 0 else 0
    extension = _whole_months(maturity, last_arrears) if last_arrears > maturity else 0
    notes = [f"arrears of {_fmt(arrears)} paid in {k} monthly instalments from "
             f"{start.isoformat()} ({_fmt(parts[0])} each, the last {_fmt(parts[-1])}), "
             f"beside the current plan; an instalment due on a plan due date is paid with it"]
    if arrears == 0:
        notes = ["no arrears to pay"]
    return _option("arrears_instalments", {"k": str(k), "start": start.isoformat()}, rows,
                   position, plan_months=remaining, adjust=adjust, limits=limits,
                   capacity=capacity, months_until_current=until_current, agreement_months=k,
                   extension_months=extension, spread=k, notes=notes)


def _spread_over_new_plan(position: LoanPosition, months: int,
                          limits: OptionLimits) -> tuple[tuple[Decimal, ...], list[str]]:
    arrears = position.arrears_total
    wanted = min(limits.max_spread_instalments, months)
    spread = _feasible_parts(arrears, wanted)
    parts = _split(arrears, spread, "arrears")
    notes = []
    if arrears > 0:
        notes.append(f"arrears of {_fmt(arrears)} spread over the first {spread} instalments "
                     f"({_fmt(parts[0])} each, the last {_fmt(parts[-1])}), without interest")
    if spread < wanted:
        notes.append(f"the arrears are too small to split into {wanted} parts")
    return parts, notes


def extend_term(position: LoanPosition, k: int, *, adjust: Adjust, limits: OptionLimits,
                capacity: Decimal | None) -> RestructuringOption:
    """(c) ``n' = remaining + k``, ``A' = annuity(outstanding principal, rate, n')``."""
    k = _count("k", k)
    n = _count("k", position.remaining_instalments + k)
    principal = position.outstanding_principal
    instalment = annuity_payment(principal, position.annual_rate, n)
    parts, spread_notes = _spread_over_new_plan(position, n, limits)
    rows = _level_rows(principal, position.annual_rate, instalment, n,
                       position.next_due_date, adjust, parts, ())
    notes = [f"term extended by {k} months to {n} instalments of {_fmt(instalment)} "
             f"(was {position.remaining_instalments} of {_fmt(position.current_instalment)})",
             *spread_notes]
    until_current = len(parts) if position.arrears_total > 0 else 0
    return _option("extend_term", {"k": str(k)}, rows, position, plan_months=n,
                   adjust=adjust, limits=limits, capacity=capacity,
                   months_until_current=until_current, agreement_months=n,
                   extension_months=k, spread=None, notes=notes)


def _term_for_payment(principal: Decimal, monthly_rate: Decimal, payment: Decimal) -> int:
    """``ceil(−ln(1 − r·P/A) / ln(1 + r))`` (``ceil(P / A)`` at rate 0), 50 digits."""
    with _exact():
        if monthly_rate == 0:
            exact = principal / payment
        else:
            exact = -(1 - monthly_rate * principal / payment).ln() / (1 + monthly_rate).ln()
        whole = exact.to_integral_value(rounding=ROUND_CEILING)
        if exact - (whole - 1) < _INTEGER_TOLERANCE:  # a whole number lost in the last digit
            whole -= 1
    return max(1, int(whole))


def _rounded_term(principal: Decimal, annual_rate: Decimal, payment: Decimal) -> int | None:
    """Rows the cent-rounded plan needs: the first row whose balance plus interest is at most
    ``payment`` is the last. ``None`` beyond ``MAX_SCHEDULE_MONTHS``. Needs ``payment`` above
    the first month's interest (interest only falls, so every row then repays something)."""
    balance = principal
    with _exact():
        for k in range(1, MAX_SCHEDULE_MONTHS + 1):
            interest = _interest(balance, annual_rate)
            if balance + interest <= payment:
                return k
            balance -= payment - interest
    return None


def reduce_payment(position: LoanPosition, target: Decimal, *, adjust: Adjust,
                   limits: OptionLimits, capacity: Decimal | None) -> RestructuringOption:
    """(d) Instalment lowered to ``target``; ``n' = ceil(−ln(1 − r·P'/A') / ln(1 + r))``.

    ``target`` must exceed the month's interest on the outstanding principal (rounded to the
    cent), else the loan never amortises: ``OptionError('target')``; so must a term over
    ``MAX_SCHEDULE_MONTHS``. ``n'`` is computed with 50-digit logarithms; the schedule then
    runs until the cent-rounded balance is cleared by a last instalment no larger than the
    target. The two agree except when rounding each month's interest to the cent moves the
    end across a month (a target within cents of the interest, or a last instalment within
    cents of the target or of zero); the option then notes both terms.
    """
    payment = _money("target", target)
    principal = position.outstanding_principal
    r = _monthly_rate(position.annual_rate)
    interest = _interest(principal, position.annual_rate)
    if payment <= interest:
        raise OptionError("target", f"{_fmt(payment)} does not exceed the month's interest "
                                    f"{_fmt(interest)}: the loan would never be repaid")
    formula = _term_for_payment(principal, r, payment)
    rate = position.annual_rate
    n = _rounded_term(principal, rate, payment) if formula <= MAX_SCHEDULE_MONTHS else None
    if n is None:
        raise OptionError("target", f"would take more than {MAX_SCHEDULE_MONTHS} months to "
                                    f"repay")
    parts, spread_notes = _spread_over_new_plan(position, n, limits)
    rows = _level_rows(principal, rate, payment, n, position.next_due_date, adjust, parts, ())
    remaining = position.remaining_instalments
    notes = [f"instalment {_fmt(payment)} (was {_fmt(position.current_instalment)}) for {n} "
             f"months (was {remaining}), the last {_fmt(rows[-1].principal + rows[-1].interest)}",
             *spread_notes]
    if n != formula:
        notes.append(f"rounding each month's interest to the cent changes the term from the "
                     f"exact {formula} months to {n}")
    if payment >= position.current_instalment:
        notes.append("the target is not below the current instalment: the term does not grow")
    until_current = len(parts) if position.arrears_total > 0 else 0
    return _option("reduce_payment", {"target": str(payment)}, rows, position, plan_months=n,
                   adjust=adjust, limits=limits, capacity=capacity,
                   months_until_current=until_current, agreement_months=n,
                   extension_months=max(0, n - remaining), spread=None, notes=notes)


def full_restructure(position: LoanPosition, *, new_rate: Decimal, months: int,
                     waive_penalty: bool, capitalise: Capitalise = "all", adjust: Adjust,
                     limits: OptionLimits, capacity: Decimal | None) -> RestructuringOption:
    """(e) A new plan: ``P'`` (arrears capitalised) at ``new_rate`` over ``months``.

    ``P' = outstanding + arrears principal + arrears interest [+ penalty unless waived]
    [+ fees]``; with ``capitalise="principal_and_interest"`` the penalty (unless waived) and
    fees are added to the first instalment instead. The loan is current once signed.
    """
    rate = _number("new_rate", new_rate)
    n = _count("months", months)
    if capitalise not in ("all", "principal_and_interest"):
        raise OptionError("capitalise", "must be 'all' or 'principal_and_interest'")
    penalty = ZERO if waive_penalty else position.penalty_interest
    principal = (position.outstanding_principal + position.arrears_principal
                 + position.arrears_interest)
    first_row_arrears = ZERO
    if capitalise == "all":
        principal += penalty + position.fees
    else:
        first_row_arrears = penalty + position.fees
    instalment = annuity_payment(principal, rate, n)
    rows = _level_rows(principal, rate, instalment, n, position.next_due_date,
                       adjust, (first_row_arrears,), ())
    capitalised = principal - position.outstanding_principal
    notes = [f"arrears of {_fmt(capitalised)} capitalised: new principal {_fmt(principal)} at "
             f"{rate} over {n} months, instalment {_fmt(instalment)} (was "
             f"{position.remaining_instalments} of {_fmt(position.current_instalment)} at "
             f"{position.annual_rate})"]
    if first_row_arrears > 0:
        notes.append(f"penalty and fees of {_fmt(first_row_arrears)} added to the first "
                     f"instalment")
    if waive_penalty and position.penalty_interest > 0:
        notes.append(f"penalty interest of {_fmt(position.penalty_interest)} waived")
    notes.append("the loan is current once the agreement is signed")
    params = {"new_rate": str(rate), "months": str(n),
              "waive_penalty": "true" if waive_penalty else "false", "capitalise": capitalise}
    return _option("full_restructure", params, rows, position, plan_months=n, adjust=adjust,
                   limits=limits, capacity=capacity, months_until_current=0,
                   agreement_months=n,
                   extension_months=max(0, n - position.remaining_instalments), spread=None,
                   notes=notes)


def _with_notes(option: RestructuringOption, notes: list[str]) -> RestructuringOption:
    if not notes:
        return option
    effect = replace(option.effect, notes=(*notes, *option.effect.notes))
    return replace(option, effect=effect)


def all_options(position: LoanPosition, *, capacity: Decimal | None, limits: OptionLimits,
                adjust: Adjust, today: date, spread_m: int = 6, arrears_k: int = 6,
                extend_k: int = 12, target: Decimal | None = None,
                restructure_rate: Decimal | None = None, restructure_months: int | None = None,
                waive_penalty: bool = False) -> list[RestructuringOption]:
    """One option of each kind, in the order (a) to (e), for the negotiation team.

    Defaults and adjustments (each noted on the option):

    * (a) over ``min(spread_m, remaining instalments)`` instalments;
    * (b) ``arrears_k`` instalments, the first due ``today`` (then monthly);
    * (a), (b) over fewer instalments when the arrears are too small to split;
    * (d) ``target`` defaults to 80% of the current instalment; when that does not exceed
      the month's interest, to the instalment of the remaining term plus
      ``limits.max_extension_months``, rounded up to the cent (the lowest target the
      extension limit allows);
    * (e) at ``restructure_rate`` (default: the contract rate) over ``restructure_months``
      (default: the remaining term plus 24, capped at ``limits.max_agreement_months`` but
      never shorter than the remaining term), arrears and fees capitalised.

    ``today`` after the next due date (a stale position) raises ``OptionError('today')``.
    """
    if today > position.next_due_date:
        raise OptionError("today", f"is after the next due date "
                                   f"{position.next_due_date.isoformat()}: the position is stale")
    spread_m = _count("spread_m", spread_m)
    arrears_k = _count("arrears_k", arrears_k)
    extend_k = _count("extend_k", extend_k)
    remaining = position.remaining_instalments
    arrears = position.arrears_total

    a_notes = []
    m = min(spread_m, remaining)
    if m < spread_m:
        a_notes.append(f"only {remaining} instalments remain: spread over {m}")
    feasible = _feasible_parts(arrears, m)
    if feasible < m:
        a_notes.append(f"the arrears are too small to split into {m} parts")
    a = _with_notes(spread_arrears(position, feasible, adjust=adjust, limits=limits,
                                   capacity=capacity), a_notes)

    b_notes = []
    k = _feasible_parts(arrears, arrears_k)
    if k < arrears_k:
        b_notes.append(f"the arrears are too small to split into {arrears_k} parts")
    b = _with_notes(arrears_instalments(position, k, start=today, adjust=adjust, limits=limits,
                                        capacity=capacity), b_notes)

    c = extend_term(position, extend_k, adjust=adjust, limits=limits, capacity=capacity)

    d_notes = []
    if target is None:
        wanted = to_money(position.current_instalment * DEFAULT_TARGET_SHARE)
        interest = _interest(position.outstanding_principal, position.annual_rate)
        if wanted <= interest:
            longest = min(remaining + limits.max_extension_months, MAX_SCHEDULE_MONTHS)
            # Rounded up to the cent: rounded down, the plan would need one month more.
            exact = _exact_annuity(position.outstanding_principal, position.annual_rate,
                                   longest)
            wanted = max(_cents(exact, up=True), interest + MINOR_UNIT)
            d_notes.append(f"80% of the current instalment does not cover the month's "
                           f"interest: target set to the instalment over {longest} months")
        target = wanted
    d = _with_notes(reduce_payment(position, target, adjust=adjust, limits=limits,
                                   capacity=capacity), d_notes)

    rate = position.annual_rate if restructure_rate is None else restructure_rate
    if restructure_months is None:
        restructure_months = max(remaining, min(remaining + DEFAULT_RESTRUCTURE_EXTENSION,
                                                limits.max_agreement_months))
    e = full_restructure(position, new_rate=rate, months=restructure_months,
                         waive_penalty=waive_penalty, adjust=adjust, limits=limits,
                         capacity=capacity)
    return [a, b, c, d, e]
