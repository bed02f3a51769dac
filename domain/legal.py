"""The legal stage: when to refer a loan, what to claim, what to settle for, how a case ends.

Stage 3 of the bank's process: when a loan is overdue for more than three months AND two
consecutive negotiations have failed, the bank considers legal action; lawyers review the
file, the bank sues for the amount claimed, and settlement stays open throughout (a grace
period, an instalment plan). Cases end cured, restructured, settled, recovered, written off
or transferred (non-performing loans sold to an asset-management company or placed with an
agency, after screening out deceased and bankrupt customers and open disputes).

Money is ``Decimal`` to the cent with banker's rounding (``domain.money.to_money``), never
float. Pure: no I/O, no clock; every date is passed in.

Legal trigger (``legal_review_due``)
    Due when ``days_past_due >= rules.min_days_past_due`` (91 by default: "more than three
    months" read as DPD > 90, where a loan becomes non-performing) AND
    ``consecutive_failed_negotiations >= rules.consecutive_failed_negotiations`` (2). Both
    thresholds are configuration (``LegalTriggerRules``).

The claim (``claim_as_of``)
    The ledger lists instalments falling due (each split into principal and interest), the
    customer's payments and legal costs (court fees, lawyers). Entries dated after ``as_of``
    are ignored. Entries are taken one date at a time: that date's charges (instalments and
    costs, in ledger order) are booked, then its payments are received, then everything
    received and not yet applied is allocated as below; so a payment made on a due date
    pays that instalment, with the same priority over costs as an older one.

    Allocation of payments. Each payment goes, in this order:

    1. to the instalments due on or before the payment date, oldest first (ledger order
       among instalments due on the same date), and within an instalment to its interest
       before its principal (先息后本, the common practice of Chinese banks);
    2. then to outstanding costs, oldest first;
    3. what is left is a credit (``Claim.unapplied_credit``), applied in the same order to
       instalments and costs as they fall due later (a prepayment), and reported if it is
       still unused on ``as_of``.

    Payments are never applied to penalty interest: the penalty accrued is claimed in full
    (the reduced principal already stops it growing). Note that the Civil Code (民法典)
    Art. 561 puts the costs of realising the claim first, then interest, then principal,
    unless the parties agreed otherwise; the order here (instalments first, costs last) is
    the bank's choice and must match the loan contract's allocation clause.

    Penalty interest (罚息) accrues on each instalment's unpaid PRINCIPAL only (not on its
    interest: no compounding, 复利), at ``annual_rate x (1 + uplift)`` per year over
    ``day_basis`` days (``domain.calculator.penalty_interest``), from the instalment's due
    date. The instalment's life is cut into segments at each date a payment reduced its
    principal: segment ``j`` runs from ``t_j`` to ``t_(j+1)`` (the last to ``as_of``) on the
    principal unpaid during it, ``days = t_(j+1) - t_j``. Each segment's penalty is rounded
    to the cent (HALF_EVEN) and the segments are summed; a payment that only reduces
    interest, or goes to another instalment, does not cut a segment. A payment on the due
    date stops the penalty on what it paid at once (0 days). Costs bear no penalty.

    ``accelerated_principal`` is the principal not yet due that the bank calls in by suing
    (acceleration clause). It is added to ``Claim.principal`` as given: it bears no penalty
    in this claim and no contract interest accrued since the last due date is added (pass
    any such interest as an instalment or ask the court for it separately).

    ``Claim.principal`` and ``Claim.interest`` are the unpaid principal and interest of the
    instalments due by ``as_of`` (plus the accelerated principal), ``Claim.costs`` the unpaid
    costs; ``total = principal + interest + penalty_interest + costs`` exactly. Reconciling:
    instalments and costs due by ``as_of`` minus the payments applied (payments by ``as_of``
    minus ``unapplied_credit``) equal ``principal - accelerated_principal + interest +
    costs`` to the cent. ``Claim.lines`` has one ``ClaimLine`` per instalment due by
    ``as_of`` (settled ones included, so their penalty is visible and the lines' penalties
    add up to ``penalty_interest``).

Settlement (``settlement_offer``)
    ``waived_penalty = round(penalty_interest x waive_penalty_share)`` (HALF_EVEN, to the
    cent), ``settle_amount = total - waived_penalty``. The settlement is a fixed sum: no
    further interest or penalty accrues once it is agreed. The instalments fall due monthly
    from ``first_due`` (``add_months``: same day of the month, clamped to the month end), so
    a single payment falls on ``first_due``. ``first_due`` is the first payment date, the
    grace period already counted: with ``grace_days > 0`` the grace runs for those days
    before ``first_due`` and ends on it (``grace_until = first_due``: nothing is payable
    before it); without grace ``grace_until`` is ``None``. The caller anchors the grace (e.g.
    ``first_due = today + grace_days``); the function has no clock. The amount is split into
    ``instalments`` parts of ``round(settle_amount / instalments)``, the last taking the
    residue so the parts add up exactly; a split that would leave a part of zero or less is
    refused.

Closure
    ``may_transfer`` screens a loan before NPL transfer or agency placement;
    ``check_write_off`` accepts only the reason codes in ``WRITE_OFF_REASONS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from itertools import groupby
from typing import Literal, get_args

from domain.calculator import penalty_interest as _penalty
from domain.money import ZERO, MoneyError, to_money
from domain.restructuring import OptionError, add_months

_PRECISION = 60


class LegalError(ValueError):
    """An unusable input for the legal stage; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _whole(field: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise LegalError(field, "must be a whole number")
    if value < minimum:
        raise LegalError(field, f"must be >= {minimum} (got {value})")
    return value


def _number(field: str, value: Decimal) -> Decimal:
    if isinstance(value, bool | float) or not isinstance(value, Decimal | int):
        raise LegalError(field, "must be a Decimal (floats lose cents)")
    number = Decimal(value)
    if not number.is_finite():
        raise LegalError(field, "must be a finite number")
    if number < 0:
        raise LegalError(field, f"must not be negative (got {number})")
    return number


def _money(field: str, value: Decimal) -> Decimal:
    number = _number(field, value)
    try:
        amount = to_money(number)
    except MoneyError as exc:
        raise LegalError(field, "too large to hold to the cent") from exc
    if amount != number:
        raise LegalError(field, "must be an amount to the cent (at most two decimals)")
    return amount


def _date(field: str, value: date) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise LegalError(field, "must be a date (not a datetime)")
    return value


def _fmt(amount: Decimal) -> str:
    return f"{to_money(amount):,.2f}"


# --- Legal trigger ------------------------------------------------------------------------


@dataclass(frozen=True)
class LegalTriggerRules:
    min_days_past_due: int = 91
    """Days past due from which legal review is due: 91 reads "more than three months
    overdue" as DPD > 90."""
    consecutive_failed_negotiations: int = 2
    """Broken promises or broken agreed plans in a row (a kept one resets the count)."""

    def __post_init__(self) -> None:
        _whole("min_days_past_due", self.min_days_past_due)
        _whole("consecutive_failed_negotiations", self.consecutive_failed_negotiations)


def legal_review_due(days_past_due: int, consecutive_failed_negotiations: int,
                     rules: LegalTriggerRules) -> tuple[bool, str]:
    """Whether the loan goes to legal review, and why (or which condition is missing).

    Both conditions must hold: ``days_past_due >= rules.min_days_past_due`` and
    ``consecutive_failed_negotiations >= rules.consecutive_failed_negotiations``. Negative
    counts raise ``LegalError`` naming the argument.
    """
    dpd = _whole("days_past_due", days_past_due)
    failures = _whole("consecutive_failed_negotiations", consecutive_failed_negotiations)
    need_dpd = rules.min_days_past_due
    need_failures = rules.consecutive_failed_negotiations
    dpd_text = f"{dpd} days past due (needs at least {need_dpd})"
    failures_text = (f"{failures} consecutive failed negotiations "
                     f"(needs at least {need_failures})")
    missing = []
    if dpd < need_dpd:
        missing.append(f"not overdue long enough: {dpd_text}")
    if failures < need_failures:
        missing.append(f"not enough failed negotiations: {failures_text}")
    if missing:
        return False, "legal review not due: " + "; ".join(missing)
    return True, f"legal review due: {dpd_text} and {failures_text}"


# --- Ledger and claim ---------------------------------------------------------------------

EntryKind = Literal["instalment_due", "payment", "cost"]
ENTRY_KINDS: tuple[EntryKind, ...] = get_args(EntryKind)


@dataclass(frozen=True)
class LedgerEntry:
    """One line of the loan's ledger; amounts non-negative ``Decimal`` to the cent.

    ``instalment_due``: ``amount = principal + interest``. ``payment``: a positive amount
    received from the customer. ``cost``: legal costs charged to the customer (court fees,
    lawyers). ``principal`` and ``interest`` are only for instalments (0 otherwise).
    Anything else raises ``LegalError`` naming the field.
    """

    on: date
    kind: EntryKind
    amount: Decimal
    principal: Decimal = ZERO
    interest: Decimal = ZERO

    def __post_init__(self) -> None:
        _date("on", self.on)
        if self.kind not in ENTRY_KINDS:
            raise LegalError("kind", f"must be one of {', '.join(ENTRY_KINDS)} "
                                     f"(got {self.kind!r})")
        for name in ("amount", "principal", "interest"):
            object.__setattr__(self, name, _money(name, getattr(self, name)))
        if self.kind == "instalment_due":
            if self.principal + self.interest != self.amount:
                raise LegalError("amount", f"{_fmt(self.amount)} is not principal "
                                           f"{_fmt(self.principal)} + interest "
                                           f"{_fmt(self.interest)}")
        else:
            if self.principal != ZERO or self.interest != ZERO:
                raise LegalError("principal", f"only an instalment splits into principal and "
                                              f"interest, not a {self.kind}")
            if self.kind == "payment" and self.amount <= ZERO:
                raise LegalError("amount", "a payment must be more than zero")


@dataclass(frozen=True)
class ClaimLine:
    """One instalment due by ``as_of``."""

    due_date: date
    principal_outstanding: Decimal
    interest_outstanding: Decimal
    days_overdue: int
    """From the due date to the day the instalment was paid in full, or to ``as_of``."""
    penalty: Decimal
    """Penalty interest accrued on its unpaid principal, segment by segment."""


@dataclass(frozen=True)
class Claim:
    as_of: date
    principal: Decimal
    """Unpaid principal of the instalments due, plus the accelerated principal."""
    interest: Decimal
    penalty_interest: Decimal
    costs: Decimal
    total: Decimal
    """``principal + interest + penalty_interest + costs``."""
    lines: tuple[ClaimLine, ...]
    unapplied_credit: Decimal = ZERO
    """Payments by ``as_of`` beyond everything due (not deducted from the total)."""


class _Instalment:
    """Mutable working state of one instalment while the ledger is replayed."""

    def __init__(self, due: date, principal: Decimal, interest: Decimal) -> None:
        self.due = due
        self.principal = principal
        self.interest = interest
        self.since = due
        """Start of the current penalty segment."""
        self.penalty = ZERO
        self.paid_on: date | None = due if principal + interest == ZERO else None


def claim_as_of(ledger: Sequence[LedgerEntry], *, as_of: date, annual_rate: Decimal,
                uplift: Decimal, day_basis: int = 360,
                accelerated_principal: Decimal = Decimal("0")) -> Claim:
    """What the bank claims on ``as_of`` (allocation and penalty: see the module doc).

    ``annual_rate`` and ``uplift`` are fractions (0.0435 for 4.35%, 0.50 for +50%).
    Raises ``LegalError`` naming the argument on unusable input.
    """
    day = _date("as_of", as_of)
    rate = _number("annual_rate", annual_rate)
    up = _number("uplift", uplift)
    basis = _whole("day_basis", day_basis, minimum=1)
    accelerated = _money("accelerated_principal", accelerated_principal)
    for index, entry in enumerate(ledger):
        if not isinstance(entry, LedgerEntry):
            raise LegalError(f"ledger[{index}]", "must be a LedgerEntry")

    # Date order, ledger order within a date (sorted is stable).
    entries = sorted((e for e in ledger if e.on <= day), key=lambda e: e.on)
    instalments: list[_Instalment] = []
    costs: list[Decimal] = []
    credit = ZERO

    def cut(item: _Instalment, on: date) -> None:
        """Close the item's current penalty segment on ``on``."""
        item.penalty += _penalty(item.principal, rate, up, (on - item.since).days, basis)
        item.since = on

    def allocate(on: date) -> None:
        nonlocal credit
        for item in instalments:
            if credit == ZERO:
                return
            paid = min(item.interest, credit)
            item.interest -= paid
            credit -= paid
            paid = min(item.principal, credit)
            if paid > ZERO:
                cut(item, on)
                item.principal -= paid
                credit -= paid
            if item.paid_on is None and item.principal + item.interest == ZERO:
                item.paid_on = on
        for index, owed in enumerate(costs):
            paid = min(owed, credit)
            costs[index] = owed - paid
            credit -= paid

    # One date at a time: all of its charges, then all of its payments, then one allocation
    # (so a credit meets that date's instalments before its costs, whatever the ledger order).
    for on, group in groupby(entries, key=lambda e: e.on):
        for entry in group:
            if entry.kind == "instalment_due":
                instalments.append(_Instalment(on, entry.principal, entry.interest))
            elif entry.kind == "cost":
                costs.append(entry.amount)
            else:
                credit += entry.amount
        allocate(on)

    lines = []
    for item in instalments:
        cut(item, day)
        lines.append(ClaimLine(
            due_date=item.due, principal_outstanding=item.principal,
            interest_outstanding=item.interest,
            days_overdue=((item.paid_on or day) - item.due).days, penalty=item.penalty))
    principal = sum((line.principal_outstanding for line in lines), ZERO) + accelerated
    interest = sum((line.interest_outstanding for line in lines), ZERO)
    penalty = sum((line.penalty for line in lines), ZERO)
    cost_total = sum(costs, ZERO)
    return Claim(as_of=day, principal=principal, interest=interest, penalty_interest=penalty,
                 costs=cost_total, total=principal + interest + penalty + cost_total,
                 lines=tuple(lines), unapplied_credit=credit)


# --- Settlement ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SettlementOffer:
    settle_amount: Decimal
    """``claim.total - waived_penalty``: what the customer pays in all."""
    waived_penalty: Decimal
    grace_until: date | None
    """End of the grace period (``first_due``: nothing is payable before it); ``None``
    without grace."""
    instalments: tuple[tuple[date, Decimal], ...]
    """(due date, amount), monthly; the amounts add up to ``settle_amount`` exactly."""


def settlement_offer(claim: Claim, *, waive_penalty_share: Decimal, grace_days: int,
                     instalments: int, first_due: date) -> SettlementOffer:
    """A settlement of ``claim`` (see the module doc).

    ``waive_penalty_share`` is a fraction between 0 and 1 of the penalty interest waived;
    ``grace_days`` >= 0; ``instalments`` >= 1. Raises ``LegalError`` naming the parameter,
    also when the amount is too small to split into that many instalments or nothing is
    left to settle.
    """
    if not isinstance(claim, Claim):
        raise LegalError("claim", "must be a Claim")
    share = _number("waive_penalty_share", waive_penalty_share)
    if share > 1:
        raise LegalError("waive_penalty_share", f"must be between 0 and 1 (got {share})")
    grace = _whole("grace_days", grace_days)
    count = _whole("instalments", instalments, minimum=1)
    first = _date("first_due", first_due)

    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        waived = to_money(claim.penalty_interest * share)
        settle = claim.total - waived
        if settle <= ZERO:
            raise LegalError("claim", "nothing is left to settle")
        part = to_money(settle / count)
    last = settle - part * (count - 1)
    if part <= ZERO or last <= ZERO:
        raise LegalError("instalments", f"{_fmt(settle)} is too small to split into "
                                        f"{count} instalments")
    grace_until = first if grace else None
    try:
        dates = [add_months(first, k) for k in range(count)]
    except OptionError as exc:
        raise LegalError("instalments", "reaches beyond the calendar") from exc
    amounts = [*([part] * (count - 1)), last]
    return SettlementOffer(settle_amount=settle, waived_penalty=waived, grace_until=grace_until,
                           instalments=tuple(zip(dates, amounts, strict=True)))


# --- Closure ------------------------------------------------------------------------------

Outcome = Literal["cured", "restructured", "settled", "recovered", "written_off", "transferred"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


@dataclass(frozen=True)
class TransferScreening:
    deceased: bool
    bankrupt: bool
    disputed: bool
    """An open dispute about the debt."""


def may_transfer(screening: TransferScreening) -> tuple[bool, str]:
    """Whether the loan may be transferred as an NPL or placed with an agency, and why.

    Deceased and bankrupt customers are screened out first (the estate or the bankruptcy
    administrator deals with the debt), and so is a debt under an open dispute (collection
    pauses until it is resolved).
    """
    reasons = []
    if screening.deceased:
        reasons.append("the customer is deceased")
    if screening.bankrupt:
        reasons.append("the customer is bankrupt")
    if screening.disputed:
        reasons.append("the debt is under an open dispute")
    if reasons:
        return False, "screened out of transfer: " + "; ".join(reasons)
    return True, "eligible for transfer: not deceased, not bankrupt, no open dispute"


WRITE_OFF_REASONS = frozenset({"uncollectable", "deceased_no_estate", "bankrupt",
                               "statute_barred", "small_balance", "fraud"})


def check_write_off(reason: str) -> None:
    """Raise ``ValueError`` (a ``LegalError`` on ``reason``) unless ``reason`` is a known
    write-off reason code."""
    if not isinstance(reason, str) or reason not in WRITE_OFF_REASONS:
        raise LegalError("reason", f"{reason!r} is not a write-off reason; expected one of "
                                   f"{', '.join(sorted(WRITE_OFF_REASONS))}")
