"""Negotiation adapters: the loan's position, repayment options with their schedules on the
business calendar, and the records of rounds, their events and agreements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    LoanPositionRequest,
    NegotiationEventRecord,
    NegotiationRecord,
    PromiseRecord,
)
from domain import restructuring as rs
from domain.business_calendar import nth_business_day_after
from domain.calculator import penalty_interest
from domain.money import to_money
from domain.negotiation import (
    AgreementView,
    BuildOptionsRequest,
    EffectView,
    LoanPositionView,
    OptionSpec,
    OptionView,
    ScheduleRowView,
)
from domain.policy import Policy
from overdue.business_days import BusinessCalendar
from overdue.storage import negotiation_records as records
from overdue.storage.models import Loan

log = structlog.get_logger(__name__)


def _int(params: dict[str, str], name: str, default: int) -> int:
    try:
        return int(params.get(name, default))
    except ValueError as exc:
        raise rs.OptionError(name, f"{name} must be a whole number") from exc


def _decimal(params: dict[str, str], name: str, default: Decimal | None) -> Decimal:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise rs.OptionError(name, f"{name} is required")
        return default
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise rs.OptionError(name, f"{name} must be a decimal number") from exc


def build(spec: OptionSpec, position: rs.LoanPosition, *, policy: Policy,
          capacity: Decimal | None, adjust: Callable[[date], date],
          today: date) -> rs.RestructuringOption:
    """One option of the bank's process from an officer's spec (defaults from policy)."""
    rules = policy.negotiation
    limits = rs.OptionLimits(max_extension_months=rules.max_extension_months,
                             max_agreement_months=rules.max_agreement_months,
                             max_spread_instalments=rules.max_spread_instalments)
    p = spec.params
    common: dict[str, Any] = {"adjust": adjust, "limits": limits, "capacity": capacity}
    if spec.kind == "spread_arrears":
        return rs.spread_arrears(position, _int(p, "m", 6), **common)
    if spec.kind == "arrears_instalments":
        start = date.fromisoformat(p["start"]) if "start" in p else position.next_due_date
        return rs.arrears_instalments(position, _int(p, "k", 6), start=start, **common)
    if spec.kind == "extend_term":
        return rs.extend_term(position, _int(p, "k", 12), **common)
    if spec.kind == "reduce_payment":
        default_target = to_money(position.current_instalment * Decimal("0.8"))
        return rs.reduce_payment(position, _decimal(p, "target", default_target), **common)
    months = _int(p, "months", position.remaining_instalments + rs.DEFAULT_RESTRUCTURE_EXTENSION)
    return rs.full_restructure(position, new_rate=_decimal(p, "rate", position.annual_rate),
                               months=months, waive_penalty=p.get("waive_penalty") == "true",
                               **common)


def view_of(index: int, option: rs.RestructuringOption, policy: Policy) -> OptionView:
    effect = option.effect
    waives = option.params.get("waive_penalty") == "true"
    return OptionView(
        index=index, kind=option.kind, params=dict(option.params),
        within_limits=option.within_limits, limit_violations=list(option.limit_violations),
        effect=EffectView(new_instalment=effect.new_instalment,
                          first_instalment=effect.first_instalment,
                          total_cost=effect.total_cost,
                          current_plan_cost=effect.current_plan_cost,
                          extra_cost=effect.extra_cost,
                          months_until_current=effect.months_until_current,
                          fits_capacity=effect.fits_capacity, notes=list(effect.notes)),
        schedule=[ScheduleRowView(number=r.number, due_date=r.due_date, principal=r.principal,
                                  interest=r.interest, arrears=r.arrears, fees=r.fees,
                                  total=r.total, remaining_balance=r.remaining_balance)
                  for r in option.schedule.rows],
        needs_approval=waives or effect.total_cost > policy.negotiation.approval_threshold)


class NegotiationActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession],
                 calendar: BusinessCalendar) -> None:
        self._sessions = sessions
        self._calendar = calendar

    def _next_working_day(self, day: date) -> date:
        return nth_business_day_after(day, 0, self._calendar.is_working_day)

    @activity.defn(name="load_loan_position")
    async def load_loan_position(self, request: LoanPositionRequest) -> LoanPositionView:
        async with self._sessions() as session:
            loan = await session.get(Loan, request.loan_id)
        if loan is None:
            raise ApplicationError(f"loan {request.loan_id} is unknown", type="UnknownLoan",
                                   non_retryable=True)
        days = max(0, (request.as_of - request.oldest_unpaid_due_date).days)
        # Core banking reports each missed instalment as one amount, not its principal and
        # interest parts, so the arrears count as principal for options and penalty.
        return LoanPositionView(
            outstanding_principal=loan.principal_outstanding, annual_rate=loan.annual_rate,
            remaining_instalments=max(1, loan.remaining_instalments),
            current_instalment=loan.instalment_amount, next_due_date=request.next_due_date,
            arrears_principal=request.arrears, arrears_interest=Decimal("0.00"),
            penalty_interest=penalty_interest(request.arrears, loan.annual_rate,
                                              request.penalty_uplift, days,
                                              request.penalty_day_basis))

    @activity.defn(name="build_options")
    async def build_options(self, request: BuildOptionsRequest) -> list[OptionView]:
        """The officer's options, or every option of the bank's process with defaults."""
        p = request.position
        rules = request.policy.negotiation
        try:
            position = rs.LoanPosition(
                outstanding_principal=p.outstanding_principal, annual_rate=p.annual_rate,
                remaining_instalments=p.remaining_instalments,
                current_instalment=p.current_instalment, next_due_date=p.next_due_date,
                arrears_principal=p.arrears_principal, arrears_interest=p.arrears_interest,
                penalty_interest=p.penalty_interest, fees=p.fees)
            if not request.specs:
                # The defaults adapt to the loan (fewer parts for tiny arrears, a feasible
                # payment target...) and note what they changed on each option.
                options = rs.all_options(
                    position, capacity=request.capacity, adjust=self._next_working_day,
                    today=request.today,
                    limits=rs.OptionLimits(max_extension_months=rules.max_extension_months,
                                           max_agreement_months=rules.max_agreement_months,
                                           max_spread_instalments=rules.max_spread_instalments))
            else:
                options = [build(spec, position, policy=request.policy,
                                 capacity=request.capacity, adjust=self._next_working_day,
                                 today=request.today) for spec in request.specs]
        except ValueError as exc:  # OptionError and invalid positions: the officer's to fix
            field = getattr(exc, "field", "position")
            raise ApplicationError(f"cannot build the option ({field}): {exc}",
                                   type="OptionError", non_retryable=True) from exc
        return [view_of(index, option, request.policy) for index, option in enumerate(options)]

    @activity.defn(name="record_negotiation")
    async def record_negotiation(self, record: NegotiationRecord) -> None:
        async with self._sessions() as session:
            await records.upsert_negotiation(session, record)
            await session.commit()

    @activity.defn(name="record_negotiation_event")
    async def record_negotiation_event(self, event: NegotiationEventRecord) -> None:
        async with self._sessions() as session:
            await records.insert_event(session, event)
            await session.commit()

    @activity.defn(name="record_promise")
    async def record_promise(self, record: PromiseRecord) -> None:
        """Promises to pay from calls and officers, and whether they were kept."""
        async with self._sessions() as session:
            await records.upsert_promise(session, record)
            await session.commit()

    @activity.defn(name="save_agreement")
    async def save_agreement(self, agreement: AgreementView) -> None:
        async with self._sessions() as session:
            await records.upsert_agreement(session, agreement)
            await session.commit()
        log.info("agreement saved", agreement_id=agreement.agreement_id,
                 status=agreement.status)


