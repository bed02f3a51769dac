"""Early warning outside the workflows: the daily Temporal Schedule, and the model's
evaluation on a generated portfolio with known outcomes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from activities.contracts import EarlyWarningSweepInput
from domain.early_warning import SCHEDULE_ID, WORKFLOW_SWEEP, auc, score
from domain.early_warning_sim import generate_portfolio
from domain.policy import Policy

SWEEP_WORKFLOW_ID = "early-warning-sweep"
"""The schedule appends each run's scheduled time to this id."""


def early_warning_schedule(policy: Policy, task_queue: str) -> Schedule:
    ew = policy.early_warning
    run_at = ew.run_at if ew is not None else None
    enabled = ew is not None and ew.enabled
    calendar = (ScheduleCalendarSpec(hour=[ScheduleRange(run_at.hour)],
                                     minute=[ScheduleRange(run_at.minute)],
                                     second=[ScheduleRange(run_at.second)])
                if run_at is not None else ScheduleCalendarSpec(hour=[ScheduleRange(9)]))
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_SWEEP, EarlyWarningSweepInput(), id=SWEEP_WORKFLOW_ID,
            task_queue=task_queue,
            static_summary="Early warning: score instalments due soon, pre-due reminders"),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=policy.case.timezone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP,
                              catchup_window=timedelta(hours=6)),
        state=ScheduleState(
            paused=not enabled,
            note=(f"policy {policy.version}" if enabled
                  else f"paused: early warning disabled in policy {policy.version}")))


async def ensure_early_warning_schedule(client: Client, policy: Policy, task_queue: str
                                        ) -> Literal["created", "updated"]:
    """Create the daily schedule, or bring an existing one in line with the policy."""
    schedule = early_warning_schedule(policy, task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        return "created"
    except ScheduleAlreadyRunningError:
        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(SCHEDULE_ID).update(replace)
        return "updated"


async def sweep_now(client: Client, policy: Policy, task_queue: str) -> str:
    """Run the sweep now through the schedule (created if missing), as its daily run would;
    answers the schedule's state after the trigger."""
    await ensure_early_warning_schedule(client, policy, task_queue)
    handle = client.get_schedule_handle(SCHEDULE_ID)
    await handle.trigger()
    return "paused" if (await handle.describe()).schedule.state.paused else "active"


@dataclass(frozen=True)
class Evaluation:
    loans: int
    seed: int
    auc: Fraction
    oracle_auc: Fraction
    """AUC of the hidden risk itself: the most any model could reach on this portfolio."""
    missed_rate: float
    flagged_rate: float
    missed_rate_flagged: float
    missed_rate_not_flagged: float
    mean_probability: float


def evaluate(policy: Policy, loans: int, seed: int) -> Evaluation:
    """Score a generated portfolio with the policy's model against its known outcomes."""
    if policy.early_warning is None:
        raise ValueError("the policy has no [early_warning] section")
    model = policy.early_warning.model()
    portfolio = generate_portfolio(loans, seed)
    scores = [score(loan.features, model) for loan in portfolio]
    missed = [loan.missed for loan in portfolio]
    flagged = [s.flagged for s in scores]
    n_flagged = sum(flagged)

    def rate(select: bool) -> float:
        group = [m for m, f in zip(missed, flagged, strict=True) if f is select]
        return sum(group) / len(group) if group else 0.0

    return Evaluation(
        loans=loans, seed=seed, auc=auc([s.probability for s in scores], missed),
        oracle_auc=auc([loan.latent_risk for loan in portfolio], missed),
        missed_rate=sum(missed) / loans, flagged_rate=n_flagged / loans,
        missed_rate_flagged=rate(True), missed_rate_not_flagged=rate(False),
        mean_probability=float(sum((s.probability for s in scores), Decimal(0)) / loans))


__all__ = ["SWEEP_WORKFLOW_ID", "Evaluation", "early_warning_schedule",
           "ensure_early_warning_schedule", "evaluate"]
