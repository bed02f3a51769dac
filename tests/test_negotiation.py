"""The negotiation stage on the time-skipping server: rounds as child workflows, officers'
updates with validators, agreements followed against payments, failures counted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.negotiation import (
    QUERY_NEGOTIATION,
    UPDATE_ANSWER,
    UPDATE_APPROVE,
    UPDATE_ASSESSMENT,
    UPDATE_PROMISE,
    UPDATE_PROPOSE,
    AnswerInput,
    ApprovalInput,
    AssessmentInput,
    CapacityView,
    ExpenseInput,
    IncomeInput,
    NegotiationState,
    OptionSpec,
    PromiseInput,
    Proposal,
    ProposeInput,
    negotiation_id_for,
)
from overdue.storage.models import Agreement, Negotiation, NegotiationEvent, PromiseToPay
from tests.conftest import (
    Outside,
    case_worker,
    intake_for,
    make_settings,
    policy_variant,
    serve_intake,
    sms_messages,
)
from tests.factories import closed_event
from tests.test_workflow_timeskipping import SHANGHAI, Case

FAST = {
    # Tests need few plan instalments and a quick second round.
    "probation_instalments = 6": "probation_instalments = 2",
    "new_round_after_days = 7": "new_round_after_days = 3",
}


@pytest.fixture
async def case(fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
               sessions: async_sessionmaker[AsyncSession], tmp_path: Path
               ) -> AsyncIterator[Case]:
    ts_env = fresh_ts_env
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, replace=FAST))
    async with case_worker(ts_env.client, settings), \
            serve_intake(settings, ts_env.client, sessions):
        case = Case(ts_env, intake_for(ts_env.client, sessions, settings), settings, outside,
                    sessions)
        yield case
        await case.terminate_leftovers()


async def escalate(case: Case, amount: str) -> WorkflowHandle[Any, Any]:
    """A missed instalment left unpaid: 30+ days later the first round is open."""
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, amount)
    await case.sleep_until(await case.now() + timedelta(days=33))

    async def negotiating() -> bool:
        return (await case.view()).negotiation_id is not None

    await case.until(negotiating)
    view = await case.view()
    assert view.stage == "negotiation" and view.negotiation_rounds == 1
    return case.env.client.get_workflow_handle(negotiation_id_for(case.loan_id, 1))


async def state(handle: WorkflowHandle[Any, Any]) -> NegotiationState:
    result: NegotiationState = await handle.query(QUERY_NEGOTIATION, result_type=NegotiationState)
    return result


async def propose(handle: WorkflowHandle[Any, Any], officer: str,
                  *specs: OptionSpec) -> Proposal:
    result: Proposal = await handle.execute_update(
        UPDATE_PROPOSE, ProposeInput(officer=officer, options=list(specs)),
        result_type=Proposal)
    return result


async def test_agreement_kept_closes_the_case_as_restructured(case: Case) -> None:
    handle = await escalate(case, "3000.00")
    negotiator = (await state(handle)).negotiator
    capacity: CapacityView = await handle.execute_update(
        UPDATE_ASSESSMENT, AssessmentInput(
            officer=negotiator, incomes=[IncomeInput(source="salary",
                                                     monthly_amount=Decimal("9000.00"),
                                                     proof_ref="doc-payslip-2026-11")],
            expenses=[ExpenseInput(category="rent", monthly_amount=Decimal("3000.00"))],
            expected_recovery_months=3), result_type=CapacityView)
    assert capacity.difficulty == "short_term"
    proposal = await propose(handle, negotiator)
    assert [o.kind for o in proposal.options] == [
        "spread_arrears", "arrears_instalments", "extend_term", "reduce_payment",
        "full_restructure"]
    spread = proposal.options[0]
    assert sum(row.arrears for row in spread.schedule) == spread.effect.total_cost - sum(
        row.principal + row.interest + row.fees for row in spread.schedule)
    await handle.execute_update(UPDATE_ANSWER, AnswerInput(
        proposal_id=1, answer="accept", option_index=0, recorded_by=negotiator))
    assert (await state(handle)).status == "following"
    # The customer pays the first two plan instalments (the probation) on time.
    for row in spread.schedule[:2]:
        await case.sleep_until(datetime.combine(row.due_date, datetime.min.time(), SHANGHAI)
                               .astimezone(UTC) + timedelta(hours=10))
        await case.pay(str(row.total))
    outcome = await case.handle.result()
    assert outcome.outcome == "restructured"
    # Aftercare: the survey now, a follow-up 30 days later (policy), by SMS.
    case_ref = (await case.view()).case_ref
    assert case_ref is not None
    await case.sleep_until(await case.now() + timedelta(days=31))

    async def aftercare() -> list[str]:
        return [str(m["body"]) for m in await sms_messages(case.outside.sms_url, case_ref)
                if ":survey" in str(m["idempotency_key"])
                or ":follow-up" in str(m["idempotency_key"])]

    async def followed_up() -> bool:
        return len(await aftercare()) >= 2

    await case.until(followed_up)
    bodies = await aftercare()
    assert "/survey/" in bodies[0] and "新的还款计划" in bodies[1]
    async with case.sessions() as session:
        agreement = (await session.execute(select(Agreement).where(
            Agreement.loan_id == case.loan_id))).scalar_one()
        events = (await session.execute(select(NegotiationEvent.kind).where(
            NegotiationEvent.loan_id == case.loan_id).order_by(NegotiationEvent.sequence)
        )).scalars().all()
    assert (agreement.status, agreement.option_kind) == ("kept", "spread_arrears")
    assert list(events)[:3] == ["assessment", "proposal", "answer"]


async def test_broken_agreement_counts_a_failure_and_opens_a_second_round(case: Case) -> None:
    handle = await escalate(case, "1200.00")
    negotiator = (await state(handle)).negotiator
    proposal = await propose(handle, negotiator, OptionSpec(kind="arrears_instalments",
                                                            params={"k": "3"}))
    await handle.execute_update(UPDATE_ANSWER, AnswerInput(
        proposal_id=proposal.proposal_id, answer="accept", option_index=0,
        recorded_by=negotiator))
    first_due = proposal.options[0].schedule[0].due_date
    # Nothing is paid: grace passes, the plan breaks, the round fails.
    await case.sleep_until(datetime.combine(first_due, datetime.min.time(), SHANGHAI)
                           .astimezone(UTC) + timedelta(days=7))
    round_one = await state(handle)
    assert (round_one.status, round_one.failure_reason) == ("failed", "agreement_broken")
    await case.sleep_until(await case.now() + timedelta(days=4))
    view = await case.view()
    assert (view.consecutive_failed_negotiations, view.negotiation_rounds) == (1, 2)
    assert view.negotiation_id == negotiation_id_for(case.loan_id, 2)
    async with case.sessions() as session:
        rounds = (await session.execute(select(Negotiation.round, Negotiation.status,
                                               Negotiation.failure_reason).where(
            Negotiation.loan_id == case.loan_id).order_by(Negotiation.round))).all()
    assert [tuple(r) for r in rounds] == [(1, "failed", "agreement_broken"),
                                          (2, "open", None)]
    await case.pay("1200.00")
    assert (await case.handle.result()).outcome == "cured"


@pytest.mark.parametrize("how", ["refused", "silence"])
async def test_refusal_and_silence_are_failures(case: Case, how: str) -> None:
    handle = await escalate(case, "900.00")
    negotiator = (await state(handle)).negotiator
    await propose(handle, negotiator)
    if how == "refused":
        await handle.execute_update(UPDATE_ANSWER, AnswerInput(
            proposal_id=1, answer="reject", note="cannot pay", recorded_by=negotiator))
        expected = "refused"
    else:
        await case.sleep_until(await case.now() + timedelta(days=22))
        expected = "no_agreement"
    finished = await state(handle)
    assert (finished.status, finished.failure_reason) == ("failed", expected)

    async def counted() -> bool:
        return (await case.view()).consecutive_failed_negotiations == 1

    await case.until(counted)
    await case.intake.ingest(closed_event(case.loan_id, await case.now()))
    assert (await case.handle.result()).outcome == "loan_closed"


async def test_maker_checker_blocks_an_unapproved_large_agreement(case: Case) -> None:
    handle = await escalate(case, "2000.00")
    negotiator = (await state(handle)).negotiator
    proposal = await propose(handle, negotiator, OptionSpec(
        kind="full_restructure", params={"months": "36", "waive_penalty": "true"}))
    assert proposal.options[0].needs_approval
    await handle.execute_update(UPDATE_ANSWER, AnswerInput(
        proposal_id=1, answer="accept", option_index=0, recorded_by=negotiator))
    assert (await state(handle)).status == "awaiting_approval"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(UPDATE_APPROVE, ApprovalInput(officer=negotiator,
                                                                  approve=True))
    assert "maker-checker" in str(refused.value.cause)
    # Unapproved, the plan is not followed: the round runs out without an agreement.
    await case.sleep_until(await case.now() + timedelta(days=22))
    finished = await state(handle)
    assert (finished.status, finished.failure_reason) == ("failed", "no_agreement")
    assert finished.agreement is not None and finished.agreement.approved_by is None


async def test_a_second_officer_approves(case: Case) -> None:
    handle = await escalate(case, "2000.00")
    negotiator = (await state(handle)).negotiator
    await propose(handle, negotiator, OptionSpec(
        kind="full_restructure", params={"months": "36", "waive_penalty": "true"}))
    await handle.execute_update(UPDATE_ANSWER, AnswerInput(
        proposal_id=1, answer="accept", option_index=0, recorded_by=negotiator))
    await handle.execute_update(UPDATE_APPROVE, ApprovalInput(officer="supervisor-liu",
                                                              approve=True))
    approved = await state(handle)
    assert approved.status == "following"
    assert approved.agreement is not None and approved.agreement.approved_by == "supervisor-liu"


async def test_validators_say_why(case: Case) -> None:
    handle = await escalate(case, "500.00")
    negotiator = (await state(handle)).negotiator
    with pytest.raises(WorkflowUpdateFailedError) as early:
        await handle.execute_update(UPDATE_ANSWER, AnswerInput(
            proposal_id=1, answer="accept", option_index=0, recorded_by=negotiator))
    assert "no proposal" in str(early.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as stranger:
        await propose(handle, "someone-else")
    assert "not this round's negotiator" in str(stranger.value.cause)
    await propose(handle, negotiator)
    await propose(handle, negotiator, OptionSpec(kind="extend_term", params={"k": "6"}))
    with pytest.raises(WorkflowUpdateFailedError) as stale:
        await handle.execute_update(UPDATE_ANSWER, AnswerInput(
            proposal_id=1, answer="accept", option_index=0, recorded_by=negotiator))
    assert "latest revision" in str(stale.value.cause)
    today = (await case.now()).astimezone(SHANGHAI).date()
    with pytest.raises(WorkflowUpdateFailedError) as far:
        await handle.execute_update(UPDATE_PROMISE, PromiseInput(
            officer=negotiator, amount=Decimal("500.00"), due=today + timedelta(days=40)))
    assert "promise_max_days" in str(far.value.cause)
    # Both revisions stay in the history.
    assert [p.proposal_id for p in (await state(handle)).proposals] == [1, 2]


@pytest.mark.parametrize("kept", [True, False], ids=["kept", "broken"])
async def test_promise_to_pay_kept_or_broken_when_the_date_passes(case: Case,
                                                                  kept: bool) -> None:
    handle = await escalate(case, "700.00")
    negotiator = (await state(handle)).negotiator
    today = (await case.now()).astimezone(SHANGHAI).date()
    await handle.execute_update(UPDATE_PROMISE, PromiseInput(
        officer=negotiator, amount=Decimal("300.00"), due=today + timedelta(days=5)))
    if kept:
        await case.sleep_until(await case.now() + timedelta(days=2))
        await case.pay("300.00")

        async def settled() -> bool:
            return (await state(handle)).promises[0].status == "kept"

        await case.until(settled)
        assert (await state(handle)).status == "open"
    else:
        await case.sleep_until(await case.now() + timedelta(days=8))
        finished = await state(handle)
        assert finished.promises[0].status == "broken"
        assert (finished.status, finished.failure_reason) == ("failed", "promise_broken")

    async def recorded() -> bool:
        async with case.sessions() as session:
            row = (await session.execute(select(PromiseToPay).where(
                PromiseToPay.loan_id == case.loan_id))).scalar_one_or_none()
        return row is not None and row.status == ("kept" if kept else "broken")

    await case.until(recorded)
