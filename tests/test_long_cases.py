"""A case continues as new while its children run, on the real dev server; the legal
system loses answers and fails on the way, and nothing is filed twice.

The time-skipping test server cannot run this: when a child that a closed run abandoned
completes, its time skipping stops for good (reproduced with a two-workflow program). So
the case clock runs at a day per second, stages are shortened, and the history budget is
small enough that the case continues as new while a negotiation round and the legal case
run: the children outlive the runs that started them, take payments from the current run,
and report their results to it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from domain.legal_case import (
    QUERY_LEGAL,
    UPDATE_OFFER_SETTLEMENT,
    UPDATE_SETTLEMENT_ANSWER,
    LegalState,
    SettlementAnswer,
    SettlementInput,
    SettlementView,
    legal_id_for,
)
from domain.negotiation import negotiation_id_for
from tests.conftest import (
    Outside,
    case_worker,
    intake_for,
    make_settings,
    policy_variant,
    serve_intake,
)
from tests.factories import missed_event, new_loan_id, payment_event
from tests.legal_server import run_legal_system
from tests.test_faults import set_faults

pytestmark = pytest.mark.devserver

SHORT_STAGES = {
    "history_budget = 1500": "history_budget = 100",
    "escalate_at_days_past_due = 30": "escalate_at_days_past_due = 4",
    "round_days = 21": "round_days = 2",
    "new_round_after_days = 7": "new_round_after_days = 1",
    "min_days_past_due = 91": "min_days_past_due = 10",
}


@pytest.fixture(scope="module")
async def legal_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_legal_system(tmp_path_factory.mktemp("legal")) as url:
        yield url


async def until(probe: Any, timeout: float = 60) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        assert asyncio.get_running_loop().time() < deadline, "timed out waiting"
        await asyncio.sleep(0.2)


async def test_case_continues_as_new_while_its_children_run(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside, legal_url: str,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    if "postgresql" in database_url:
        pytest.skip("the workflow path does not depend on the database")
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, time_scale=86_400,
                                                        replace=SHORT_STAGES))
    settings.legal.url = legal_url
    client = dev_env.client
    loan = new_loan_id()
    case: WorkflowHandle[Any, CaseOutcome] = client.get_workflow_handle(
        workflow_id_for(loan), result_type=CaseOutcome)
    async with case_worker(client, settings), serve_intake(settings, client, sessions):
        intake = intake_for(client, sessions, settings)
        due = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        await intake.ingest(missed_event(loan, due - timedelta(days=1), "900.00",
                                         datetime.now(UTC)))

        async def view() -> CaseView:
            state: CaseView = await case.query(QUERY_STATE, result_type=CaseView)
            return state

        # Round 1 runs; a part payment reaches it through whichever run is current.
        await until(lambda: _is(view, lambda v: v.negotiation_id is not None))
        await intake.ingest(payment_event(loan, "25.00", datetime.now(UTC)))
        # Both rounds fail by silence; the legal case opens once past the days rule. The
        # legal system takes the review request but its answer is lost, twice.
        await set_faults(legal_url, {"fail_next": 2, "status": 503, "after_accept": True})
        legal_id = legal_id_for(loan, 1)
        await until(lambda: _is(view, lambda v: v.legal_id == legal_id), timeout=90)
        v = await view()
        assert [r.status for r in v.negotiation_results] == ["failed", "failed"]
        first_round = client.get_workflow_handle(negotiation_id_for(loan, 1))
        round_state = await first_round.query("negotiation_state")
        assert round_state["paid"] == "25.00"
        async with httpx.AsyncClient() as http:
            reviews = (await http.get(f"{legal_url}/v1/reviews")).json()
            reviews = reviews.get("reviews", reviews) if isinstance(reviews, dict) else reviews
            [review] = [r for r in reviews if r.get("reference") == legal_id]
            # Filing meets two plain failures (500) before it goes through.
            await set_faults(legal_url, {"fail_next": 2, "status": 500})
            await http.post(f"{legal_url}/v1/reviews/{review['review_id']}/decision",
                            json={"decision": "proceed", "reasons": [], "lawyer": "lawyer-he"})
        legal: WorkflowHandle[Any, Any] = client.get_workflow_handle(legal_id)

        async def filed() -> bool:
            state = await legal.query(QUERY_LEGAL, result_type=LegalState)
            return state.filing_id is not None

        await until(filed, timeout=90)
        async with httpx.AsyncClient() as http:
            filings = (await http.get(f"{legal_url}/v1/filings")).json()
            filings = filings.get("filings", filings) if isinstance(filings, dict) else filings
        assert len([f for f in filings if f.get("reference") == legal_id]) == 1
        started_by = (await legal.describe()).raw_description.workflow_execution_info \
            .parent_execution.run_id
        # Small payments during litigation, each handed on to the legal case, grow the
        # case's history past its budget: it continues as new with the legal case running.
        for _ in range(12):
            await intake.ingest(payment_event(loan, "1.00", datetime.now(UTC)))

        async def continued() -> bool:
            return (await case.describe()).run_id != started_by

        await until(continued)

        async def all_paid_to_legal() -> bool:
            state = await legal.query(QUERY_LEGAL, result_type=LegalState)
            return state.paid == 12

        await until(all_paid_to_legal)
        offer: SettlementView = await legal.execute_update(
            UPDATE_OFFER_SETTLEMENT, SettlementInput(officer="lawyer-he", grace_days=30),
            result_type=SettlementView)
        await legal.execute_update(UPDATE_SETTLEMENT_ANSWER,
                                   SettlementAnswer(accept=True, recorded_by="lawyer-he"))
        for _, amount in offer.instalments:
            await intake.ingest(payment_event(loan, str(amount), datetime.now(UTC)))
        outcome = await asyncio.wait_for(case.result(), timeout=60)
        state = await legal.query(QUERY_LEGAL, result_type=LegalState)

    assert outcome.outcome == "settled"
    assert state.paid == 12 + offer.settle_amount
    described = await legal.describe()
    assert described.status is not None and described.status.name == "COMPLETED"


async def _is(view: Any, test: Any) -> bool:
    return bool(test(await view()))
