"""The officers' API: the roles table, tokens, and the HTTP API over a real worker on the
time-skipping server (authentication, roles, acting in one's own name, the workflows'
refusals, the audit log)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from domain.case import WORKFLOW_TYPE, CaseInput, workflow_id_for
from officer.api import create_app, visibility_query
from officer.cli import officer_app
from officer.roles import (
    Action,
    Role,
    allowed,
    may_assign_others,
    override_role_for,
)
from officer.tokens import Officer, authenticate, issue, issue_token, revoke
from overdue.settings import DatabaseSettings, Settings
from overdue.storage.models import ApiToken, AuditEntry
from tests.conftest import Outside, case_worker, intake_for, make_settings, serve_intake
from tests.factories import new_loan_id
from tests.test_workflow_timeskipping import SHANGHAI, Case
from workflows import search_attributes as sa

C, N, S, L, OP, A = (Role.COLLECTOR, Role.NEGOTIATOR, Role.SUPERVISOR, Role.LAWYER, Role.OPS,
                    Role.ADMIN)
EVERYONE = {C, N, S, L, OP, A}
# The roles table as the bank wrote it, independently of officer.roles.PERMISSIONS.
EXPECTED: dict[str, set[Role]] = {
    "case.read": EVERYONE, "case.history": EVERYONE, "case.search": EVERYONE,
    "negotiation.read": EVERYONE, "legal.read": EVERYONE,
    "case.hardship": {C, S, A}, "case.representative_done": {C, S, A},
    "case.dispute": {C, S, A}, "case.call_outcome": {C, S, A},
    "negotiation.assign": {N, S, A}, "negotiation.assess": {N, S, A},
    "negotiation.propose": {N, S, A}, "negotiation.answer": {N, S, A},
    "negotiation.promise": {N, S, A}, "negotiation.approve": {S, A},
    "case.legal_override": {S, A}, "case.write_off": {S, A}, "case.transfer": {S, A},
    "legal.settle": {L, S, A}, "legal.settlement_answer": {L, S, A},
    "legal.asset_lead": {L, S, A},
    "legal.step": {L, S, A},
    "report.read": {S, OP, A},
}


def test_roles_table() -> None:
    assert set(EXPECTED) == {str(a) for a in Action}
    for action, roles in EXPECTED.items():
        for role in Role:
            assert allowed(str(role), action) is (role in roles), (role, action)
    assert not allowed("legal_supervisor", "case.read")  # not an officer's role
    assert not allowed("admin", "case.delete")  # unknown actions: nobody, not even admin
    assert override_role_for("supervisor") == override_role_for("admin") == "legal_supervisor"
    assert override_role_for("negotiator") is None
    assert may_assign_others("supervisor") and not may_assign_others("negotiator")
    # Search terms are validated before they reach a visibility query.
    assert visibility_query("negotiation", "M2", None, 31, date(2026, 12, 31)) == (
        'WorkflowType = "LoanDelinquency" AND CaseStage = "negotiation" AND Bucket = "M2" '
        "AND (OverdueSince <= 20261130 OR (OverdueSince IS NULL AND DaysPastDue >= 31))")
    with pytest.raises(ValueError, match="Branch"):
        visibility_query(branch='x" OR LoanId != "')


async def test_tokens_issue_authenticate_revoke(
        sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        issued = await issue(session, "neg-wang", "negotiator")
        other = await issue_token(session, "ops-li", "ops")
        with pytest.raises(ValueError, match="role"):
            await issue(session, "x", "legal_supervisor")
    assert issued.token.startswith("ovd_") and len(issued.token) == 4 + 43
    async with sessions() as session:
        stored = (await session.execute(select(ApiToken))).scalars().all()
        assert {t.token_sha256 for t in stored} == {
            hashlib.sha256(t.encode()).hexdigest() for t in (issued.token, other)}
        assert not any(issued.token in (t.token_id, t.token_sha256) for t in stored)
        assert await authenticate(session, issued.token) == Officer("neg-wang", "negotiator")
        assert await authenticate(session, other) == Officer("ops-li", "ops")
        flipped = issued.token[:-1] + ("B" if issued.token.endswith("A") else "A")
        assert await authenticate(session, flipped) is None
        assert await authenticate(session, "Bearer " + issued.token) is None
    async with sessions.begin() as session:
        assert await revoke(session, issued.token_id)
        assert not await revoke(session, issued.token_id)
        assert not await revoke(session, "tok_nope")
    async with sessions() as session:
        assert await authenticate(session, issued.token) is None
        assert await authenticate(session, other) is not None


async def test_cli_token_issue_and_revoke(database_url: str,
                                          sessions: async_sessionmaker[AsyncSession]) -> None:
    runner = CliRunner()
    env = {"OVERDUE_DATABASE__URL": database_url}
    issued = await asyncio.to_thread(runner.invoke, officer_app,
                                     ["token", "issue", "sup-liu", "supervisor"], env=env)
    assert issued.exit_code == 0, issued.output
    printed = json.loads(issued.output)
    async with sessions() as session:
        assert await authenticate(session, printed["token"]) == Officer("sup-liu", "supervisor")
    revoked = await asyncio.to_thread(runner.invoke, officer_app,
                                      ["token", "revoke", printed["token_id"]], env=env)
    assert revoked.exit_code == 0, revoked.output
    async with sessions() as session:
        assert await authenticate(session, printed["token"]) is None
    again = await asyncio.to_thread(runner.invoke, officer_app,
                                    ["token", "revoke", printed["token_id"]], env=env)
    assert again.exit_code == 1


# --- the API over a real case --------------------------------------------------------------


class Officers:
    """The API client, with a token per officer."""

    def __init__(self, http: httpx.AsyncClient, tokens: dict[str, str]) -> None:
        self.http, self.tokens = http, tokens

    async def get(self, who: str | None, path: str, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.get(path, headers=headers, params=params)

    async def post(self, who: str | None, path: str, body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return await self.http.post(path, headers=headers, json=body)


@pytest.fixture
async def case(fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
               sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Case]:
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}")
    async with case_worker(fresh_ts_env.client, settings), \
            serve_intake(settings, fresh_ts_env.client, sessions):
        case = Case(fresh_ts_env, intake_for(fresh_ts_env.client, sessions, settings),
                    settings, outside, sessions)
        yield case
        await case.terminate_leftovers()


@asynccontextmanager
async def officers(case: Case, *people: tuple[str, str]) -> AsyncIterator[Officers]:
    async with case.sessions.begin() as session:
        tokens = {officer: await issue_token(session, officer, role) for officer, role in people}
    app = create_app(case.settings, case.env.client, case.sessions)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://officers") as http:
        yield Officers(http, tokens)


async def audit_rows(case: Case) -> list[tuple[str, str, str]]:
    async with case.sessions() as session:
        rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars()
        return [(r.officer, r.action, r.result) for r in rows]


async def test_negotiation_through_the_api(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, "2000.00")
    await case.sleep_until(await case.now() + timedelta(days=33))

    async def negotiating() -> bool:
        return (await case.view()).negotiation_id is not None

    await case.until(negotiating)
    loan = f"/v1/cases/{case.loan_id}"
    async with officers(case, ("ops-li", "ops"), ("sup-liu", "supervisor"),
                              ("sup-chen", "supervisor")) as api:
        # Who negotiates this round (policy, in turn) gets a negotiator's token.
        round_state = (await api.get("ops-li", f"{loan}/negotiation")).json()
        neg = round_state["negotiator"]
        async with case.sessions.begin() as session:
            api.tokens[neg] = await issue_token(session, neg, "negotiator")

        assert (await api.get(None, loan)).status_code == 401
        assert (await api.http.get(loan, headers={"Authorization": "Bearer ovd_nope"})
                ).status_code == 401
        view = await api.get("ops-li", loan)
        assert view.status_code == 200 and view.json()["stage"] == "negotiation"
        history = (await api.get("ops-li", f"{loan}/history")).json()
        assert history["events"][0]["event_type"] == "WORKFLOW_EXECUTION_STARTED"

        propose = {"officer": neg, "options": [{"kind": "full_restructure", "params": {
            "months": "36", "waive_penalty": "true"}}], "note": "customer: 王先生 call back"}
        refused = await api.post("ops-li", f"{loan}/negotiation/propose", propose)
        assert refused.status_code == 403
        assert "ops" in refused.json()["message"]
        assert "negotiation.propose" in refused.json()["message"]
        other = await api.post(neg, f"{loan}/negotiation/propose",
                               {**propose, "officer": "neg-someone-else"})
        assert other.status_code == 403 and "another's name" in other.json()["message"]
        made = await api.post(neg, f"{loan}/negotiation/propose", propose)
        assert made.status_code == 200, made.text
        assert made.json()["result"]["options"][0]["needs_approval"] is True
        bad = await api.post(neg, f"{loan}/negotiation/promise",
                             {"officer": neg, "amount": "-5", "due": "2030-01-01"})
        assert bad.status_code == 422 and bad.json()["message"].startswith("amount:")
        # Only a supervisor approves; and not the one who made the plan (maker-checker).
        assert (await api.post(neg, f"{loan}/negotiation/approve",
                               {"officer": neg, "approve": True})).status_code == 403
        taken = await api.post("sup-liu", f"{loan}/negotiation/assign", {"officer": "sup-liu"})
        assert taken.status_code == 200, taken.text
        assert (await api.post("sup-liu", f"{loan}/negotiation/propose",
                               {**propose, "officer": "sup-liu"})).status_code == 200
        accepted = await api.post("sup-liu", f"{loan}/negotiation/answer", {
            "proposal_id": 2, "answer": "accept", "option_index": 0, "recorded_by": "sup-liu"})
        assert accepted.json()["result"]["status"] == "awaiting_approval"
        own = await api.post("sup-liu", f"{loan}/negotiation/approve",
                             {"officer": "sup-liu", "approve": True})
        assert own.status_code == 409 and "maker-checker" in own.json()["message"]
        approved = await api.post("sup-chen", f"{loan}/negotiation/approve",
                                  {"officer": "sup-chen", "approve": True})
        assert approved.status_code == 200, approved.text
        assert approved.json()["result"]["agreement"]["approved_by"] == "sup-chen"

        assert (await api.get("ops-li", "/v1/cases/L-NO-SUCH-LOAN")).status_code == 404
        assert (await api.post(neg, "/v1/cases/L-NO-SUCH-LOAN/negotiation/propose",
                               propose)).status_code == 404
        assert (await api.get("ops-li", f"{loan}/legal")).status_code == 409
        found = (await api.get("ops-li", "/v1/cases", stage="negotiation")).json()
        assert [c["loan_id"] for c in found["database"]["cases"]] == [case.loan_id]
        assert found["temporal_visibility"]["query"].endswith('CaseStage = "negotiation"')
        injected = await api.get("ops-li", "/v1/cases", stage='x" OR CaseStage != "')
        assert injected.status_code == 422 and injected.json()["message"].startswith("stage:")

    assert await audit_rows(case) == [
        ("ops-li", "negotiation.read", "ok"),
        ("anonymous", "case.read", "refused"),
        ("anonymous", "case.read", "refused"),
        ("ops-li", "case.read", "ok"),
        ("ops-li", "case.history", "ok"),
        ("ops-li", "negotiation.propose", "refused"),
        (neg, "negotiation.propose", "refused"),
        (neg, "negotiation.propose", "ok"),
        (neg, "negotiation.promise", "error"),
        (neg, "negotiation.approve", "refused"),
        ("sup-liu", "negotiation.assign", "ok"),
        ("sup-liu", "negotiation.propose", "ok"),
        ("sup-liu", "negotiation.answer", "ok"),
        ("sup-liu", "negotiation.approve", "refused"),
        ("sup-chen", "negotiation.approve", "ok"),
        ("ops-li", "case.read", "error"),
        (neg, "negotiation.propose", "error"),
        ("ops-li", "legal.read", "refused"),
        ("ops-li", "case.search", "ok"),
        ("ops-li", "case.search", "error"),
    ]
    async with case.sessions() as session:
        entries = (await session.execute(select(AuditEntry).where(
            AuditEntry.officer == neg, AuditEntry.result == "ok"))).scalars().all()
    [proposal] = entries
    assert proposal.loan_id == case.loan_id
    assert proposal.target_workflow == f"negotiation-{case.loan_id}-1"
    assert proposal.detail["body"]["note"] == "(free text omitted)"
    assert "王先生" not in json.dumps(proposal.detail, ensure_ascii=False)


async def test_early_stage_commands_and_the_legal_override_role(case: Case) -> None:
    due = (await case.now()).astimezone(SHANGHAI).date() - timedelta(days=1)
    await case.miss(due, "800.00")
    loan = f"/v1/cases/{case.loan_id}"
    async with officers(case, ("col-wu", "collector"), ("sup-liu", "supervisor"),
                              ("lawyer-he", "lawyer")) as api:
        flagged = await api.post("col-wu", f"{loan}/hardship",
                                 {"kind": "illness", "flagged_by": "col-wu"})
        assert flagged.status_code == 202, flagged.text

        async def hardship() -> bool:
            view = (await api.get("col-wu", loan)).json()
            return view["hardship"] is not None and view["hardship"]["flagged_by"] == "col-wu"

        await case.until(hardship)
        assert (await api.post("col-wu", f"{loan}/dispute", {"open": True, "by": "col-zhou"})
                ).status_code == 403
        assert (await api.post("lawyer-he", f"{loan}/dispute", {"open": True, "by": "lawyer-he"})
                ).status_code == 403
        # A supervisor's override reaches the workflow with the legal_supervisor role
        # (whatever the body says): refused for the stage, not for the role.
        override = await api.post("sup-liu", f"{loan}/legal-override", {
            "officer": "sup-liu", "role": "collector",
            "reason": "customer left the country, assets being moved"})
        assert override.status_code == 409
        assert "applies in negotiation" in override.json()["message"]
        write_off = await api.post("sup-liu", f"{loan}/write-off",
                                   {"officer": "sup-liu", "reason_code": "uncollectable"})
        assert write_off.status_code == 409 and "case is early" in write_off.json()["message"]
        # Legal steps from the lawyers' tool: lawyers only, and only on a legal case.
        step = {"type": "review_decided", "decision": "proceed"}
        assert (await api.post("col-wu", f"{loan}/legal/step", step)).status_code == 403
        no_case = await api.post("lawyer-he", f"{loan}/legal/step", step)
        assert no_case.status_code == 409, no_case.text
    rows = await audit_rows(case)
    assert {row for row in rows if row[1] == "case.read"} == {("col-wu", "case.read", "ok")}
    assert [row for row in rows if row[1] != "case.read"] == [
        ("col-wu", "case.hardship", "ok"),
        ("col-wu", "case.dispute", "refused"),
        ("lawyer-he", "case.dispute", "refused"),
        ("sup-liu", "case.legal_override", "refused"),
        ("sup-liu", "case.write_off", "refused"),
        ("col-wu", "legal.step", "refused"),
        ("lawyer-he", "legal.step", "refused"),
    ]


@pytest.mark.devserver
async def test_search_finds_cases_in_temporal_visibility(
        dev_env: WorkflowEnvironment, database_url: str,
        sessions: async_sessionmaker[AsyncSession]) -> None:
    # A case that no worker runs: visibility lists it with its search attributes.
    loan, branch = new_loan_id(), f"BR-{uuid.uuid4().hex[:8]}"
    handle = await dev_env.client.start_workflow(
        WORKFLOW_TYPE, CaseInput(loan_id=loan), id=workflow_id_for(loan),
        task_queue=f"nobody-{uuid.uuid4()}", search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.LOAN_ID, loan), SearchAttributePair(sa.CASE_STAGE, "legal"),
            SearchAttributePair(sa.BRANCH, branch), SearchAttributePair(sa.DAYS_PAST_DUE, 95),
            SearchAttributePair(sa.BUCKET, "M3+")]))
    # A case whose DaysPastDue was last set 70 days ago: OverdueSince still says 100.
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    stale_loan = new_loan_id()
    stale = await dev_env.client.start_workflow(
        WORKFLOW_TYPE, CaseInput(loan_id=stale_loan), id=workflow_id_for(stale_loan),
        task_queue=f"nobody-{uuid.uuid4()}", search_attributes=TypedSearchAttributes([
            SearchAttributePair(sa.LOAN_ID, stale_loan),
            SearchAttributePair(sa.CASE_STAGE, "negotiation"),
            SearchAttributePair(sa.BRANCH, branch), SearchAttributePair(sa.DAYS_PAST_DUE, 31),
            SearchAttributePair(sa.OVERDUE_SINCE, sa.day_number(today - timedelta(days=100))),
            SearchAttributePair(sa.BUCKET, "M2")]))
    async with sessions.begin() as session:
        token = await issue_token(session, "ops-li", "ops")
    app = create_app(Settings(database=DatabaseSettings(url=database_url)), dev_env.client,
                     sessions)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://officers",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(100):
                found = (await http.get("/v1/cases", params={
                    "stage": "legal", "bucket": "M3+", "branch": branch, "min_dpd": 91})).json()
                if found["temporal_visibility"]["cases"]:
                    break
                await asyncio.sleep(0.1)
            assert found["temporal_visibility"]["error"] is None
            [listed] = found["temporal_visibility"]["cases"]
            assert (listed["loan_id"], listed["stage"], listed["days_past_due"],
                    listed["status"]) == (loan, "legal", 95, "RUNNING")
            assert found["database"]["cases"] == []
            over_96 = (await http.get("/v1/cases", params={"branch": branch, "min_dpd": 96})
                       ).json()
            assert [c["loan_id"] for c in over_96["temporal_visibility"]["cases"]] == [
                stale_loan]
            none = (await http.get("/v1/cases", params={"branch": branch, "min_dpd": 101})
                    ).json()
            assert none["temporal_visibility"]["cases"] == []
    finally:
        await handle.terminate(reason="test finished")
        await stale.terminate(reason="test finished")
