"""Records the histories of the loan workflow's main paths, for replay tests.

    .venv/bin/python -m tests.histories.record        # writes tests/histories/*.json

Run it when a workflow change adds a path; keep the old files: every history committed
here must go on replaying on new code, or cases already running would break.
Activities are stand-ins with the real names and result types (a history records only
their results), so recording needs no database or gateway.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.contracts import (
    AssignRepresentativeRequest,
    BucketChangeRecord,
    CaseRecord,
    CloseAssignmentRequest,
    ContactOutcome,
    ContactPlan,
    DueInstalment,
    DueInstalmentsPage,
    DueInstalmentsRequest,
    EarlyWarningSweepInput,
    EnforcementRequest,
    FilingRequest,
    FollowUpRequest,
    LegalRecord,
    LegalReminderRequest,
    LoadPolicyRequest,
    LoanPositionRequest,
    NegotiationEventRecord,
    NegotiationRecord,
    PlanContactRequest,
    PreDueReminderInput,
    PreDueTarget,
    PromiseRecord,
    RecordReminderRequest,
    RecordWarningsRequest,
    RepresentativeAssigned,
    ReviewRequest,
    SendReminderRequest,
    StartRemindersRequest,
    SurveyRequest,
)
from activities.negotiation import NegotiationActivities
from domain.aftercare import aftercare_id_for
from domain.case import (
    CallOutcome,
    CaseInput,
    CaseOutcome,
    CaseState,
    CaseView,
    HardshipFlag,
    RepresentativeUpdate,
    workflow_id_for,
)
from domain.early_warning import RiskFeatures
from domain.legal_case import EnforcementActionView, LegalEvent, LegalState, legal_id_for
from domain.negotiation import (
    AgreementView,
    AnswerInput,
    AssessmentInput,
    IncomeInput,
    LoanPositionView,
    NegotiationState,
    Proposal,
    ProposeInput,
    negotiation_id_for,
)
from domain.policy import Policy
from overdue.business_days import BusinessCalendar
from overdue.policy_file import load_policy
from tests.factories import closed_event, missed_event, new_loan_id, payment_event
from workflows.aftercare import AftercareWorkflow
from workflows.early_warning import EarlyWarningSweepWorkflow, PreDueReminderWorkflow
from workflows.legal_case import LegalCaseWorkflow
from workflows.loan_delinquency import LoanDelinquencyWorkflow
from workflows.negotiation import NegotiationWorkflow
from workflows.runner import workflow_runner

HERE = Path(__file__).resolve().parent
POLICY = HERE.parent.parent / "policy" / "default.toml"


@activity.defn(name="load_policy")
async def load_policy_stub(_: LoadPolicyRequest) -> Policy:
    return load_policy(POLICY)


@activity.defn(name="plan_contact")
async def plan_contact_stub(request: PlanContactRequest) -> ContactPlan:
    channel = "sms" if request.step_channel == "auto" else request.step_channel
    return ContactPlan(action="send", channel=channel, reason="allowed", basis="stub")


def _sent(channel: str) -> ContactOutcome:
    return ContactOutcome(attempt_id=1, status="sent", channel=channel, provider_id="p-1")


@activity.defn(name="send_sms_reminder")
async def send_sms_stub(request: SendReminderRequest) -> ContactOutcome:
    return _sent("sms")


@activity.defn(name="send_email_reminder")
async def send_email_stub(request: SendReminderRequest) -> ContactOutcome:
    return _sent("email")


@activity.defn(name="create_call_task")
async def create_call_task_stub(request: SendReminderRequest) -> ContactOutcome:
    return _sent("phone")


@activity.defn(name="assign_representative")
async def assign_representative_stub(request: AssignRepresentativeRequest
                                     ) -> RepresentativeAssigned:
    return RepresentativeAssigned(representative=request.representatives[0],
                                  follow_up_task_id="task-1")


@activity.defn(name="close_assignment")
async def close_assignment_stub(_: CloseAssignmentRequest) -> None:
    return None


@activity.defn(name="record_case")
async def record_case_stub(_: CaseRecord) -> None:
    return None


@activity.defn(name="record_bucket_change")
async def record_bucket_change_stub(_: BucketChangeRecord) -> None:
    return None


@activity.defn(name="load_loan_position")
async def load_loan_position_stub(request: LoanPositionRequest) -> LoanPositionView:
    return LoanPositionView(
        outstanding_principal=Decimal("36000.00"), annual_rate=Decimal("0.0435"),
        remaining_instalments=18, current_instalment=Decimal("2067.36"),
        next_due_date=request.next_due_date, arrears_principal=request.arrears,
        arrears_interest=Decimal("0.00"), penalty_interest=Decimal("5.00"))


@activity.defn(name="record_negotiation")
async def record_negotiation_stub(_: NegotiationRecord) -> None:
    return None


@activity.defn(name="record_negotiation_event")
async def record_negotiation_event_stub(_: NegotiationEventRecord) -> None:
    return None


@activity.defn(name="save_agreement")
async def save_agreement_stub(_: AgreementView) -> None:
    return None


@activity.defn(name="record_promise")
async def record_promise_stub(_: PromiseRecord) -> None:
    return None


@activity.defn(name="request_legal_review")
async def request_legal_review_stub(_: ReviewRequest) -> str:
    return "rev-1"


@activity.defn(name="file_suit")
async def file_suit_stub(_: FilingRequest) -> str:
    return "fil-1"


@activity.defn(name="request_enforcement")
async def request_enforcement_stub(request: EnforcementRequest) -> list[EnforcementActionView]:
    return [EnforcementActionView(action_id=f"act-{n}", kind=kind)  # type: ignore[arg-type]
            for n, (kind, _) in enumerate(request.actions, start=1)]


@activity.defn(name="raise_legal_reminder")
async def raise_legal_reminder_stub(_: LegalReminderRequest) -> None:
    return None


@activity.defn(name="record_legal_case")
async def record_legal_case_stub(_: LegalRecord) -> None:
    return None


@activity.defn(name="send_survey")
async def send_survey_stub(_: SurveyRequest) -> str:
    return "sms"


@activity.defn(name="send_follow_up")
async def send_follow_up_stub(_: FollowUpRequest) -> str:
    return "sms"


@activity.defn(name="load_due_instalments")
async def load_due_instalments_stub(request: DueInstalmentsRequest) -> DueInstalmentsPage:
    due = request.as_of + timedelta(days=3)
    return DueInstalmentsPage(items=[
        DueInstalment(loan_id="EWRISKY0001", due_date=due, amount_due=Decimal("1800.00"),
                      features=RiskFeatures(late_instalments_12m=4, max_days_past_due=45,
                                            months_since_delinquency=2,
                                            debt_service_ratio=Decimal("0.62"))),
        DueInstalment(loan_id="EWSAFE00001", due_date=due, amount_due=Decimal("900.00"),
                      features=RiskFeatures(late_instalments_12m=0, max_days_past_due=0)),
    ], next_after=None)


@activity.defn(name="record_early_warnings")
async def record_early_warnings_stub(request: RecordWarningsRequest) -> list[PreDueTarget]:
    return [PreDueTarget(loan_id=item.loan_id, due_date=item.due_date,
                         amount_due=item.amount_due,
                         warning_key=f"{item.loan_id}:{item.due_date.isoformat()}")
            for item in request.items if item.score.flagged]


@activity.defn(name="start_pre_due_reminders")
async def start_pre_due_reminders_stub(request: StartRemindersRequest) -> int:
    return len(request.targets)


@activity.defn(name="record_pre_due_reminder")
async def record_pre_due_reminder_stub(_: RecordReminderRequest) -> None:
    return None


STUBS = [
    load_due_instalments_stub, record_early_warnings_stub, start_pre_due_reminders_stub,
    record_pre_due_reminder_stub,
    request_legal_review_stub, file_suit_stub, request_enforcement_stub,
    raise_legal_reminder_stub, record_legal_case_stub, send_survey_stub, send_follow_up_stub,
    record_promise_stub, load_loan_position_stub, record_negotiation_stub,
    record_negotiation_event_stub, save_agreement_stub, load_policy_stub, plan_contact_stub,
    send_sms_stub, send_email_stub, create_call_task_stub, assign_representative_stub,
    close_assignment_stub, record_case_stub, record_bucket_change_stub,
]


async def start(client: Client, task_queue: str, loan_id: str, event: Any
                ) -> WorkflowHandle[Any, CaseOutcome]:
    return await client.start_workflow(
        LoanDelinquencyWorkflow.run, CaseInput(loan_id=loan_id), id=workflow_id_for(loan_id),
        task_queue=task_queue, start_signal="core_banking_event",
        start_signal_args=[event.case_event()])


async def cured_after_reminder(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id,
                         missed_event(loan_id, (now + timedelta(days=3)).date(), "1200.00", now))
    await env.sleep(timedelta(days=10))
    await handle.signal("core_banking_event",
                        payment_event(loan_id, "1200.00", now).case_event())
    await handle.result()
    return handle


async def cured_before_reminder(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id,
                         missed_event(loan_id, (now + timedelta(days=20)).date(), "50.00", now))
    await handle.signal("core_banking_event", payment_event(loan_id, "50.00", now).case_event())
    await handle.result()
    return handle


async def loan_closed(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id,
                         missed_event(loan_id, (now + timedelta(days=2)).date(), "70.00", now))
    await env.sleep(timedelta(days=8))
    await handle.signal("core_banking_event", closed_event(loan_id, now).case_event())
    await handle.result()
    return handle


async def escalated_then_closed(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """Every rung (SMS, e-mail, a call with no outcome, SMS), then negotiation."""
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id,
                         missed_event(loan_id, (now + timedelta(days=2)).date(), "90.00", now))
    await env.sleep(timedelta(days=40))
    await handle.signal("core_banking_event", closed_event(loan_id, now).case_event())
    await handle.result()
    return handle


async def hardship_then_promise_kept(env: WorkflowEnvironment, tq: str
                                     ) -> WorkflowHandle[Any, Any]:
    """Special circumstances handled by a representative; a call; a promise kept."""
    now = await env.get_current_time()
    loan_id = new_loan_id()
    due = (now + timedelta(days=2)).date()
    handle = await start(env.client, tq, loan_id, missed_event(loan_id, due, "60.00", now))
    await handle.signal("hardship_flagged", HardshipFlag(kind="illness", flagged_by="officer"))
    await env.sleep(timedelta(days=3))
    await handle.signal("representative_update",
                        RepresentativeUpdate(representative="rep-zhang", outcome="handled"))
    await env.sleep(timedelta(days=10))
    view: CaseView = await handle.query("case_state", result_type=CaseView)
    call = next(c for c in view.contacts if c.channel == "phone")
    await handle.signal("call_outcome", CallOutcome(
        idempotency_key=call.idempotency_key, outcome="promise_to_pay",
        promise_amount=Decimal("60.00"), promise_date=(now + timedelta(days=16)).date()))
    await env.sleep(timedelta(days=1))
    await handle.signal("core_banking_event", payment_event(loan_id, "60.00", now).case_event())
    await handle.result()
    return handle


async def negotiated_plan_kept(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """Escalation, a negotiation round (assessment, proposal, acceptance), plan kept."""
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id,
                         missed_event(loan_id, (now - timedelta(days=1)).date(), "600.00", now))
    await env.sleep(timedelta(days=33))
    child = env.client.get_workflow_handle(negotiation_id_for(loan_id, 1))
    state: NegotiationState = await child.query("negotiation_state",
                                                result_type=NegotiationState)
    officer = state.negotiator
    await child.execute_update("record_assessment", AssessmentInput(
        officer=officer, incomes=[IncomeInput(source="salary", monthly_amount=Decimal("8000"))],
        expected_recovery_months=2))
    proposal: Proposal = await child.execute_update(
        "propose_options", ProposeInput(officer=officer), result_type=Proposal)
    await child.execute_update("record_customer_answer", AnswerInput(
        proposal_id=1, answer="accept", option_index=0, recorded_by=officer))
    for row in proposal.options[0].schedule[:6]:
        pay_at = datetime.combine(row.due_date, time(12), tzinfo=UTC)
        await env.sleep(max(timedelta(0), pay_at - await env.get_current_time()))
        await handle.signal("core_banking_event", payment_event(
            loan_id, str(row.total), now).case_event())
    await handle.result()
    return handle


async def refuse_round(env: WorkflowEnvironment, loan_id: str, number: int) -> None:
    child = env.client.get_workflow_handle(negotiation_id_for(loan_id, number))
    state: NegotiationState = await child.query("negotiation_state",
                                                result_type=NegotiationState)
    await child.execute_update("propose_options", ProposeInput(officer=state.negotiator))
    await child.execute_update("record_customer_answer", AnswerInput(
        proposal_id=1, answer="reject", recorded_by=state.negotiator))


async def legal_recovered(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    """Two refused rounds, legal action past 90 days, judgment for the bank, recovery."""
    now = await env.get_current_time()
    loan_id = new_loan_id()
    due = (now - timedelta(days=1)).date()
    handle = await start(env.client, tq, loan_id, missed_event(loan_id, due, "700.00", now))
    await env.sleep(timedelta(days=33))
    await refuse_round(env, loan_id, 1)
    await env.sleep(timedelta(days=8))
    await refuse_round(env, loan_id, 2)
    await env.sleep(datetime.combine(due + timedelta(days=92), time(12), tzinfo=UTC)
                    - await env.get_current_time())
    legal = env.client.get_workflow_handle(legal_id_for(loan_id, 1))
    await legal.signal("legal_event", LegalEvent(type="review_decided", decision="proceed",
                                                 event_id="e1"))
    await env.sleep(timedelta(days=1))
    hearing = (await env.get_current_time()).date() + timedelta(days=20)
    await legal.signal("legal_event", LegalEvent(type="hearing_scheduled",
                                                 hearing_date=hearing, event_id="e2"))
    await env.sleep(timedelta(days=21))
    state: LegalState = await legal.query("legal_state", result_type=LegalState)
    assert state.claim is not None
    await legal.signal("legal_event", LegalEvent(type="judgment", outcome="for_bank",
                                                 awarded=state.claim.total, event_id="e3"))
    await env.sleep(timedelta(days=2))
    for n, kind in enumerate(("freeze_accounts", "garnish_wages"), start=1):
        await legal.signal("legal_event", LegalEvent(
            type="enforcement_update", action_id=f"act-{n}", kind=kind, status="completed",
            recovered=(state.claim.total / 2).quantize(Decimal("0.01")), event_id=f"e{3 + n}"))
    await handle.result()
    return handle


async def no_arrears(env: WorkflowEnvironment, tq: str) -> WorkflowHandle[Any, Any]:
    now = await env.get_current_time()
    loan_id = new_loan_id()
    handle = await start(env.client, tq, loan_id, payment_event(loan_id, "10.00", now))
    await env.sleep(timedelta(days=36))
    await handle.result()
    return handle


async def early_warning_sweep(env: WorkflowEnvironment, tq: str
                              ) -> WorkflowHandle[Any, Any]:
    """The daily sweep: two instalments scored, the risky one flagged."""
    handle = await env.client.start_workflow(
        EarlyWarningSweepWorkflow.run, EarlyWarningSweepInput(),
        id=f"early-warning-{uuid.uuid4()}", task_queue=tq)
    result = await handle.result()
    assert (result.scored, result.flagged, result.reminders_started) == (2, 1, 1)
    return handle


async def pre_due_reminder_sent(env: WorkflowEnvironment, tq: str
                                ) -> WorkflowHandle[Any, Any]:
    now = await env.get_current_time()
    due = (now + timedelta(days=3)).date()
    handle = await env.client.start_workflow(
        PreDueReminderWorkflow.run,
        PreDueReminderInput(loan_id="EWRISKY0001", due_date=due,
                            amount_due=Decimal("1800.00"),
                            warning_key=f"EWRISKY0001:{due.isoformat()}"),
        id=f"pre-due-EWRISKY0001-{due.isoformat()}", task_queue=tq)
    assert await handle.result() == "sent by sms"
    return handle


PATHS: dict[str, Callable[[WorkflowEnvironment, str], Awaitable[WorkflowHandle[Any, Any]]]] = {
    "loan_delinquency_cured_after_reminder": cured_after_reminder,
    "loan_delinquency_cured_before_reminder": cured_before_reminder,
    "loan_delinquency_loan_closed": loan_closed,
    "loan_delinquency_no_arrears": no_arrears,
    "loan_delinquency_escalated_then_closed": escalated_then_closed,
    "loan_delinquency_hardship_then_promise_kept": hardship_then_promise_kept,
    "loan_delinquency_negotiated_plan_kept": negotiated_plan_kept,
    "loan_delinquency_legal_recovered": legal_recovered,
    "early_warning_sweep": early_warning_sweep,
    "pre_due_reminder_sent": pre_due_reminder_sent,
}
CHILDREN = {
    "loan_delinquency_negotiated_plan_kept": ["negotiation_round_plan_kept"],
    "loan_delinquency_legal_recovered": ["legal_case_recovered", "aftercare_survey"],
}


async def record(out_dir: Path, test_server: Path, names: list[str] | None = None
                 ) -> list[Path]:
    """Each path on a fresh time-skipping server, so their clocks do not interfere."""
    written = []
    for name in names or list(PATHS):
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(test_server), data_converter=pydantic_data_converter)
        try:
            from tests.conftest import register_search_attributes

            await register_search_attributes(env.client)
            tq = f"record-{uuid.uuid4()}"
            business = BusinessCalendar.load(POLICY.parent / "none.toml")
            calendar = CalendarActivities(business)
            negotiation = NegotiationActivities(None, business)  # type: ignore[arg-type]
            async with Worker(env.client, task_queue=tq,
                              workflows=[LoanDelinquencyWorkflow, NegotiationWorkflow,
                                         LegalCaseWorkflow, AftercareWorkflow,
                                         EarlyWarningSweepWorkflow, PreDueReminderWorkflow],
                              activities=[*STUBS, calendar.contact_instant,
                                          negotiation.build_options],
                              workflow_runner=workflow_runner()):
                handle = await PATHS[name](env, tq)
                path = out_dir / f"{name}.json"
                path.write_text((await handle.fetch_history()).to_json(), encoding="utf-8")
                written.append(path)
                loan_id = handle.id.removeprefix("loan-")
                for child_name in CHILDREN.get(name, []):
                    if child_name.startswith("negotiation"):
                        child_id = negotiation_id_for(loan_id, 1)
                    elif child_name.startswith("legal"):
                        child_id = legal_id_for(loan_id, 1)
                    else:
                        view: CaseView = await handle.query("case_state", result_type=CaseView)
                        assert view.case_ref is not None
                        child_id = aftercare_id_for(view.case_ref)
                        await env.client.get_workflow_handle(child_id).result()
                    child = env.client.get_workflow_handle(child_id)
                    path = out_dir / f"{child_name}.json"
                    path.write_text((await child.fetch_history()).to_json(), encoding="utf-8")
                    written.append(path)
        finally:
            await env.shutdown()
    return written


def main() -> None:
    server = Path(sys.executable).parent / "temporal-test-server"
    for path in asyncio.run(record(HERE, server)):
        print(f"wrote {path}")


# The carried state type is part of the recorded payloads; importing it keeps it visible.
__all__ = ["CaseState", "main", "record"]

if __name__ == "__main__":
    main()
