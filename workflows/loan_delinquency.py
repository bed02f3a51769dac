"""One durable workflow per overdue loan, id ``loan-<loan_id>``.

Core-banking events arrive as the ``core_banking_event`` signal (signal-with-start);
the contact centre, the SMS gateway and officers report back through their own signals.
The case runs on a *case clock*: equal to Temporal time in production, sped up by the
policy's ``clock.time_scale`` in the demo, so every timer and days-past-due figure
derives from ``workflow.now()`` and replays identically.

Early stage (the bank's first stage): a ladder of reminders in business days after the
missed due date, each on the customer's best lawful channel, paused while a dedicated
representative handles special circumstances, while a dispute is open, or while a
promise to pay runs; not cured by the policy's days past due, the case escalates to
negotiation.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, Literal, NoReturn, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ChildWorkflowError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from zoneinfo import ZoneInfo

    from activities.calendar import ContactInstant, ContactInstantRequest
    from activities.contracts import (
        AssignRepresentativeRequest,
        BucketChangeRecord,
        CaseRecord,
        CloseAssignmentRequest,
        ContactOutcome,
        ContactPlan,
        LoadPolicyRequest,
        LoanPositionRequest,
        PlanContactRequest,
        PromiseRecord,
        RepresentativeAssigned,
        SendReminderRequest,
    )
    from domain.aftercare import (
        SURVEYED_OUTCOMES,
        WORKFLOW_AFTERCARE,
        AftercareInput,
        aftercare_id_for,
    )
    from domain.arrears import ArrearsPosition, days_past_due
    from domain.business_calendar import add_months
    from domain.case import (
        QUERY_STATE,
        SIGNAL_CALL_OUTCOME,
        SIGNAL_CONTACT_RECEIPT,
        SIGNAL_CORE_BANKING_EVENT,
        SIGNAL_DISPUTE,
        SIGNAL_HARDSHIP,
        SIGNAL_REPRESENTATIVE_UPDATE,
        SIGNAL_STAGE_RESULT,
        UPDATE_LEGAL_OVERRIDE,
        UPDATE_TRANSFER,
        UPDATE_WRITE_OFF,
        WORKFLOW_TYPE,
        CallOutcome,
        CaseEvent,
        CaseInput,
        CaseOutcome,
        CaseState,
        CaseView,
        ClosureDecision,
        ContactReceipt,
        ContactRecord,
        DisputeUpdate,
        HardshipFlag,
        HardshipState,
        InstalmentRecord,
        LegalOverride,
        Outcome,
        PromiseState,
        RepresentativeUpdate,
        StageResult,
        Transfer,
        WriteOff,
    )
    from domain.contact_rules import Channel
    from domain.legal import (
        LegalTriggerRules,
        TransferScreening,
        check_write_off,
        legal_review_due,
        may_transfer,
    )
    from domain.legal_case import (
        SIGNAL_LEGAL_PAYMENT,
        WORKFLOW_LEGAL,
        LedgerItem,
        LegalInput,
        LegalResult,
        legal_id_for,
    )
    from domain.money import ZERO, format_amount
    from domain.negotiation import (
        SIGNAL_PAYMENT,
        WORKFLOW_NEGOTIATION,
        LoanPositionView,
        NegotiationInput,
        NegotiationResult,
        PaymentNotice,
        negotiation_id_for,
    )
    from domain.policy import Policy, ReminderStep, shared_policy
    from overdue.metrics import count_stage
    from workflows import search_attributes as sa

StageT = TypeVar("StageT", NegotiationResult, LegalResult)

SEEN_EVENT_IDS_KEPT = 500
"""Enough to recognise any re-delivery of a case's events; bounded so state stays small."""
RESPONSE_WINDOW = timedelta(days=7)
"""A payment within this long of a contact counts as a response to its channel."""

DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1))
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=5))
SEND_ACTIVITY = {"sms": "send_sms_reminder", "email": "send_email_reminder",
                 "phone": "create_call_task"}

# Workflow changes made while cases are open (docs/workflow-changes.md).
PATCH_CHILDREN_OUTLIVE_RUNS = "children-outlive-runs"
"""Children are abandoned, not cancelled, when a run closes, so a case can continue as
new while a negotiation round or legal case runs; they report back by signal."""
PATCH_REFRESH_AT_BUCKET_CHANGES = "refresh-at-bucket-changes"
"""One timer per bucket change instead of one per day: ~2,000 fewer events a case-year,
and no wake-up of every open case at midnight."""
PATCH_LOG_BUCKET_CHANGES = "log-bucket-changes"
"""Each change of bucket or oldest unpaid due date is written to ``bucket_changes``, so
roll rates are exact."""


@workflow.defn(name=WORKFLOW_TYPE)
class LoanDelinquencyWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        self._s = case.resume if case.resume is not None else CaseState(loan_id=case.loan_id)
        if self._s.policy is not None:
            self._s.policy = shared_policy(self._s.policy)
        self._bucket_writes = 0  # record_bucket_change activities in flight

    # --- events -------------------------------------------------------------------------

    @workflow.signal(name=SIGNAL_CORE_BANKING_EVENT)
    def core_banking_event(self, event: CaseEvent) -> None:
        s = self._s
        if event.event_id in s.seen_event_ids:
            return
        s.seen_event_ids.append(event.event_id)
        del s.seen_event_ids[:-SEEN_EVENT_IDS_KEPT]
        if s.case_ref is None:
            s.case_ref = f"{s.loan_id}:{event.event_id}"
        if event.type == "instalment.missed":
            assert event.instalment_number is not None and event.due_date is not None
            assert event.amount is not None
            # Core banking may report the same miss twice under two event ids.
            if all(m.number != event.instalment_number for m in s.missed):
                s.missed.append(InstalmentRecord(number=event.instalment_number,
                                                 due_date=event.due_date, amount=event.amount))
            s.product = event.product or s.product
            s.branch = event.branch or s.branch
            s.currency = event.currency or s.currency
        elif event.type == "payment.received":
            assert event.amount is not None
            s.paid_total += event.amount
            self._note_response()
            self._settle_promise()
            notice = PaymentNotice(event_id=event.event_id, amount=event.amount,
                                   value_date=event.value_date or event.occurred_at.date())
            s.payment_log.append(notice)
            if s.negotiation_id is not None or s.legal_id is not None:
                s.pending_payments.append(notice)
        elif event.type == "loan.closed":
            s.closure_reason = event.closure_reason or "closed"
        elif event.type == "hardship.flagged":
            assert event.hardship_kind is not None
            self.hardship_flagged(HardshipFlag(kind=event.hardship_kind,
                                               flagged_by="core-banking"))

    @workflow.signal(name=SIGNAL_STAGE_RESULT)
    def stage_result(self, result: StageResult) -> None:
        s = self._s
        if result.child_id in (s.negotiation_id, s.legal_id):
            s.stage_results[result.child_id] = result

    @workflow.signal(name=SIGNAL_CALL_OUTCOME)
    def call_outcome(self, outcome: CallOutcome) -> None:
        self._s.call_outcomes.setdefault(outcome.idempotency_key, outcome)

    @workflow.signal(name=SIGNAL_CONTACT_RECEIPT)
    def contact_receipt(self, receipt: ContactReceipt) -> None:
        self._s.receipts.setdefault(receipt.idempotency_key, receipt)

    @workflow.signal(name=SIGNAL_HARDSHIP)
    def hardship_flagged(self, flag: HardshipFlag) -> None:
        s = self._s
        if s.hardship is not None and s.hardship.active:
            return
        s.hardship = HardshipState(kind=flag.kind, flagged_by=flag.flagged_by,
                                   flagged_at=self._case_now() if s.clock_anchor_real
                                   else workflow.now())
        s.hardship_count += 1

    @workflow.signal(name=SIGNAL_REPRESENTATIVE_UPDATE)
    def representative_update(self, update: RepresentativeUpdate) -> None:
        hardship = self._s.hardship
        if hardship is not None and hardship.active and hardship.representative is not None:
            hardship.active = False
            hardship.outcome = update.outcome

    @workflow.signal(name=SIGNAL_DISPUTE)
    def dispute_update(self, update: DisputeUpdate) -> None:
        self._s.dispute_open = update.open

    @workflow.update(name=UPDATE_LEGAL_OVERRIDE)
    def legal_override(self, override: LegalOverride) -> str:
        self._s.legal_override = override
        return "legal review will start when the current negotiation round ends"

    @legal_override.validator
    def _validate_override(self, override: LegalOverride) -> None:
        s = self._s
        assert s.policy is not None
        if override.role != s.policy.legal.override_role:
            raise ValueError(f"only the {s.policy.legal.override_role} role may send a case to "
                             "law before the rule allows it")
        if s.stage != "negotiation":
            raise ValueError(f"an override applies in negotiation; the case is {s.stage}")

    @workflow.update(name=UPDATE_WRITE_OFF)
    def write_off(self, decision: WriteOff) -> str:
        self._s.officer_closure = ClosureDecision(outcome="written_off",
                                                  reason=decision.reason_code,
                                                  decided_by=decision.officer)
        return "written off"

    @write_off.validator
    def _validate_write_off(self, decision: WriteOff) -> None:
        check_write_off(decision.reason_code)
        self._require_open_for_closure()

    @workflow.update(name=UPDATE_TRANSFER)
    def transfer(self, decision: Transfer) -> str:
        self._s.officer_closure = ClosureDecision(
            outcome="transferred", reason=f"{decision.channel}:{decision.counterparty}",
            decided_by=decision.officer)
        return f"transferred ({decision.channel})"

    @transfer.validator
    def _validate_transfer(self, decision: Transfer) -> None:
        allowed, why = may_transfer(TransferScreening(
            deceased=decision.deceased, bankrupt=decision.bankrupt,
            disputed=self._s.dispute_open))
        if not allowed:
            raise ValueError(why)
        self._require_open_for_closure()

    def _require_open_for_closure(self) -> None:
        s = self._s
        if s.outcome is not None or s.officer_closure is not None:
            raise ValueError("the case is already closing")
        if s.stage not in ("negotiation", "legal"):
            raise ValueError("write-off and transfer follow negotiation or legal action; "
                             f"the case is {s.stage}")
        if s.legal_id is not None:
            raise ValueError(f"legal case {s.legal_id} is running; settle or end it first")

    @workflow.query(name=QUERY_STATE)
    def case_state(self) -> CaseView:
        s = self._s
        position = s.position()
        dpd = self._days_past_due() if s.policy is not None else 0
        return CaseView(
            loan_id=s.loan_id, case_ref=s.case_ref, stage=s.stage, outcome=s.outcome,
            policy_version=s.policy.version if s.policy else None,
            arrears=position.arrears, unapplied_credit=position.unapplied_credit,
            days_past_due=dpd, bucket=s.policy.bucket_for(dpd) if s.policy else None,
            oldest_unpaid_due_date=position.oldest_unpaid_due_date,
            missed_instalments=len(s.missed), paid_total=s.paid_total,
            contacts=list(s.contacts), next_step=s.next_step, next_step_at=s.next_step_at,
            case_time=self._case_now() if s.clock_anchor_real else None,
            hardship=s.hardship, dispute_open=s.dispute_open, promise=s.promise,
            escalation_at=s.escalation_at, negotiation_id=s.negotiation_id,
            negotiation_rounds=s.negotiation_rounds,
            consecutive_failed_negotiations=s.consecutive_failed_negotiations,
            negotiation_results=list(s.negotiation_results), legal_id=s.legal_id,
            legal_results=list(s.legal_results),
        )

    # --- the case -----------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        s = self._s
        if s.clock_anchor_real is None:
            s.clock_anchor_real = s.clock_anchor_case = workflow.now()
            if s.hardship is not None:
                s.hardship.flagged_at = workflow.now()
        if s.case_ref is None:
            s.case_ref = f"{s.loan_id}:{workflow.info().workflow_id}:{workflow.now().isoformat()}"
        if s.policy is None:
            s.policy = shared_policy(await workflow.execute_activity(
                "load_policy", LoadPolicyRequest(loan_id=s.loan_id), result_type=Policy,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
                summary="load the collections policy in force"))
        policy = s.policy
        # Days past due and the bucket grow every day; ops filter on them in the UI.
        daily = asyncio.create_task(self._refresh_daily())
        try:
            outcome = await self._case(policy)
            # A bucket row being written finishes first, rather than being cancelled.
            await workflow.wait_condition(lambda: self._bucket_writes == 0)
            return outcome
        finally:
            daily.cancel()

    async def _case(self, policy: Policy) -> CaseOutcome:
        s = self._s
        while True:
            outcome: Outcome | None = None
            if s.negotiation_id is not None or s.legal_id is not None:
                pass  # a run continued as new mid-stage: follow the child first
            elif s.officer_closure is not None:
                outcome = s.officer_closure.outcome
            elif s.closure_reason is not None:
                outcome = "loan_closed"
            elif s.missed and not s.position().in_arrears:
                outcome = "cured"
            elif not s.missed:
                # Opened by a payment or closure before any miss (events out of order):
                # wait a bounded time for the miss to arrive.
                arrived = await self._wait_case_days(
                    lambda: bool(s.missed) or s.closure_reason is not None,
                    policy.case.idle_close_after_days, "waiting for a missed instalment")
                if not arrived:
                    outcome = "no_arrears"
                else:
                    continue
            if outcome is not None:
                done = await self._finish(outcome)
                if done is not None:
                    return done
                continue
            if s.stage in ("opened", "early"):
                await self._early_stage(policy)
            if s.stage == "negotiation" and (s.negotiation_id is not None
                                             or not self._resolved()):
                next_step = await self._negotiation_stage(policy)
                if next_step == "kept":
                    done = await self._finish("restructured")
                    assert done is not None
                    return done
                if next_step == "legal":
                    s.stage = "legal"
                    await self._publish()
            if s.stage == "legal" and (s.legal_id is not None
                                       or (not self._resolved() and s.legal_count == 0)):
                legal = await self._legal_stage(policy)
                if legal is not None:
                    done = await self._finish(legal)
                    assert done is not None
                    return done
            if not self._resolved():
                await workflow.wait_condition(lambda: self._resolved() or self._over_budget())
            if not self._resolved():
                await self._continue_as_new()

    def _over_budget(self) -> bool:
        info = workflow.info()
        assert self._s.policy is not None
        return (info.is_continue_as_new_suggested()
                or info.get_current_history_length() >= self._s.policy.case.history_budget)

    async def _continue_as_new(self) -> NoReturn:
        """A fresh run carrying the whole case, once no signal or update is mid-way."""
        s = self._s
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and self._bucket_writes == 0)
        s.runs += 1
        workflow.continue_as_new(CaseInput(loan_id=s.loan_id, resume=s))

    # --- early stage --------------------------------------------------------------------

    async def _early_stage(self, policy: Policy) -> None:
        """The reminder ladder, then escalation to negotiation if the loan is not cured."""
        s = self._s
        if s.stage != "early":
            s.stage = "early"
            s.episode_due_date = s.position().oldest_unpaid_due_date
            s.escalation_at = None
            await self._publish()
        episode = s.episode_due_date
        assert episode is not None
        if s.escalation_at is None:
            escalation = await self._instant(
                episode + timedelta(days=policy.early_stage.escalate_at_days_past_due), 0,
                policy, f"escalation date ({policy.early_stage.escalate_at_days_past_due} "
                        "days past due)")
            s.escalation_at = escalation.at
        pending: list[tuple[ReminderStep, str, ContactInstant]] = []
        for step in policy.reminders.ladder:
            key = f"{s.loan_id}:{episode.isoformat()}:{step.name}"
            if key in s.completed_steps:
                continue
            instant = await self._instant(episode, step.business_days_after_due, policy,
                                          f"business day {step.business_days_after_due} "
                                          f"after {episode.isoformat()}")
            if instant.at >= s.escalation_at:
                break
            pending.append((step, key, instant))
        for index, (step, key, instant) in enumerate(pending):
            s.next_step, s.next_step_at = step.name, instant.at
            self._describe()
            if await self._wait_until(instant.at, f"{step.name} on "
                                      f"{instant.business_date.isoformat()}"):
                return
            later = pending[index + 1] if index + 1 < len(pending) else None
            if later is not None and later[2].at <= self._case_now():
                # Both this rung and the next came due while collection was paused (special
                # circumstances, a dispute, a promise): one catch-up contact, not a burst.
                self._record(step.name, "-", key, "skipped", "came due while paused")
            else:
                await self._run_step(step, key, policy)
            s.completed_steps.append(key)
            if self._resolved():
                return
        s.next_step, s.next_step_at = "escalate to negotiation", s.escalation_at
        self._describe()
        if await self._wait_until(s.escalation_at, "escalation to negotiation"):
            return
        s.stage = "negotiation"
        s.next_step, s.next_step_at = None, None
        await self._publish()

    async def _run_step(self, step: ReminderStep, key: str, policy: Policy) -> None:
        """One rung of the ladder: plan (channel + contact rules), send, follow up."""
        s = self._s
        failed: list[Channel] = []
        for attempt in range(12):
            if await self._settle_holds(policy) or self._resolved():
                return
            position = s.position()
            if position.arrears < step.min_arrears:
                self._record(step.name, "-", key, "skipped", f"arrears below {step.min_arrears}")
                return
            plan = await workflow.execute_activity(
                "plan_contact",
                PlanContactRequest(
                    loan_id=s.loan_id, step=step.name, decision_key=f"{key}:{attempt}",
                    at=self._case_now(), step_channel=step.channel,
                    channels=list(step.templates), exclude=failed,
                    responsive_channels=[c for c in s.responsive_channels
                                         if c in ("sms", "email", "phone")],
                    dispute_open=s.dispute_open, rules=policy.contact_rules,
                    channel_policy=policy.channels, bank_timezone=policy.case.timezone),
                result_type=ContactPlan, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY, summary=f"{step.name}: choose channel, check contact rules")
            if plan.action == "none":
                self._record(step.name, "-", key, "skipped", "no lawful channel")
                return
            if plan.action == "blocked":
                # Only a change of state (a dispute resolved) can allow it: hold and retry.
                await workflow.wait_condition(lambda: self._resolved() or not s.dispute_open)
                continue
            if plan.action == "defer":
                assert plan.next_allowed_at is not None
                if await self._wait_until(plan.next_allowed_at,
                                          f"{step.name}: {plan.reason}, next allowed time"):
                    return
                continue
            assert plan.channel is not None
            channel = plan.channel
            if not await self._contact(step, key, channel, policy):
                failed.append(channel)
                continue
            return
        self._record(step.name, "-", key, "skipped", "gave up after repeated deferrals")

    async def _contact(self, step: ReminderStep, key: str, channel: Channel,
                       policy: Policy) -> bool:
        """Send on one channel; False when it failed hard and the next channel should try."""
        s = self._s
        position = s.position()
        if position.oldest_unpaid_due_date is None:
            # Paid while the contact was being planned (or the channel before failed):
            # nothing is overdue, so no message. Cases used to fail their workflow task here.
            self._record(step.name, "-", key, "skipped", "paid before the message went out")
            return True
        contact_key = f"{key}:{channel}"
        now = self._case_now()
        currency = s.currency or policy.case.currency
        outcome = await workflow.execute_activity(
            SEND_ACTIVITY[channel],
            SendReminderRequest(
                loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id, step=step.name,
                idempotency_key=contact_key, template_name=step.templates[channel],
                templates=policy.templates[step.templates[channel]],
                subject_templates=(policy.templates[step.email_subject]
                                   if channel == "email" and step.email_subject else None),
                bank=policy.bank, penalty_uplift=policy.penalty.uplift,
                default_locale=policy.case.default_locale, overdue_amount=position.arrears,
                due_date=position.oldest_unpaid_due_date,
                days_past_due=self._days_past_due(), scheduled_for=now),
            result_type=ContactOutcome, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=SEND_RETRY,
            summary=f"{step.name}: {channel} reminder of "
                    f"{format_amount(position.arrears, currency)}")
        record = self._record(step.name, channel, contact_key, outcome.status, outcome.reason,
                              attempt_id=outcome.attempt_id, at=now)
        if outcome.status == "failed":
            return False
        if outcome.status == "suppressed":
            return False
        if channel == "sms" and policy.early_stage.delivery_receipt_wait_minutes:
            await self._wait_case(
                lambda: contact_key in s.receipts or self._resolved(),
                timedelta(minutes=policy.early_stage.delivery_receipt_wait_minutes),
                f"{step.name}: delivery receipt")
            receipt = s.receipts.get(contact_key)
            if receipt is not None:
                record.status = receipt.status
                if receipt.status == "failed":
                    record.note = receipt.error
                    return False
        if channel == "phone":
            answered = await self._wait_case(
                lambda: contact_key in s.call_outcomes or self._resolved(),
                timedelta(days=policy.early_stage.call_outcome_timeout_days),
                f"{step.name}: outcome of the call")
            call = s.call_outcomes.get(contact_key)
            if not answered or call is None:
                record.note = "no outcome from the contact centre in time"
                return True
            record.status = call.outcome
            if call.outcome == "wrong_number":
                return False
            if call.outcome in ("promise_to_pay", "refused", "dispute"):
                self._note_channel("phone")
            if call.outcome == "dispute":
                s.dispute_open = True
            if (call.outcome == "promise_to_pay" and call.promise_amount is not None
                    and call.promise_date is not None):
                s.promise = PromiseState(amount=call.promise_amount, due=call.promise_date,
                                         made_at=self._case_now(), paid_before=s.paid_total,
                                         key=f"{contact_key}:promise",
                                         made_by=call.agent or "contact-centre")
                s.promises.append(s.promise)
                self._settle_promise()
                await self._record_promises()
        return True

    # --- negotiation stage --------------------------------------------------------------

    async def _negotiation_stage(self, policy: Policy) -> Literal["kept", "legal", "none"]:
        """Negotiation rounds, each a child workflow, until a plan performs ("kept"), the
        legal rule is met ("legal"), or the case resolves or the rounds run out ("none").

        A round fails when the customer refuses, stays silent, or breaks a plan or promise;
        failures in a row are counted (a success resets the count). Legal review needs MORE
        than 90 days past due AND two failures in a row (policy); with the failures but not
        yet the days, the case waits for the day rather than negotiating on.
        """
        s = self._s
        rules = policy.negotiation
        while s.negotiation_id is not None or (not self._resolved()
                                               and s.negotiation_rounds < rules.max_rounds):
            # A round in flight when the run continued as new is followed, not restarted.
            if s.negotiation_id is None:
                if s.legal_override is not None:
                    return "legal"
                due, why = legal_review_due(
                    self._days_past_due(), s.consecutive_failed_negotiations,
                    LegalTriggerRules(min_days_past_due=policy.legal.min_days_past_due,
                                      consecutive_failed_negotiations=(
                                          policy.legal.consecutive_failed_negotiations)))
                if due:
                    return "legal"
                failures_needed = policy.legal.consecutive_failed_negotiations
                if s.consecutive_failed_negotiations >= failures_needed:
                    oldest = s.position().oldest_unpaid_due_date
                    assert oldest is not None
                    legal_day = self._start_of_day(
                        oldest + timedelta(days=policy.legal.min_days_past_due))
                    s.next_step, s.next_step_at = "legal review (days past due rule)", legal_day
                    self._describe()
                    if await self._wait_until(legal_day, f"legal review when {why}"):
                        return "none"
                    continue
                if s.negotiation_results and s.negotiation_results[-1].status == "failed":
                    # Kept in the state: a run continued as new resumes the same pause.
                    pause_until = s.round_pause_until or (
                        self._case_now() + timedelta(days=rules.new_round_after_days))
                    s.round_pause_until = pause_until
                    s.next_step, s.next_step_at = "next negotiation round", pause_until
                    self._describe()
                    if await self._wait_until(pause_until,
                                              "pause before the next negotiation round"):
                        return "none"
                    s.round_pause_until = None
            result = await self._negotiation_round(policy)
            s.negotiation_results.append(result)
            if result.status == "kept":
                s.consecutive_failed_negotiations = 0
                return "kept"
            if result.status == "failed":
                s.consecutive_failed_negotiations += 1
            else:
                s.consecutive_failed_negotiations = 0
            await self._publish()
        return "none"

    async def _legal_stage(self, policy: Policy) -> Outcome | None:
        """The legal case as a child workflow; its outcome closes the case (settled or
        recovered), or the case waits for an officer's write-off or transfer, or payment."""
        s = self._s
        child: workflow.ChildWorkflowHandle[Any, LegalResult] | None = None
        if s.legal_id is None:
            child = await self._start_legal_case(policy)
        assert s.legal_id is not None
        result = await self._follow_child(s.legal_id, child, SIGNAL_LEGAL_PAYMENT,
                                          lambda reported: reported.legal) \
            or LegalResult(number=s.legal_count, status="cancelled")
        s.legal_results.append(result)
        s.legal_id = None
        s.next_step, s.next_step_at = None, None
        if result.status == "settled":
            return "settled"
        if result.status == "recovered":
            return "recovered"
        s.next_step = f"legal case {result.status}: write off, transfer, or wait for payment"
        await self._publish()
        return None

    async def _start_legal_case(self, policy: Policy
                                ) -> workflow.ChildWorkflowHandle[Any, LegalResult]:
        s = self._s
        s.legal_count += 1
        position = s.position()
        assert position.oldest_unpaid_due_date is not None
        loan = await workflow.execute_activity(
            "load_loan_position",
            LoanPositionRequest(loan_id=s.loan_id, arrears=position.arrears,
                                oldest_unpaid_due_date=position.oldest_unpaid_due_date,
                                next_due_date=self._case_date() + timedelta(days=1),
                                as_of=self._case_date(), penalty_uplift=policy.penalty.uplift),
            result_type=LoanPositionView, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary="loan position for the legal claim")
        trigger = (f"override by {s.legal_override.officer} ({s.legal_override.role}): "
                   f"{s.legal_override.reason}" if s.legal_override else
                   f"{self._days_past_due()} days past due and "
                   f"{s.consecutive_failed_negotiations} failed negotiations in a row")
        assert s.clock_anchor_real is not None and s.clock_anchor_case is not None
        ledger = [LedgerItem(on=m.due_date, kind="instalment_due", amount=m.amount,
                             principal=m.amount) for m in s.missed]
        ledger += [LedgerItem(on=p.value_date, kind="payment", amount=p.amount)
                   for p in s.payment_log]
        child_id = legal_id_for(s.loan_id, s.legal_count)
        child = await workflow.start_child_workflow(
            WORKFLOW_LEGAL,
            LegalInput(loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id,
                       number=s.legal_count, policy=policy,
                       clock_anchor_real=s.clock_anchor_real,
                       clock_anchor_case=s.clock_anchor_case, ledger=ledger,
                       annual_rate=loan.annual_rate,
                       accelerated_principal=loan.outstanding_principal, trigger=trigger,
                       arrears=position.arrears, days_past_due=self._days_past_due(),
                       failed_negotiations=s.consecutive_failed_negotiations),
            id=child_id, result_type=LegalResult,
            parent_close_policy=self._child_close_policy(),
            static_summary=f"Legal case {s.legal_count} for loan {s.loan_id}")
        s.legal_id = child_id
        s.pending_payments.clear()
        s.next_step, s.next_step_at = f"legal case {child_id}", None
        await self._publish()
        return child

    async def _negotiation_round(self, policy: Policy) -> NegotiationResult:
        s = self._s
        child: workflow.ChildWorkflowHandle[Any, NegotiationResult] | None = None
        if s.negotiation_id is None:
            child = await self._start_negotiation_round(policy)
        assert s.negotiation_id is not None
        result = await self._follow_child(s.negotiation_id, child, SIGNAL_PAYMENT,
                                          lambda reported: reported.negotiation) \
            or NegotiationResult(round=s.negotiation_rounds, status="cancelled")
        s.negotiation_id = None
        s.next_step, s.next_step_at = None, None
        return result

    async def _start_negotiation_round(
            self, policy: Policy) -> workflow.ChildWorkflowHandle[Any, NegotiationResult]:
        s = self._s
        position = s.position()
        assert position.oldest_unpaid_due_date is not None
        round_number = s.negotiation_rounds + 1
        # The next instalment not yet due: monthly after the last one core banking reported.
        last_due, today = max(m.due_date for m in s.missed), self._case_date()
        months = 1
        while add_months(last_due, months) <= today:
            months += 1
        loan_position = await workflow.execute_activity(
            "load_loan_position",
            LoanPositionRequest(loan_id=s.loan_id, arrears=position.arrears,
                                oldest_unpaid_due_date=position.oldest_unpaid_due_date,
                                next_due_date=add_months(last_due, months),
                                as_of=today, penalty_uplift=policy.penalty.uplift),
            result_type=LoanPositionView, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary="loan position for the negotiation")
        negotiators = policy.negotiation.negotiators
        negotiator = negotiators[zlib.crc32(f"{s.loan_id}:{round_number}".encode())
                                 % len(negotiators)]
        assert s.clock_anchor_real is not None and s.clock_anchor_case is not None
        child_id = negotiation_id_for(s.loan_id, round_number)
        child = await workflow.start_child_workflow(
            WORKFLOW_NEGOTIATION,
            NegotiationInput(loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id,
                             round=round_number, policy=policy, position=loan_position,
                             arrears=position.arrears, clock_anchor_real=s.clock_anchor_real,
                             clock_anchor_case=s.clock_anchor_case, negotiator=negotiator),
            id=child_id, result_type=NegotiationResult,
            parent_close_policy=self._child_close_policy(),
            static_summary=f"Negotiation round {round_number} for loan {s.loan_id}")
        s.negotiation_rounds = round_number
        s.negotiation_id = child_id
        s.pending_payments.clear()
        s.next_step, s.next_step_at = f"negotiation round {round_number} ({negotiator})", None
        await self._publish(officer=negotiator)
        return child

    def _child_close_policy(self) -> ParentClosePolicy:
        s = self._s
        if not s.children_outlive_runs and workflow.patched(PATCH_CHILDREN_OUTLIVE_RUNS):
            s.children_outlive_runs = True
        return (ParentClosePolicy.ABANDON if s.children_outlive_runs
                else ParentClosePolicy.REQUEST_CANCEL)

    async def _follow_child(
            self, child_id: str, child: workflow.ChildWorkflowHandle[Any, StageT] | None,
            payment_signal: str, pick: Callable[[StageResult], StageT | None]
    ) -> StageT | None:
        """Hand payments to the running child until it ends; a loan closure cancels it.

        ``child`` is None when this run did not start the child (it continued as new
        mid-stage): the child is then reached by id and reports its result by signal.
        None means the child was cancelled.
        """
        s = self._s

        def ended() -> bool:
            return child_id in s.stage_results or (child is not None and child.done())

        def external() -> workflow.ExternalWorkflowHandle[Any]:
            return workflow.get_external_workflow_handle(child_id)

        while not ended():
            await workflow.wait_condition(
                lambda: ended() or bool(s.pending_payments) or s.closure_reason is not None
                or (s.children_outlive_runs and self._over_budget()))
            while s.pending_payments and not ended():
                notice = s.pending_payments.pop(0)
                if child is not None:
                    await child.signal(payment_signal, notice)
                else:
                    await external().signal(payment_signal, notice)
            if s.closure_reason is not None and not ended():
                if child is None:
                    await external().cancel()
                    return None
                child.cancel()
                break
            if s.children_outlive_runs and not ended() and self._over_budget():
                # The whole state goes to the next run, a result arriving meanwhile too.
                await self._continue_as_new()
        reported = s.stage_results.pop(child_id, None)
        if reported is not None:
            return pick(reported)
        assert child is not None
        try:
            result: StageT = await child
        except ChildWorkflowError:
            return None
        finally:
            # The child's own report of its end may have come in as it closed.
            s.stage_results.pop(child_id, None)
        return result

    # --- holds: special circumstances, disputes, promises to pay ------------------------

    def _on_hold(self) -> bool:
        s = self._s
        return (s.dispute_open or (s.hardship is not None and s.hardship.active)
                or (s.promise is not None and s.promise.status == "open"))

    async def _settle_holds(self, policy: Policy) -> bool:
        """Wait while the case is on hold; True if the case resolved meanwhile."""
        s = self._s
        while self._on_hold() and not self._resolved():
            hardship = s.hardship
            if hardship is not None and hardship.active and hardship.representative is None:
                await self._assign_representative(hardship, policy)
                continue
            lift_at: datetime | None = None
            if hardship is not None and hardship.active:
                lift_at = hardship.pause_until
            elif s.promise is not None and s.promise.status == "open" and not s.dispute_open:
                lift_at = self._promise_deadline(s.promise, policy)
            summary = ("dispute open: collection paused" if s.dispute_open else
                       "special circumstances: representative handling" if hardship
                       and hardship.active else "promise to pay running")
            s.next_step, s.next_step_at = summary, lift_at
            self._describe()
            if lift_at is None:
                await workflow.wait_condition(lambda: self._resolved() or not self._on_hold())
                continue
            remaining = (lift_at - self._case_now()) / self._scale()
            if remaining > timedelta(0):
                try:
                    await workflow.wait_condition(
                        lambda: self._resolved() or not self._on_hold(), timeout=remaining,
                        timeout_summary=summary)
                    continue
                except TimeoutError:
                    pass
            self._expire_holds(policy)
        if s.hardship is not None and not s.hardship.active and s.hardship.outcome \
                and s.hardship.representative is not None and s.hardship.follow_up_task_id:
            await self._close_assignment(s.hardship)
        await self._record_promises()
        return self._resolved()

    async def _record_promises(self) -> None:
        """Write promises whose status the database does not have yet."""
        s = self._s
        for promise in s.promises:
            if promise.recorded_status == promise.status:
                continue
            await workflow.execute_activity(
                "record_promise",
                PromiseRecord(promise_key=promise.key, loan_id=s.loan_id, source="call",
                              made_by=promise.made_by, amount=promise.amount,
                              due_date=promise.due, status=promise.status,
                              received=max(s.paid_total - promise.paid_before, ZERO)),
                start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
                summary=f"promise to pay {promise.status}")
            promise.recorded_status = promise.status

    async def _assign_representative(self, hardship: HardshipState, policy: Policy) -> None:
        s = self._s
        pause = timedelta(days=policy.early_stage.hardship_pause_days)
        assigned = await workflow.execute_activity(
            "assign_representative",
            AssignRepresentativeRequest(
                loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id,
                assignment_key=f"{s.loan_id}:hardship:{s.hardship_count}",
                hardship=hardship.kind, flagged_by=hardship.flagged_by,
                representatives=policy.early_stage.representatives,
                follow_up_by=self._case_now() + pause, bank=policy.bank),
            result_type=RepresentativeAssigned, start_to_close_timeout=timedelta(seconds=60),
            retry_policy=SEND_RETRY, summary=f"special circumstances ({hardship.kind}): "
                                             "assign a dedicated representative")
        hardship.representative = assigned.representative
        hardship.follow_up_task_id = assigned.follow_up_task_id
        hardship.pause_until = self._case_now() + pause
        await self._publish()

    async def _close_assignment(self, hardship: HardshipState) -> None:
        s = self._s
        key = f"{s.loan_id}:hardship:{s.hardship_count}"
        await workflow.execute_activity(
            "close_assignment",
            CloseAssignmentRequest(assignment_key=key, outcome=hardship.outcome or "timeout"),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
            summary="close the representative's assignment")
        hardship.follow_up_task_id = None

    def _expire_holds(self, policy: Policy) -> None:
        s = self._s
        now = self._case_now()
        hardship = s.hardship
        if hardship is not None and hardship.active and hardship.pause_until is not None \
                and now >= hardship.pause_until:
            hardship.active = False
            hardship.outcome = "timeout"
        promise = s.promise
        if promise is not None and promise.status == "open" \
                and now >= self._promise_deadline(promise, policy):
            self._settle_promise(deadline_passed=True)

    def _promise_deadline(self, promise: PromiseState, policy: Policy) -> datetime:
        grace = policy.early_stage.promise_grace_days
        return self._start_of_day(promise.due + timedelta(days=grace + 1))

    def _settle_promise(self, deadline_passed: bool = False) -> None:
        promise = self._s.promise
        if promise is None or promise.status != "open":
            return
        if self._s.paid_total - promise.paid_before >= promise.amount or \
                not self._s.position().in_arrears:
            promise.status = "kept"
        elif deadline_passed:
            promise.status = "broken"

    # --- responsiveness -----------------------------------------------------------------

    def _note_response(self) -> None:
        """A payment soon after a contact: that channel works for this customer."""
        s = self._s
        if s.clock_anchor_real is None:
            return
        now = self._case_now()
        for contact in reversed(s.contacts):
            if contact.channel in ("sms", "email", "phone") and contact.status not in (
                    "failed", "suppressed", "skipped"):
                if now - contact.scheduled_for <= RESPONSE_WINDOW:
                    self._note_channel(contact.channel)
                return

    def _note_channel(self, channel: str) -> None:
        channels = self._s.responsive_channels
        if channel in channels:
            channels.remove(channel)
        channels.insert(0, channel)

    def _record(self, step: str, channel: str, key: str, status: str, note: str | None,
                attempt_id: int | None = None, at: datetime | None = None) -> ContactRecord:
        record = ContactRecord(step=step, channel=channel, idempotency_key=key, status=status,
                               scheduled_for=at or self._case_now(), attempt_id=attempt_id,
                               note=note)
        self._s.contacts.append(record)
        return record

    # --- closing ------------------------------------------------------------------------

    async def _finish(self, outcome: Outcome) -> CaseOutcome | None:
        """Close the case, unless an event that arrived while closing reopens it."""
        s = self._s
        s.outcome, s.stage = outcome, "closed"
        s.next_step, s.next_step_at = None, None
        if s.hardship is not None and s.hardship.active:
            s.hardship.active, s.hardship.outcome = False, f"case {outcome}"
        self._settle_promise()
        await self._record_promises()
        await self._publish()
        still_holds = (outcome in ("loan_closed", "restructured", "settled", "recovered",
                                   "written_off", "transferred")
                       or s.closure_reason is not None
                       or (outcome == "cured" and not s.position().in_arrears)
                       or (outcome == "no_arrears" and not s.missed))
        if not still_holds:
            s.outcome, s.stage = None, "opened"
            return None
        if outcome in SURVEYED_OUTCOMES and s.policy is not None:
            # Aftercare outlives the case: the survey, and follow-ups after a restructure.
            await workflow.start_child_workflow(
                WORKFLOW_AFTERCARE,
                AftercareInput(loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id,
                               outcome=outcome, policy=s.policy,
                               closed_at_real=workflow.now()),
                id=aftercare_id_for(s.case_ref or s.loan_id),
                parent_close_policy=ParentClosePolicy.ABANDON,
                static_summary=f"Aftercare for loan {s.loan_id} ({outcome})")
        return CaseOutcome(loan_id=s.loan_id, outcome=outcome, arrears=s.position().arrears,
                           paid_total=s.paid_total,
                           contacts_sent=sum(1 for c in s.contacts if c.channel != "-"
                                             and c.status not in ("failed", "suppressed")),
                           policy_version=s.policy.version if s.policy else None)

    # --- time ---------------------------------------------------------------------------

    async def _refresh_daily(self) -> None:
        """Days past due and the bucket, current for ops' filters in the UI.

        Cases opened before PATCH_REFRESH_AT_BUCKET_CHANGES keep the daily refresh."""
        s = self._s
        if s.refresh_at_bucket_changes or workflow.patched(PATCH_REFRESH_AT_BUCKET_CHANGES):
            s.refresh_at_bucket_changes = True
            await self._refresh_at_bucket_changes()
            return
        while True:
            tomorrow = self._start_of_day(self._case_date() + timedelta(days=1))
            await workflow.sleep((tomorrow - self._case_now()) / self._scale(),
                                 summary="new business date: refresh days past due")
            if s.outcome is None and s.missed and s.policy is not None:
                dpd = self._days_past_due()
                workflow.upsert_search_attributes([
                    sa.DAYS_PAST_DUE.value_set(dpd),
                    sa.BUCKET.value_set(s.policy.bucket_for(dpd))])

    async def _refresh_at_bucket_changes(self) -> None:
        """Wake when the bucket changes or a payment moves the oldest unpaid due date.

        ``OverdueSince`` (the oldest unpaid due date) is exact at all times, so ops filter
        days past due with it; ``DaysPastDue`` is as of the last stage or bucket change.
        """
        s = self._s
        assert s.policy is not None
        policy = s.policy
        while s.outcome is None:
            await self._log_bucket_change()
            oldest = s.position().oldest_unpaid_due_date if s.missed else None

            def moved(since: date | None = oldest) -> bool:
                return s.outcome is not None or (
                    s.position().oldest_unpaid_due_date if s.missed else None) != since

            next_at = (policy.next_bucket_at(self._days_past_due())
                       if oldest is not None and s.outcome is None else None)
            if next_at is None:
                await workflow.wait_condition(moved)
            else:
                assert oldest is not None
                change = self._start_of_day(oldest + timedelta(days=next_at))
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        moved, timeout=max((change - self._case_now()) / self._scale(),
                                           timedelta(seconds=1)),
                        timeout_summary=f"bucket changes at {next_at} days past due")
            if s.outcome is None and s.missed:
                self._upsert_days_past_due()

    async def _log_bucket_change(self) -> None:
        """A row in ``bucket_changes`` when the bucket or the oldest unpaid due date moved
        since the last one. Cases that passed here before PATCH_LOG_BUCKET_CHANGES write
        none until they continue as new."""
        s = self._s
        # Again while a payment moved the date during the write: the caller waits for the
        # next move from the logged state.
        while s.policy is not None and s.missed and s.outcome is None:
            position = s.position()
            dpd = self._days_past_due()
            bucket = s.policy.bucket_for(dpd)
            if (bucket, position.oldest_unpaid_due_date) == (s.logged_bucket,
                                                              s.logged_oldest_unpaid):
                return
            if not (s.log_bucket_changes or workflow.patched(PATCH_LOG_BUCKET_CHANGES)):
                return
            s.log_bucket_changes = True
            await self._write_bucket_change(position, dpd, bucket)

    async def _write_bucket_change(self, position: ArrearsPosition, dpd: int,
                                   bucket: str) -> None:
        s = self._s
        change = BucketChangeRecord(
            case_ref=s.case_ref or s.loan_id, loan_id=s.loan_id, sequence=s.bucket_changes + 1,
            changed_on=self._case_date(), from_bucket=s.logged_bucket, to_bucket=bucket,
            days_past_due=dpd, oldest_unpaid_due_date=position.oldest_unpaid_due_date,
            arrears=position.arrears)
        self._bucket_writes += 1
        try:
            await workflow.execute_activity(
                "record_bucket_change", change, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY, summary=f"bucket {change.from_bucket or 'opened'} -> "
                                               f"{bucket} ({dpd} days past due)")
        finally:
            self._bucket_writes -= 1
        # Only once written: a run that continues as new meanwhile leaves the next run to
        # write the same row again (same sequence number, so at most once).
        s.logged_bucket, s.logged_oldest_unpaid = bucket, position.oldest_unpaid_due_date
        s.bucket_changes += 1

    def _upsert_days_past_due(self) -> None:
        s = self._s
        assert s.policy is not None
        oldest = s.position().oldest_unpaid_due_date
        dpd = self._days_past_due()
        workflow.upsert_search_attributes([
            sa.DAYS_PAST_DUE.value_set(dpd), sa.BUCKET.value_set(s.policy.bucket_for(dpd)),
            sa.OVERDUE_SINCE.value_set(sa.day_number(oldest)) if oldest is not None
            else sa.OVERDUE_SINCE.value_unset()])

    def _scale(self) -> int:
        return self._s.policy.clock.time_scale if self._s.policy else 1

    def _case_now(self) -> datetime:
        s = self._s
        assert s.clock_anchor_real is not None and s.clock_anchor_case is not None
        return s.clock_anchor_case + (workflow.now() - s.clock_anchor_real) * self._scale()

    def _zone(self) -> ZoneInfo:
        # ZoneInfo is usable here because of workflows.runner.workflow_runner().
        assert self._s.policy is not None
        return ZoneInfo(self._s.policy.case.timezone)

    def _case_date(self) -> date:
        """The bank's business date: case time in the policy's time zone."""
        return self._case_now().astimezone(self._zone()).date()

    def _start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self._zone())

    def _days_past_due(self) -> int:
        return days_past_due(self._s.position().oldest_unpaid_due_date, self._case_date())

    def _resolved(self) -> bool:
        s = self._s
        return (s.closure_reason is not None or s.officer_closure is not None
                or (bool(s.missed) and not s.position().in_arrears))

    async def _instant(self, after: date, business_days: int, policy: Policy,
                       summary: str) -> ContactInstant:
        instant: ContactInstant = await workflow.execute_activity(
            "contact_instant",
            ContactInstantRequest(after=after, business_days=business_days,
                                  local_time=policy.reminders.contact_time,
                                  timezone=policy.case.timezone),
            result_type=ContactInstant, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY, summary=summary)
        return instant

    async def _wait_until(self, deadline: datetime, summary: str) -> bool:
        """Sleep until ``deadline`` on the case clock, holds permitting; True if resolved.

        A long wait is where a case whose history grew past its budget continues as new
        (never while a negotiation round or legal case runs as its child)."""
        s = self._s
        policy = s.policy
        assert policy is not None
        while not self._resolved():
            if self._on_hold():
                if await self._settle_holds(policy):
                    return True
                continue
            remaining = (deadline - self._case_now()) / self._scale()
            if remaining <= timedelta(0):
                return False
            # Not once the deadline has passed: the next run would only wait again.
            if self._over_budget() and s.negotiation_id is None and s.legal_id is None:
                await self._continue_as_new()
            try:
                await workflow.wait_condition(lambda: self._resolved() or self._on_hold(),
                                              timeout=remaining, timeout_summary=summary)
            except TimeoutError:
                continue
        return True

    async def _wait_case(self, condition: Callable[[], bool], duration: timedelta,
                         summary: str) -> bool:
        """Wait up to ``duration`` of case time for ``condition``; False on timeout."""
        try:
            await workflow.wait_condition(condition, timeout=duration / self._scale(),
                                          timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    async def _wait_case_days(self, condition: Callable[[], bool], days: int,
                              summary: str) -> bool:
        return await self._wait_case(condition, timedelta(days=days), summary)

    # --- what ops see -------------------------------------------------------------------

    async def _publish(self, officer: str | None = None) -> None:
        """Stage change: search attributes, UI details and the database mirror."""
        s = self._s
        assert s.policy is not None
        position = s.position()
        dpd = self._days_past_due()
        bucket = s.policy.bucket_for(dpd)
        count_stage(s.outcome or s.stage)
        if officer is None and s.hardship is not None and s.hardship.active:
            officer = s.hardship.representative
        workflow.upsert_search_attributes([
            sa.LOAN_ID.value_set(s.loan_id),
            sa.CASE_STAGE.value_set(s.outcome or s.stage),
            sa.DAYS_PAST_DUE.value_set(dpd),
            # Plain-text search attribute for filtering; the exact amount is in the state.
            sa.ARREARS_AMOUNT.value_set(float(position.arrears)),
            sa.BUCKET.value_set(bucket),
            (sa.ASSIGNED_OFFICER.value_set(officer) if officer
             else sa.ASSIGNED_OFFICER.value_unset()),
            *([sa.BRANCH.value_set(s.branch)] if s.branch else []),
            *([sa.PRODUCT.value_set(s.product)] if s.product else []),
            *([sa.OVERDUE_SINCE.value_set(sa.day_number(position.oldest_unpaid_due_date))
               if position.oldest_unpaid_due_date is not None
               else sa.OVERDUE_SINCE.value_unset()] if s.refresh_at_bucket_changes else []),
        ])
        self._describe()
        await workflow.execute_activity(
            "record_case",
            CaseRecord(case_ref=s.case_ref or s.loan_id, loan_id=s.loan_id,
                       workflow_id=workflow.info().workflow_id, stage=s.stage,
                       outcome=s.outcome, arrears=position.arrears, days_past_due=dpd,
                       bucket=bucket, policy_version=s.policy.version,
                       closed=s.outcome is not None,
                       oldest_unpaid_due_date=position.oldest_unpaid_due_date,
                       assigned_officer=officer,
                       closure_reason=(s.officer_closure.reason if s.officer_closure
                                       else s.closure_reason),
                       decided_by=s.officer_closure.decided_by if s.officer_closure else None,
                       paid_total=s.paid_total,
                       recovered=sum((r.recovered for r in s.legal_results), ZERO)),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
            summary=f"record case stage {s.outcome or s.stage}")

    def _describe(self) -> None:
        s = self._s
        assert s.policy is not None
        position = s.position()
        currency = s.currency or s.policy.case.currency
        lines = [
            f"**Stage:** {s.outcome or s.stage}",
            f"**Days past due:** {self._days_past_due()}",
            f"**Arrears:** {format_amount(position.arrears, currency)}",
            f"**Policy:** {s.policy.version}",
        ]
        if s.dispute_open:
            lines.append("**Dispute open:** collection paused")
        if s.hardship is not None and s.hardship.active:
            lines.append(f"**Special circumstances:** {s.hardship.kind}, representative "
                         f"{s.hardship.representative or '(being assigned)'}")
        if s.promise is not None and s.promise.status == "open":
            lines.append(f"**Promise to pay:** {format_amount(s.promise.amount, currency)} "
                         f"by {s.promise.due.isoformat()}")
        if s.negotiation_rounds:
            lines.append(f"**Negotiation:** round {s.negotiation_rounds}"
                         + (f" ({s.negotiation_id})" if s.negotiation_id else "")
                         + f", {s.consecutive_failed_negotiations} failed in a row")
        if s.next_step and s.next_step_at:
            lines.append(f"**Next step:** {s.next_step} at {s.next_step_at.isoformat()}")
        elif s.next_step:
            lines.append(f"**Next step:** {s.next_step}")
        workflow.set_current_details("\n\n".join(lines))


