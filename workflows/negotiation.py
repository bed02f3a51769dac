"""A negotiation round: one negotiator works one-to-one with the customer.

Child workflow ``negotiation-<loan_id>-<round>`` of the loan's case. Officers act through
updates (assessment, proposals, the customer's answer, the second officer's approval,
promises to pay); each update's validator refuses, with the reason, a command that does
not fit the round's state. The round ends kept (the agreed plan performed through its
probation), cured (the arrears paid), or failed (refused, no agreement in time, a plan or
a promise broken); the case counts the failures.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.stage_report import report_to_case

with workflow.unsafe.imports_passed_through():
    from zoneinfo import ZoneInfo

    from activities.contracts import NegotiationEventRecord, NegotiationRecord, PromiseRecord
    from domain.assessment import (
        AssessmentRules,
        AssetItem,
        DebtItem,
        ExpenseItem,
        IncomeItem,
        assess,
    )
    from domain.case import StageResult
    from domain.money import format_amount
    from domain.negotiation import (
        QUERY_NEGOTIATION,
        SIGNAL_PAYMENT,
        UPDATE_ANSWER,
        UPDATE_APPROVE,
        UPDATE_ASSESSMENT,
        UPDATE_ASSIGN,
        UPDATE_PROMISE,
        UPDATE_PROPOSE,
        WORKFLOW_NEGOTIATION,
        AgreementView,
        AnswerInput,
        ApprovalInput,
        AssessmentInput,
        AssignInput,
        BuildOptionsRequest,
        CapacityView,
        FailureReason,
        HistoryEntry,
        NegotiationInput,
        NegotiationResult,
        NegotiationState,
        OptionView,
        PaymentNotice,
        PromiseInput,
        PromiseView,
        Proposal,
        ProposeInput,
    )
    from domain.policy import shared_policy
    from overdue.metrics import count_agreement

DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1))


@workflow.defn(name=WORKFLOW_NEGOTIATION)
class NegotiationWorkflow:
    @workflow.init
    def __init__(self, round_input: NegotiationInput) -> None:
        self._in = round_input.model_copy(update={"policy": shared_policy(round_input.policy)})
        policy = round_input.policy.negotiation
        self._s = NegotiationState(
            negotiation_id=workflow.info().workflow_id, round=round_input.round,
            negotiator=round_input.negotiator, arrears=round_input.arrears,
            deadline=self._case_now() + timedelta(days=policy.round_days))
        self._pending_events: list[NegotiationEventRecord] = []

    # --- officer commands ---------------------------------------------------------------

    @workflow.update(name=UPDATE_ASSIGN)
    def assign_negotiator(self, command: AssignInput) -> str:
        previous = self._s.negotiator
        self._s.negotiator = command.officer
        self._log("assigned", command.officer, f"negotiator {previous} -> {command.officer}")
        return command.officer

    @assign_negotiator.validator
    def _validate_assign(self, command: AssignInput) -> None:
        self._require_status("open", "awaiting_approval")

    @workflow.update(name=UPDATE_ASSESSMENT)
    def record_assessment(self, command: AssessmentInput) -> CapacityView:
        policy = self._in.policy.negotiation
        capacity = assess(
            [IncomeItem(i.source, i.monthly_amount, i.proof_ref) for i in command.incomes],
            [ExpenseItem(e.category, e.monthly_amount) for e in command.expenses],
            [AssetItem(a.kind, a.value, a.liquid) for a in command.assets],
            [DebtItem(d.lender, d.monthly_payment, d.outstanding) for d in command.debts],
            current_instalment=self._in.position.current_instalment,
            expected_recovery_months=command.expected_recovery_months,
            rules=AssessmentRules(max_debt_service_ratio=policy.max_debt_service_ratio,
                                  short_term_max_months=policy.short_term_max_months))
        view = CapacityView(
            monthly_income=capacity.monthly_income, monthly_expenses=capacity.monthly_expenses,
            other_debt_payments=capacity.other_debt_payments,
            disposable_income=capacity.disposable_income,
            debt_service_ratio=capacity.debt_service_ratio,
            max_affordable_instalment=capacity.max_affordable_instalment,
            liquid_assets=capacity.liquid_assets, difficulty=capacity.difficulty,
            reasons=list(capacity.reasons))
        self._s.capacity = view
        self._log("assessment", command.officer,
                  f"{view.difficulty} difficulty, affordable instalment "
                  f"{self._money(view.max_affordable_instalment)}",
                  {"capacity": view.model_dump(mode="json"),
                   "proofs": [i.proof_ref for i in command.incomes if i.proof_ref]})
        return view

    @record_assessment.validator
    def _validate_assessment(self, command: AssessmentInput) -> None:
        self._require_status("open")
        self._require_negotiator(command.officer)

    @workflow.update(name=UPDATE_PROPOSE)
    async def propose_options(self, command: ProposeInput) -> Proposal:
        s = self._s
        options: list[OptionView] = await workflow.execute_activity(
            "build_options",
            BuildOptionsRequest(
                loan_id=self._in.loan_id, position=self._in.position, specs=command.options,
                capacity=s.capacity.max_affordable_instalment if s.capacity else None,
                policy=self._in.policy, today=self._case_date()),
            result_type=list[OptionView], start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary="build repayment options with their schedules")
        proposal = Proposal(proposal_id=len(s.proposals) + 1, officer=command.officer,
                            made_at=self._case_now(), options=options, note=command.note)
        s.proposals.append(proposal)
        self._log("proposal", command.officer,
                  f"proposal {proposal.proposal_id}: "
                  + ", ".join(f"{o.kind} {self._money(o.effect.new_instalment)}/month"
                              for o in options),
                  {"proposal": proposal.model_dump(mode="json")})
        return proposal

    @propose_options.validator
    def _validate_propose(self, command: ProposeInput) -> None:
        self._require_status("open")
        self._require_negotiator(command.officer)

    @workflow.update(name=UPDATE_ANSWER)
    def record_customer_answer(self, command: AnswerInput) -> NegotiationState:
        s = self._s
        proposal = s.proposals[command.proposal_id - 1]
        detail = {"answer": command.model_dump(mode="json")}
        if command.answer == "reject":
            self._log("answer", command.recorded_by,
                      f"customer rejected proposal {proposal.proposal_id}", detail)
            self._fail("refused")
        elif command.answer == "counter":
            self._log("answer", command.recorded_by,
                      f"customer countered proposal {proposal.proposal_id}: "
                      f"{command.note or ''}".strip(), detail)
        else:
            assert command.option_index is not None
            option = proposal.options[command.option_index]
            s.agreement = AgreementView(
                agreement_id=f"{s.negotiation_id}-p{proposal.proposal_id}-o{option.index}",
                negotiation_id=s.negotiation_id, loan_id=self._in.loan_id,
                proposal_id=proposal.proposal_id, option=option, proposed_by=proposal.officer,
                approved_by=None, agreed_at=self._case_now(), paid_before=s.paid,
                status="pending_approval" if option.needs_approval else "following")
            s.status = "awaiting_approval" if option.needs_approval else "following"
            self._log("answer", command.recorded_by,
                      f"customer accepted {option.kind} of proposal {proposal.proposal_id}"
                      + ("; awaiting a second officer's approval" if option.needs_approval
                         else ""), detail)
        return s

    @record_customer_answer.validator
    def _validate_answer(self, command: AnswerInput) -> None:
        s = self._s
        self._require_status("open")
        if not s.proposals:
            raise ValueError("no proposal has been made yet")
        if command.proposal_id != len(s.proposals):
            raise ValueError(f"proposal {command.proposal_id} is not the latest revision "
                             f"({len(s.proposals)}); answer the latest one")
        if command.answer == "accept":
            options = s.proposals[-1].options
            if command.option_index is None or not 0 <= command.option_index < len(options):
                raise ValueError(f"accept needs option_index between 0 and {len(options) - 1}")
            option = options[command.option_index]
            if not option.within_limits:
                raise ValueError(f"option {option.index} ({option.kind}) breaks the policy's "
                                 f"limits: {'; '.join(option.limit_violations)}")
        elif command.option_index is not None:
            raise ValueError("option_index goes only with accept")

    @workflow.update(name=UPDATE_APPROVE)
    def approve_agreement(self, command: ApprovalInput) -> NegotiationState:
        s = self._s
        assert s.agreement is not None
        if command.approve:
            s.agreement.approved_by = command.officer
            s.agreement.status = "following"
            s.agreement.agreed_at = self._case_now()
            s.agreement.paid_before = s.paid
            s.status = "following"
            self._log("approval", command.officer, "agreement approved (maker-checker)",
                      {"note": command.note})
        else:
            self._log("approval", command.officer,
                      f"agreement declined: {command.note or 'no reason given'}",
                      {"note": command.note})
            s.agreement = None
            s.status = "open"
        return s

    @approve_agreement.validator
    def _validate_approve(self, command: ApprovalInput) -> None:
        s = self._s
        self._require_status("awaiting_approval")
        assert s.agreement is not None
        if command.officer == s.agreement.proposed_by:
            raise ValueError("maker-checker: the officer who proposed the plan cannot approve "
                             "it; a second officer must")

    @workflow.update(name=UPDATE_PROMISE)
    def record_promise(self, command: PromiseInput) -> PromiseView:
        promise = PromiseView(amount=command.amount, due=command.due, made_by=command.officer,
                              made_at=self._case_now(), paid_before=self._s.paid,
                              key=f"{self._s.negotiation_id}:promise:"
                                  f"{len(self._s.promises) + 1}")
        self._s.promises.append(promise)
        self._log("promise", command.officer,
                  f"promise to pay {self._money(command.amount)} by {command.due.isoformat()}",
                  {"promise": command.model_dump(mode="json")})
        return promise

    @record_promise.validator
    def _validate_promise(self, command: PromiseInput) -> None:
        self._require_status("open")
        if self._open_promise() is not None:
            raise ValueError("a promise to pay is already open; wait until it is kept or broken")
        today = self._case_date()
        latest = today + timedelta(days=self._in.policy.negotiation.promise_max_days)
        if not today <= command.due <= latest:
            raise ValueError(f"a promise must fall between {today.isoformat()} and "
                             f"{latest.isoformat()} (policy: promise_max_days)")

    @workflow.signal(name=SIGNAL_PAYMENT)
    def payment(self, notice: PaymentNotice) -> None:
        s = self._s
        if notice.event_id in s.seen_payments:
            return
        s.seen_payments.append(notice.event_id)
        s.paid += notice.amount
        if s.agreement is not None:
            s.agreement.paid_since = s.paid - s.agreement.paid_before
        self._settle_promise(deadline_passed=False)

    @workflow.query(name=QUERY_NEGOTIATION)
    def negotiation_state(self) -> NegotiationState:
        return self._s

    # --- the round ----------------------------------------------------------------------

    @workflow.run
    async def run(self, round_input: NegotiationInput) -> NegotiationResult:
        me = workflow.info().workflow_id
        try:
            result = await self._round(round_input)
        except asyncio.CancelledError:
            cancelled = NegotiationResult(round=self._s.round, status="cancelled")
            await report_to_case(StageResult(child_id=me, negotiation=cancelled))
            raise
        await report_to_case(StageResult(child_id=me, negotiation=result))
        return result

    async def _round(self, round_input: NegotiationInput) -> NegotiationResult:
        s = self._s
        await self._record()
        while s.status in ("open", "awaiting_approval"):
            await self._flush_events()
            if s.paid >= s.arrears:
                s.status = "cured"
                break
            promise = self._open_promise()
            wake = s.deadline
            if promise is not None:
                wake = min(wake, self._promise_deadline(promise))
            remaining = (wake - self._case_now()) / self._scale()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: (s.status not in ("open", "awaiting_approval")
                                 or s.paid >= s.arrears or bool(self._pending_events)),
                        timeout=remaining, timeout_summary="negotiation: waiting for the "
                                                           "customer and the officers")
                    continue
                except TimeoutError:
                    pass
            if promise is not None and self._case_now() >= self._promise_deadline(promise):
                self._settle_promise(deadline_passed=True)
                if promise.status == "broken":
                    self._fail("promise_broken")
                continue
            if self._case_now() >= s.deadline:
                self._fail("no_agreement")
        if s.status == "following":
            await self._follow_plan()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._flush_events()
        await self._record()
        status = s.status if s.status in ("kept", "cured", "failed") else "failed"
        return NegotiationResult(round=s.round, status=status,
                                 reason=s.failure_reason,
                                 agreement_id=s.agreement.agreement_id if s.agreement else None)

    async def _follow_plan(self) -> None:
        """Each plan instalment, through the probation, against the payments received."""
        s = self._s
        agreement = s.agreement
        assert agreement is not None
        await self._flush_events()
        await workflow.execute_activity(
            "save_agreement", agreement, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary=f"save the agreed plan ({agreement.option.kind})")
        policy = self._in.policy.negotiation
        rows = agreement.option.schedule
        followed = rows[:policy.probation_instalments] if policy.probation_instalments else rows
        due_so_far = Decimal("0.00")
        for row in followed:
            due_so_far += row.total
            check_at = self._start_of_day(row.due_date + timedelta(
                days=policy.plan_grace_days + 1))
            remaining = (check_at - self._case_now()) / self._scale()

            def paid_enough(target: Decimal = due_so_far) -> bool:
                return agreement.paid_since >= target

            if remaining > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        paid_enough, timeout=remaining,
                        timeout_summary=f"plan instalment {row.number} due "
                                        f"{row.due_date.isoformat()} (+{policy.plan_grace_days}"
                                        " days grace)")
            if agreement.paid_since < due_so_far:
                agreement.status = "broken"
                self._log("plan", "system",
                          f"plan instalment {row.number} unpaid "
                          f"{policy.plan_grace_days} days after {row.due_date.isoformat()}")
                self._fail("agreement_broken")
                break
            agreement.instalments_kept = row.number
        else:
            agreement.status = "kept"
            s.status = "kept"
            self._log("plan", "system",
                      f"{len(followed)} plan instalment(s) kept: restructured and performing")
        count_agreement(agreement.status)
        await workflow.execute_activity(
            "save_agreement", agreement, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary=f"plan {agreement.status}")

    # --- helpers ------------------------------------------------------------------------

    def _fail(self, reason: FailureReason) -> None:
        self._s.status = "failed"
        self._s.failure_reason = reason
        self._log("failed", "system", f"negotiation failed: {reason}")

    def _open_promise(self) -> PromiseView | None:
        return next((p for p in self._s.promises if p.status == "open"), None)

    def _promise_deadline(self, promise: PromiseView) -> datetime:
        grace = self._in.policy.early_stage.promise_grace_days
        return self._start_of_day(promise.due + timedelta(days=grace + 1))

    def _settle_promise(self, *, deadline_passed: bool) -> None:
        promise = self._open_promise()
        if promise is None:
            return
        if self._s.paid - promise.paid_before >= promise.amount:
            promise.status = "kept"
            self._log("promise", "system", "promise to pay kept")
        elif deadline_passed:
            promise.status = "broken"
            self._log("promise", "system", "promise to pay broken")

    def _require_status(self, *allowed: str) -> None:
        if self._s.status not in allowed:
            raise ValueError(f"the negotiation is {self._s.status}; this needs "
                             f"{' or '.join(allowed)}")

    def _require_negotiator(self, officer: str) -> None:
        if officer != self._s.negotiator:
            raise ValueError(f"{officer} is not this round's negotiator ({self._s.negotiator})")

    def _log(self, kind: str, actor: str, summary: str,
             detail: Mapping[str, object] | None = None) -> None:
        s = self._s
        s.history.append(HistoryEntry(at=self._case_now(), kind=kind, actor=actor,
                                      summary=summary))
        self._pending_events.append(NegotiationEventRecord(
            negotiation_id=s.negotiation_id, loan_id=self._in.loan_id,
            sequence=len(s.history), kind=kind, actor=actor, at=self._case_now(),
            detail={"summary": summary, **(detail or {})}))

    async def _flush_events(self) -> None:
        for promise in self._s.promises:
            if promise.recorded_status != promise.status:
                await workflow.execute_activity(
                    "record_promise",
                    PromiseRecord(promise_key=promise.key, loan_id=self._in.loan_id,
                                  source="officer", made_by=promise.made_by,
                                  amount=promise.amount, due_date=promise.due,
                                  status=promise.status,
                                  received=max(self._s.paid - promise.paid_before,
                                               Decimal("0.00"))),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
                    summary=f"promise to pay {promise.status}")
                promise.recorded_status = promise.status
        while self._pending_events:
            event = self._pending_events.pop(0)
            await workflow.execute_activity(
                "record_negotiation_event", event, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY, summary=f"record {event.kind} by {event.actor}")

    async def _record(self) -> None:
        s = self._s
        await workflow.execute_activity(
            "record_negotiation",
            NegotiationRecord(negotiation_id=s.negotiation_id, loan_id=self._in.loan_id,
                              case_ref=self._in.case_ref, round=s.round,
                              negotiator=s.negotiator, status=s.status,
                              failure_reason=s.failure_reason, arrears=s.arrears,
                              ended=s.status in ("kept", "failed", "cured", "cancelled")),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
            summary=f"record negotiation round {s.round}: {s.status}")
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        s = self._s
        lines = [f"**Round:** {s.round}", f"**Status:** {s.status}",
                 f"**Negotiator:** {s.negotiator}",
                 f"**Arrears at start:** {self._money(s.arrears)}",
                 f"**Received:** {self._money(s.paid)}",
                 f"**Deadline:** {s.deadline.isoformat()}"]
        if s.failure_reason:
            lines.append(f"**Failed:** {s.failure_reason}")
        return "\n\n".join(lines)

    def _money(self, amount: Decimal) -> str:
        return format_amount(amount, self._in.policy.case.currency)

    def _scale(self) -> int:
        return self._in.policy.clock.time_scale

    def _case_now(self) -> datetime:
        return self._in.clock_anchor_case + (
            workflow.now() - self._in.clock_anchor_real) * self._scale()

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self._in.policy.case.timezone)

    def _case_date(self) -> date:
        return self._case_now().astimezone(self._zone()).date()

    def _start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self._zone())
