"""One durable workflow per overdue loan, id ``loan-<loan_id>``.

Core-banking events arrive as the ``core_banking_event`` signal (signal-with-start).
The case runs on a *case clock*: equal to Temporal time in production, sped up by the
policy's ``clock.time_scale`` in the demo, so every timer and days-past-due figure
derives from ``workflow.now()`` and replays identically.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from zoneinfo import ZoneInfo

    from activities.calendar import ContactInstant, ContactInstantRequest
    from activities.contracts import (
        CaseRecord,
        ContactOutcome,
        LoadPolicyRequest,
        SendReminderRequest,
    )
    from domain.arrears import days_past_due
    from domain.case import (
        QUERY_STATE,
        SIGNAL_CORE_BANKING_EVENT,
        WORKFLOW_TYPE,
        CaseEvent,
        CaseInput,
        CaseOutcome,
        CaseState,
        CaseView,
        ContactRecord,
        InstalmentRecord,
        Outcome,
    )
    from domain.money import format_amount
    from domain.policy import Policy
    from workflows import search_attributes as sa

SEEN_EVENT_IDS_KEPT = 500
"""Enough to recognise any re-delivery of a case's events; bounded so state stays small."""

DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1))
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=5))


@workflow.defn(name=WORKFLOW_TYPE)
class LoanDelinquencyWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        self._s = case.resume if case.resume is not None else CaseState(loan_id=case.loan_id)

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
        elif event.type == "loan.closed":
            s.closure_reason = event.closure_reason or "closed"

    @workflow.query(name=QUERY_STATE)
    def case_state(self) -> CaseView:
        s = self._s
        position = s.position()
        dpd = self._days_past_due() if s.policy is not None else 0
        return CaseView(
            loan_id=s.loan_id, stage=s.stage, outcome=s.outcome,
            policy_version=s.policy.version if s.policy else None,
            arrears=position.arrears, unapplied_credit=position.unapplied_credit,
            days_past_due=dpd, bucket=s.policy.bucket_for(dpd) if s.policy else None,
            oldest_unpaid_due_date=position.oldest_unpaid_due_date,
            missed_instalments=len(s.missed), paid_total=s.paid_total,
            contacts=list(s.contacts), next_step=s.next_step, next_step_at=s.next_step_at,
            case_time=self._case_now() if s.clock_anchor_real else None,
        )

    # --- the case -----------------------------------------------------------------------

    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        s = self._s
        if s.clock_anchor_real is None:
            s.clock_anchor_real = s.clock_anchor_case = workflow.now()
        if s.case_ref is None:
            s.case_ref = f"{s.loan_id}:{workflow.info().workflow_id}:{workflow.now().isoformat()}"
        if s.policy is None:
            s.policy = await workflow.execute_activity(
                "load_policy", LoadPolicyRequest(loan_id=s.loan_id), result_type=Policy,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
                summary="load the collections policy in force")
        policy = s.policy

        while True:
            outcome: Outcome | None = None
            if s.closure_reason is not None:
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
            await self._early_stage(policy)
            if not self._resolved():
                await workflow.wait_condition(workflow.all_handlers_finished)
                s.runs += 1
                workflow.continue_as_new(CaseInput(loan_id=s.loan_id, resume=s))

    async def _early_stage(self, policy: Policy) -> None:
        """Remind the customer along the policy's ladder until the arrears are paid."""
        s = self._s
        if s.stage != "early":
            s.stage = "early"
            s.episode_due_date = s.position().oldest_unpaid_due_date
            await self._publish()
        assert s.episode_due_date is not None
        for step in policy.reminders.ladder:
            key = f"{s.loan_id}:{s.episode_due_date.isoformat()}:{step.name}"
            if key in s.completed_steps:
                continue
            instant = await workflow.execute_activity(
                "contact_instant",
                ContactInstantRequest(after=s.episode_due_date,
                                      business_days=step.business_days_after_due,
                                      local_time=policy.reminders.contact_time,
                                      timezone=policy.case.timezone),
                result_type=ContactInstant, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY,
                summary=f"business day {step.business_days_after_due} after "
                        f"{s.episode_due_date.isoformat()}")
            s.next_step, s.next_step_at = step.name, instant.at
            self._describe()
            resolved = await self._wait_until_case_time(
                instant.at, f"{step.name} reminder on {instant.business_date.isoformat()}")
            if resolved:
                return
            position = s.position()
            assert position.oldest_unpaid_due_date is not None
            templates = policy.templates[step.template]
            outcome = await workflow.execute_activity(
                "send_sms_reminder",
                SendReminderRequest(
                    loan_id=s.loan_id, case_ref=s.case_ref or s.loan_id, step=step.name,
                    idempotency_key=key, template_name=step.template, templates=templates,
                    bank=policy.bank, penalty_uplift=policy.penalty.uplift,
                    default_locale=policy.case.default_locale, overdue_amount=position.arrears,
                    due_date=position.oldest_unpaid_due_date,
                    days_past_due=self._days_past_due(), scheduled_for=instant.at),
                result_type=ContactOutcome, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=SEND_RETRY,
                summary=f"{step.name}: SMS reminder of "
                        f"{format_amount(position.arrears, s.currency or policy.case.currency)}")
            s.contacts.append(ContactRecord(step=step.name, channel=outcome.channel,
                                            idempotency_key=key, status=outcome.status,
                                            scheduled_for=instant.at,
                                            attempt_id=outcome.attempt_id))
            s.completed_steps.append(key)
        s.next_step, s.next_step_at = None, None
        self._describe()
        await workflow.wait_condition(
            lambda: self._resolved() or workflow.info().is_continue_as_new_suggested(),
        )

    async def _finish(self, outcome: Outcome) -> CaseOutcome | None:
        """Close the case, unless an event that arrived while closing reopens it."""
        s = self._s
        s.outcome, s.stage = outcome, "closed"
        s.next_step, s.next_step_at = None, None
        await self._publish()
        still_holds = (outcome == "loan_closed" or s.closure_reason is not None
                       or (outcome == "cured" and not s.position().in_arrears)
                       or (outcome == "no_arrears" and not s.missed))
        if not still_holds:
            s.outcome, s.stage = None, "opened"
            return None
        return CaseOutcome(loan_id=s.loan_id, outcome=outcome, arrears=s.position().arrears,
                           paid_total=s.paid_total,
                           contacts_sent=sum(1 for c in s.contacts if c.status == "sent"),
                           policy_version=s.policy.version if s.policy else None)

    # --- time ---------------------------------------------------------------------------

    def _scale(self) -> int:
        return self._s.policy.clock.time_scale if self._s.policy else 1

    def _case_now(self) -> datetime:
        s = self._s
        assert s.clock_anchor_real is not None and s.clock_anchor_case is not None
        return s.clock_anchor_case + (workflow.now() - s.clock_anchor_real) * self._scale()

    def _case_date(self) -> date:
        # The bank's business date: case time in the policy's time zone.
        assert self._s.policy is not None
        # ZoneInfo is usable here because of workflows.runner.workflow_runner().
        return self._case_now().astimezone(ZoneInfo(self._s.policy.case.timezone)).date()

    def _days_past_due(self) -> int:
        return days_past_due(self._s.position().oldest_unpaid_due_date, self._case_date())

    def _resolved(self) -> bool:
        s = self._s
        return s.closure_reason is not None or (bool(s.missed) and not s.position().in_arrears)

    async def _wait_until_case_time(self, deadline: datetime, summary: str) -> bool:
        """Sleep until ``deadline`` on the case clock; True if the case resolved first."""
        while not self._resolved():
            remaining = (deadline - self._case_now()) / self._scale()
            if remaining <= timedelta(0):
                return False
            try:
                await workflow.wait_condition(self._resolved, timeout=remaining,
                                              timeout_summary=summary)
            except TimeoutError:
                continue
        return True

    async def _wait_case_days(self, condition: Callable[[], bool], days: int,
                              summary: str) -> bool:
        try:
            await workflow.wait_condition(condition, timeout=timedelta(days=days) / self._scale(),
                                          timeout_summary=summary)
        except TimeoutError:
            return False
        return True

    # --- what ops see -------------------------------------------------------------------

    async def _publish(self) -> None:
        """Stage change: search attributes, UI details and the database mirror."""
        s = self._s
        assert s.policy is not None
        position = s.position()
        dpd = self._days_past_due()
        bucket = s.policy.bucket_for(dpd)
        workflow.upsert_search_attributes([
            sa.LOAN_ID.value_set(s.loan_id),
            sa.CASE_STAGE.value_set(s.outcome or s.stage),
            sa.DAYS_PAST_DUE.value_set(dpd),
            # Plain-text search attribute for filtering; the exact amount is in the state.
            sa.ARREARS_AMOUNT.value_set(float(position.arrears)),
            sa.BUCKET.value_set(bucket),
            *([sa.BRANCH.value_set(s.branch)] if s.branch else []),
            *([sa.PRODUCT.value_set(s.product)] if s.product else []),
        ])
        self._describe()
        await workflow.execute_activity(
            "record_case",
            CaseRecord(case_ref=s.case_ref or s.loan_id, loan_id=s.loan_id,
                       workflow_id=workflow.info().workflow_id, stage=s.stage,
                       outcome=s.outcome, arrears=position.arrears, days_past_due=dpd,
                       bucket=bucket, policy_version=s.policy.version,
                       closed=s.outcome is not None),
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
        if s.next_step and s.next_step_at:
            lines.append(f"**Next step:** {s.next_step} at {s.next_step_at.isoformat()}")
        workflow.set_current_details("\n\n".join(lines))
