"""The legal stage on the time-skipping server: the trigger rule, the legal system's steps
through its sandbox and the webhook, a claim that reconciles to the cent, enforcement with
recoveries, settlement during litigation, and officers' closures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.case import UPDATE_TRANSFER, UPDATE_WRITE_OFF, Transfer, WriteOff
from domain.legal import LedgerEntry, claim_as_of
from domain.legal_case import (
    QUERY_LEGAL,
    UPDATE_OFFER_SETTLEMENT,
    UPDATE_SETTLEMENT_ANSWER,
    LegalState,
    SettlementAnswer,
    SettlementInput,
    SettlementView,
)
from domain.negotiation import UPDATE_ANSWER, AnswerInput, NegotiationState, negotiation_id_for
from overdue.storage.models import CaseClosure, LegalCase
from tests.conftest import (
    Outside,
    case_worker,
    intake_for,
    make_settings,
    policy_variant,
    serve_intake,
)
from tests.legal_server import run_legal_system
from tests.test_workflow_timeskipping import SHANGHAI, Case

FAST = {"new_round_after_days = 7": "new_round_after_days = 3"}


@pytest.fixture(scope="session")
async def legal_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_legal_system(tmp_path_factory.mktemp("legal")) as url:
        yield url


async def make_case(env: WorkflowEnvironment, database_url: str, outside: Outside,
                    legal_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path,
                    replace: dict[str, str]) -> AsyncIterator[Case]:
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, replace=replace))
    settings.legal.url = legal_url
    async with case_worker(env.client, settings), \
            serve_intake(settings, env.client, sessions):
        case = Case(env, intake_for(env.client, sessions, settings), settings, outside,
                    sessions)
        yield case
        await case.terminate_leftovers()


@pytest.fixture
async def case(fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
               legal_url: str, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
               ) -> AsyncIterator[Case]:
    async for made in make_case(fresh_ts_env, database_url, outside, legal_url, sessions,
                                tmp_path, FAST):
        yield made


@pytest.fixture
async def one_round_case(fresh_ts_env: WorkflowEnvironment, database_url: str,
                         outside: Outside, legal_url: str,
                         sessions: async_sessionmaker[AsyncSession], tmp_path: Path
                         ) -> AsyncIterator[Case]:
    async for made in make_case(fresh_ts_env, database_url, outside, legal_url, sessions, tmp_path,
                                {**FAST, "max_rounds = 6": "max_rounds = 1"}):
        yield made


async def fail_round(case: Case, number: int) -> None:
    """The negotiator records the customer's refusal of round ``number``."""
    handle = case.env.client.get_workflow_handle(negotiation_id_for(case.loan_id, number))

    async def open_round() -> bool:
        return (await case.view()).negotiation_id == negotiation_id_for(case.loan_id, number)

    await case.until(open_round)
    state: NegotiationState = await handle.query("negotiation_state",
                                                 result_type=NegotiationState)
    await handle.execute_update("propose_options", {"officer": state.negotiator})
    await handle.execute_update(UPDATE_ANSWER, AnswerInput(
        proposal_id=1, answer="reject", note="cannot pay", recorded_by=state.negotiator))

    async def counted() -> bool:
        return (await case.view()).consecutive_failed_negotiations >= number

    await case.until(counted)


def midnight(day: Any) -> datetime:
    return datetime.combine(day, datetime.min.time(), SHANGHAI).astimezone(UTC)


async def legal_state(case: Case, legal_id: str) -> LegalState:
    handle = case.env.client.get_workflow_handle(legal_id)
    state: LegalState = await handle.query(QUERY_LEGAL, result_type=LegalState)
    return state


async def court(legal_url: str, path: str, body: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{legal_url}{path}", json=body)
        assert response.status_code in (200, 201), response.text


async def reach_legal(case: Case, amount: str) -> tuple[Any, str]:
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, amount)
    await case.sleep_until(await case.now() + timedelta(days=33))
    await fail_round(case, 1)
    await case.sleep_until(await case.now() + timedelta(days=4))
    await fail_round(case, 2)
    # Two failures in a row, but not yet more than 90 days past due: no legal step.
    await case.sleep_until(midnight(due + timedelta(days=90)) + timedelta(hours=12))
    view = await case.view()
    assert view.days_past_due <= 90 or view.legal_id is None
    assert view.stage == "negotiation" and view.legal_id is None and not view.legal_results
    # Day 91: legal review starts.
    await case.sleep_until(midnight(due + timedelta(days=91)) + timedelta(hours=1))

    async def in_law() -> bool:
        return (await case.view()).legal_id is not None

    await case.until(in_law)
    view = await case.view()
    assert view.stage == "legal"
    assert view.legal_id is not None
    return due, view.legal_id


async def sandbox_items(legal_url: str, kind: str, reference: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{legal_url}/v1/{kind}")
    items = response.json()
    items = items.get(kind, items) if isinstance(items, dict) else items
    return [item for item in items if item.get("reference") == reference]


async def test_full_journey_to_recovery_through_enforcement(case: Case, legal_url: str) -> None:
    due, legal_id = await reach_legal(case, "1500.00")
    [review] = await sandbox_items(legal_url, "reviews", legal_id)
    await court(legal_url, f"/v1/reviews/{review['review_id']}/decision",
                {"decision": "proceed", "reasons": ["assets found"], "lawyer": "lawyer-he"})

    async def filed() -> bool:
        return (await legal_state(case, legal_id)).filing_id is not None

    await case.until(filed)
    state = await legal_state(case, legal_id)
    assert state.claim is not None
    # The claim reconciles to the cent with the loan's ledger, computed independently.
    expected = claim_as_of(
        [LedgerEntry(on=due, kind="instalment_due", amount=Decimal("1500.00"),
                     principal=Decimal("1500.00")),
         LedgerEntry(on=state.claim.as_of, kind="cost", amount=Decimal("800.00"))],
        as_of=state.claim.as_of, annual_rate=Decimal("0.0435"), uplift=Decimal("0.50"),
        accelerated_principal=Decimal("36000.00"))
    assert (state.claim.principal, state.claim.penalty_interest, state.claim.costs,
            state.claim.total) == (expected.principal, expected.penalty_interest,
                                   expected.costs, expected.total)
    assert state.claim.total == (state.claim.principal + state.claim.interest
                                 + state.claim.penalty_interest + state.claim.costs)
    [filing] = await sandbox_items(legal_url, "filings", legal_id)
    assert Decimal(filing["amount_claimed"]["total"]) == state.claim.total
    hearing_day = (await case.now() + timedelta(days=30)).date()
    await court(legal_url, f"/v1/filings/{filing['filing_id']}/hearing",
                {"hearing_date": hearing_day.isoformat(), "court_room": "3"})

    async def hearing_known() -> bool:
        return (await legal_state(case, legal_id)).hearing_date == hearing_day

    await case.until(hearing_known)
    await case.sleep_until(midnight(hearing_day) + timedelta(hours=12))
    await court(legal_url, f"/v1/filings/{filing['filing_id']}/judgment",
                {"outcome": "for_bank", "awarded": str(state.claim.total),
                 "judgment_date": hearing_day.isoformat()})

    async def enforcing() -> bool:
        return bool((await legal_state(case, legal_id)).actions)

    await case.until(enforcing)
    [enforcement] = await sandbox_items(legal_url, "enforcements", legal_id)
    for action in enforcement["actions"]:
        share = (state.claim.total / 2).quantize(Decimal("0.01"))
        await court(legal_url, f"/v1/enforcements/{enforcement['enforcement_id']}/actions/"
                               f"{action['action_id']}",
                    {"status": "completed", "recovered": str(share)})
    outcome = await case.handle.result()
    assert outcome.outcome == "recovered"
    async with case.sessions() as session:
        row = (await session.execute(select(LegalCase).where(
            LegalCase.loan_id == case.loan_id))).scalar_one()
        closure = (await session.execute(select(CaseClosure).where(
            CaseClosure.loan_id == case.loan_id))).scalar_one()
    assert (row.outcome, row.judgment, row.claim_total) == (
        "recovered", "for_bank", state.claim.total)
    assert row.recovered >= state.claim.total - Decimal("0.01")
    assert closure.outcome == "recovered" and closure.recovered == row.recovered


async def test_settlement_during_litigation_closes_the_case(case: Case, legal_url: str) -> None:
    _, legal_id = await reach_legal(case, "900.00")
    [review] = await sandbox_items(legal_url, "reviews", legal_id)
    await court(legal_url, f"/v1/reviews/{review['review_id']}/decision",
                {"decision": "proceed", "reasons": [], "lawyer": "lawyer-he"})

    async def filed() -> bool:
        return (await legal_state(case, legal_id)).filing_id is not None

    await case.until(filed)
    handle: WorkflowHandle[Any, Any] = case.env.client.get_workflow_handle(legal_id)
    offer: SettlementView = await handle.execute_update(
        UPDATE_OFFER_SETTLEMENT, SettlementInput(officer="lawyer-he",
                                                 waive_penalty_share=Decimal("0.5"),
                                                 grace_days=10, instalments=2),
        result_type=SettlementView)
    assert sum(amount for _, amount in offer.instalments) == offer.settle_amount
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(UPDATE_OFFER_SETTLEMENT, SettlementInput(
            officer="lawyer-he", waive_penalty_share=Decimal("0.9")))
    await handle.execute_update(UPDATE_SETTLEMENT_ANSWER,
                                SettlementAnswer(accept=True, recorded_by="lawyer-he"))
    for when, amount in offer.instalments:
        await case.sleep_until(midnight(when) + timedelta(hours=10))
        await case.pay(str(amount))
    outcome = await case.handle.result()
    assert outcome.outcome == "settled"


async def test_no_legal_after_120_days_with_only_one_failure(one_round_case: Case) -> None:
    case = one_round_case
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, "400.00")
    await case.sleep_until(await case.now() + timedelta(days=33))
    await fail_round(case, 1)
    await case.sleep_until(midnight(due + timedelta(days=121)))
    view = await case.view()
    assert view.consecutive_failed_negotiations == 1
    assert view.stage == "negotiation" and view.legal_id is None and not view.legal_results
    # An officer closes it instead: written off with a reason code.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await case.handle.execute_update(UPDATE_WRITE_OFF, WriteOff(
            officer="supervisor-liu", reason_code="because"))
    assert "because" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError) as screened:
        await case.handle.execute_update(UPDATE_TRANSFER, Transfer(
            officer="supervisor-liu", channel="npl_transfer", counterparty="AMC-1",
            deceased=True))
    assert "deceased" in str(screened.value.cause)
    await case.handle.execute_update(UPDATE_WRITE_OFF, WriteOff(
        officer="supervisor-liu", reason_code="uncollectable"))
    outcome = await case.handle.result()
    assert outcome.outcome == "written_off"
    async with case.sessions() as session:
        closure = (await session.execute(select(CaseClosure).where(
            CaseClosure.loan_id == case.loan_id))).scalar_one()
    assert (closure.outcome, closure.reason, closure.decided_by) == (
        "written_off", "uncollectable", "supervisor-liu")
