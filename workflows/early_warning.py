"""Early warning before delinquency.

``EarlyWarningSweep`` runs daily from a Temporal Schedule (``overdue early-warning
schedule``, also ensured at worker start): it pages through the instalments due within the
policy's lead days (an activity reads the loans table), scores each with the policy's
logistic model (pure, ``domain/early_warning.py``, so in the workflow), records every score
with its factors, and has an activity start one ``PreDueReminder`` workflow per flagged
instalment, id ``pre-due-<loan>-<due date>``. They are independent workflows rather than
children: a reminder may wait for the contact rules after the sweep has finished.

The reminder plans the contact through the same contact rules as every collections contact
(quiet hours in the customer's zone, consent, the frequency cap over the customer's contact
history) and sends through the same idempotent activities, keyed by loan + due date +
channel: a customer gets at most one pre-due reminder per instalment.

Both run on real time: the demo policy's compressed case clock does not apply.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from zoneinfo import ZoneInfo

    from activities.contracts import (
        ContactOutcome,
        ContactPlan,
        DueInstalmentsPage,
        DueInstalmentsRequest,
        EarlyWarningSweepInput,
        EarlyWarningSweepResult,
        LoadPolicyRequest,
        PlanContactRequest,
        PreDueReminderInput,
        PreDueTarget,
        RecordReminderRequest,
        RecordWarningsRequest,
        ScoredInstalment,
        SendReminderRequest,
        StartRemindersRequest,
    )
    from domain.contact_rules import Channel
    from domain.early_warning import WORKFLOW_PRE_DUE, WORKFLOW_SWEEP, score
    from domain.money import ZERO
    from domain.policy import Policy

STEP = "pre-due"
PAGE = 500
MAX_PLANS = 12

DB_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                       maximum_interval=timedelta(minutes=1))
SEND_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                         maximum_interval=timedelta(minutes=5))
SEND_ACTIVITY = {"sms": "send_sms_reminder", "email": "send_email_reminder"}


async def _load_policy(key: str) -> Policy:
    policy: Policy = await workflow.execute_activity(
        "load_policy", LoadPolicyRequest(loan_id=key), result_type=Policy,
        start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
        summary="collections policy in force")
    return policy


@workflow.defn(name=WORKFLOW_SWEEP)
class EarlyWarningSweepWorkflow:
    @workflow.run
    async def run(self, sweep: EarlyWarningSweepInput) -> EarlyWarningSweepResult:
        started = workflow.now()  # the scheduled run's instant, before any activity
        policy = await _load_policy("early-warning")
        as_of = sweep.as_of or started.astimezone(ZoneInfo(policy.case.timezone)).date()
        ew = policy.early_warning
        totals = sweep.model_copy(update={"as_of": as_of})
        if ew is None or not ew.enabled:
            workflow.logger.info("early warning disabled in policy %s", policy.version)
            return self._result(totals, policy)
        model = ew.model()
        while True:
            page = await workflow.execute_activity(
                "load_due_instalments",
                DueInstalmentsRequest(as_of=as_of, lead_days=ew.lead_days,
                                      after_loan_id=totals.after_loan_id, limit=PAGE),
                result_type=DueInstalmentsPage, start_to_close_timeout=timedelta(minutes=2),
                retry_policy=DB_RETRY,
                summary=f"instalments due {as_of.isoformat()} + {ew.lead_days} days")
            scored = [ScoredInstalment(loan_id=item.loan_id, due_date=item.due_date,
                                       amount_due=item.amount_due,
                                       score=score(item.features, model))
                      for item in page.items]
            targets = await workflow.execute_activity(
                "record_early_warnings",
                RecordWarningsRequest(scored_on=as_of, policy_version=policy.version,
                                      items=scored),
                result_type=list[PreDueTarget], start_to_close_timeout=timedelta(minutes=2),
                retry_policy=DB_RETRY, summary=f"record {len(scored)} scores")
            totals.scored += len(scored)
            totals.flagged += sum(1 for item in scored if item.score.flagged)
            if targets:
                totals.reminders_started += await workflow.execute_activity(
                    "start_pre_due_reminders", StartRemindersRequest(targets=targets),
                    result_type=int, start_to_close_timeout=timedelta(minutes=5),
                    retry_policy=DB_RETRY, summary=f"start {len(targets)} pre-due reminders")
            totals.after_loan_id = page.next_after
            if page.next_after is None:
                return self._result(totals, policy)
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(totals)

    @staticmethod
    def _result(totals: EarlyWarningSweepInput, policy: Policy) -> EarlyWarningSweepResult:
        assert totals.as_of is not None
        return EarlyWarningSweepResult(as_of=totals.as_of, scored=totals.scored,
                                       flagged=totals.flagged,
                                       reminders_started=totals.reminders_started,
                                       policy_version=policy.version)


@workflow.defn(name=WORKFLOW_PRE_DUE)
class PreDueReminderWorkflow:
    @workflow.run
    async def run(self, reminder: PreDueReminderInput) -> str:
        """Plan within the contact rules, wait when they say so, send once; give up when
        the due date has passed (the collections case takes over if it is missed)."""
        policy = await _load_policy(reminder.loan_id)
        ew = policy.early_warning
        if ew is None or not ew.enabled:
            return await self._settle(reminder, "disabled", None)
        zone = ZoneInfo(policy.case.timezone)
        deadline = datetime.combine(reminder.due_date + timedelta(days=1),
                                    datetime.min.time(), zone)
        failed: list[Channel] = []
        for attempt in range(MAX_PLANS):
            now = workflow.now()
            if now >= deadline:
                return await self._settle(reminder, "expired", None)
            plan = await workflow.execute_activity(
                "plan_contact",
                PlanContactRequest(
                    loan_id=reminder.loan_id, step=STEP,
                    decision_key=f"{reminder.warning_key}:{STEP}:{attempt}", at=now,
                    step_channel="auto", channels=list(ew.templates), exclude=failed,
                    rules=policy.contact_rules, channel_policy=policy.channels,
                    bank_timezone=policy.case.timezone),
                result_type=ContactPlan, start_to_close_timeout=timedelta(seconds=30),
                retry_policy=DB_RETRY, summary="pre-due: choose channel, check contact rules")
            if plan.action in ("none", "blocked"):
                return await self._settle(reminder, "no_channel", None)
            if plan.action == "defer":
                assert plan.next_allowed_at is not None
                if plan.next_allowed_at >= deadline:
                    return await self._settle(reminder, "expired", None)
                await workflow.sleep(plan.next_allowed_at - now,
                                     summary=f"pre-due: {plan.reason}, next allowed time")
                continue
            assert plan.channel is not None
            channel = plan.channel
            template = ew.templates[channel]
            outcome = await workflow.execute_activity(
                SEND_ACTIVITY[channel],
                SendReminderRequest(
                    loan_id=reminder.loan_id,
                    case_ref=f"{reminder.loan_id}:{STEP}:{reminder.due_date.isoformat()}",
                    step=STEP, idempotency_key=f"{reminder.warning_key}:{STEP}:{channel}",
                    template_name=template, templates=policy.templates[template],
                    subject_templates=(policy.templates[ew.email_subject]
                                       if channel == "email" and ew.email_subject else None),
                    bank=policy.bank, penalty_uplift=policy.penalty.uplift,
                    default_locale=policy.case.default_locale, overdue_amount=ZERO,
                    amount_due=reminder.amount_due, due_date=reminder.due_date,
                    days_past_due=0, scheduled_for=now),
                result_type=ContactOutcome, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=SEND_RETRY, summary=f"pre-due: {channel} reminder")
            if outcome.status == "sent":
                return await self._settle(reminder, "sent", channel)
            failed.append(channel)
        return await self._settle(reminder, "failed", None)

    @staticmethod
    async def _settle(reminder: PreDueReminderInput, status: str, channel: str | None) -> str:
        await workflow.execute_activity(
            "record_pre_due_reminder",
            RecordReminderRequest.model_validate(
                {"warning_key": reminder.warning_key, "status": status, "channel": channel}),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=DB_RETRY,
            summary=f"pre-due reminder: {status}")
        return status if channel is None else f"{status} by {channel}"


__all__ = ["EarlyWarningSweepWorkflow", "PreDueReminderWorkflow"]
