"""The legal-system client against the sandbox running as a real uvicorn process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from overdue.clients.legal import (
    ClaimAmount,
    EnforcementUpdate,
    HearingScheduled,
    JudgmentGiven,
    LegalCallback,
    LegalSettings,
    LegalSystemClient,
    LegalSystemRejected,
    LegalSystemUnavailable,
    ReviewDecided,
    money,
    verify_callback_signature,
)
from overdue.clients.signing import verify_signature
from tests.cc_server import ReceivedCallback, run_callback_receiver
from tests.legal_server import LEGAL_API_KEY, run_legal_system
from tests.servers import free_port

FACTS = "Zhang San borrowed 10000.00 CNY under loan L-1 and stopped paying in March."
CLAIMS = ["Repay the principal of 10000.00 CNY", "Pay interest and penalty interest"]
COURT = "Pudong District People's Court"
AMOUNT = ClaimAmount.of(principal=Decimal("10000.00"), interest=Decimal("250.00"),
                        penalty_interest=Decimal("80.50"), costs=Decimal("500.00"))
AS_OF = date(2024, 6, 1)
SUMMARY: dict[str, Any] = {"arrears": Decimal("10830.50"), "days_past_due": 95,
                           "failed_negotiations": 2}
ASSET_LEAD = "ICBC account ending 4321"


@pytest.fixture(scope="module")
async def sandbox_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_legal_system(tmp_path_factory.mktemp("legal")) as url:
        yield url


@pytest.fixture
async def admin(sandbox_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Plain HTTP access to the sandbox (no API key: lawyers, courts), reset before each."""
    async with httpx.AsyncClient(base_url=sandbox_url, trust_env=False, timeout=5) as http:
        (await http.delete("/_sandbox/all")).raise_for_status()
        yield http


@pytest.fixture
async def legal(sandbox_url: str, admin: httpx.AsyncClient) -> AsyncIterator[LegalSystemClient]:
    async with LegalSystemClient.open(LegalSettings(url=sandbox_url)) as client:
        yield client


# --- helpers --------------------------------------------------------------------------------

async def new_review(legal: LegalSystemClient, key: str, **overrides: Any) -> str:
    args: dict[str, Any] = {"reference": "case-1", "loan_ref": "L-1",
                            "documents": ["doc-contract", "doc-statement"], "summary": SUMMARY}
    args.update(overrides)
    return await legal.request_review(idempotency_key=key, **args)


async def new_filing(legal: LegalSystemClient, key: str, **overrides: Any) -> str:
    args: dict[str, Any] = {"reference": "case-1", "loan_ref": "L-1", "court": COURT,
                            "facts": FACTS, "claims": CLAIMS, "amount": AMOUNT, "as_of": AS_OF}
    args.update(overrides)
    return await legal.file_suit(idempotency_key=key, **args)


async def get(admin: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await admin.get(path, params=params)
    response.raise_for_status()
    return response.json()


async def post(admin: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """A lawyer's or the court's request (no API key) that must succeed."""
    response = await admin.post(path, json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def error_of(admin: httpx.AsyncClient, path: str, body: Any) -> tuple[int, str]:
    response = await admin.post(path, json=body)
    return response.status_code, response.json()["error"]


async def judged_filing(legal: LegalSystemClient, admin: httpx.AsyncClient, key: str, *,
                        outcome: str = "for_bank", awarded: str | None = "10830.50",
                        **overrides: Any) -> str:
    filing_id = await new_filing(legal, key, **overrides)
    await post(admin, f"/v1/filings/{filing_id}/hearing",
               {"hearing_date": "2024-07-15", "court_room": "Room 4"})
    await post(admin, f"/v1/filings/{filing_id}/judgment",
               {"outcome": outcome, "awarded": awarded, "judgment_date": "2024-07-20"})
    return filing_id


async def inject(admin: httpx.AsyncClient, **fault: Any) -> None:
    (await admin.post("/_sandbox/faults", json=fault)).raise_for_status()


def checked(hook: ReceivedCallback) -> Any:
    """The callback's parsed payload, after checking its signature and content type."""
    assert hook.headers["content-type"] == "application/json"
    assert verify_signature(hook.body, hook.headers["x-callback-signature"], LEGAL_API_KEY)
    return LegalCallback.model_validate_json(hook.body).root


async def settled(admin: httpx.AsyncClient, path: str, timeout: float = 20.0) -> Any:
    """The record at ``path`` once none of its callbacks is pending."""
    deadline = time.monotonic() + timeout
    while True:
        current = await get(admin, path)
        pending = [e for e in current["events"] if e["callback_status"] == "pending"]
        if not pending or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.05)


# --- the whole journey ----------------------------------------------------------------------

async def test_full_journey(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver() as receiver:
        # 1. the legal team reviews the case; a lawyer decides to proceed
        review_id = await new_review(legal, "rev-1", callback_url=receiver.url)
        assert review_id.startswith("rev_")
        [pending] = await get(admin, "/v1/reviews", status="pending")
        assert pending["summary"] == {"arrears": "10830.50", "days_past_due": 95,
                                      "failed_negotiations": 2}
        assert (pending["decision"], pending["events"]) == (None, [])
        decided = await post(admin, f"/v1/reviews/{review_id}/decision", {
            "decision": "proceed", "reasons": ["debtor has assets", "no dispute"],
            "lawyer": "lawyer-3"})
        assert (decided["status"], decided["decision"]) == ("decided", "proceed")
        [hook] = await receiver.wait_for(1)
        event = checked(hook)
        assert isinstance(event, ReviewDecided)
        assert hook.json() == {
            "type": "review_decided", "event_id": event.event_id, "review_id": review_id,
            "reference": "case-1", "decision": "proceed",
            "reasons": ["debtor has assets", "no dispute"], "lawyer": "lawyer-3",
            "at": hook.json()["at"]}
        assert hook.json()["at"].endswith("Z")

        # 2. the suit is filed; the court schedules a hearing, then judges
        filing_id = await new_filing(legal, "fil-1", callback_url=receiver.url)
        assert filing_id.startswith("fil_")
        [filed] = await get(admin, "/v1/filings", status="filed", reference="case-1")
        assert filed["amount_claimed"] == {
            "principal": "10000.00", "interest": "250.00", "penalty_interest": "80.50",
            "costs": "500.00", "total": "10830.50"}
        assert (filed["as_of"], filed["court"], filed["claims"]) == ("2024-06-01", COURT,
                                                                     CLAIMS)
        await post(admin, f"/v1/filings/{filing_id}/hearing",
                   {"hearing_date": "2024-07-15", "court_room": "Room 4"})
        hearing_hook = (await receiver.wait_for(2))[1]
        hearing = checked(hearing_hook)
        assert isinstance(hearing, HearingScheduled)
        assert hearing_hook.json() == {
            "type": "hearing_scheduled", "event_id": hearing.event_id, "filing_id": filing_id,
            "reference": "case-1", "court": COURT, "hearing_date": "2024-07-15",
            "court_room": "Room 4", "at": hearing_hook.json()["at"]}
        judged = await post(admin, f"/v1/filings/{filing_id}/judgment", {
            "outcome": "partly", "awarded": "10500.00", "judgment_date": "2024-07-15"})
        assert (judged["status"], judged["outcome"], judged["awarded"]) == (
            "judged", "partly", "10500.00")
        judgment_hook = (await receiver.wait_for(3))[2]
        judgment = checked(judgment_hook)
        assert isinstance(judgment, JudgmentGiven)
        assert (judgment.outcome, judgment.awarded, judgment.judgment_date) == (
            "partly", Decimal("10500.00"), date(2024, 7, 15))
        assert judgment_hook.json() == {
            "type": "judgment", "event_id": judgment.event_id, "filing_id": filing_id,
            "reference": "case-1", "outcome": "partly", "awarded": "10500.00",
            "judgment_date": "2024-07-15", "at": judgment_hook.json()["at"]}

        # 3. enforcement; the bailiff reports what each action recovered (cumulative)
        actions = await legal.request_enforcement(
            reference="case-1", filing_id=filing_id,
            actions=[("freeze_accounts", ASSET_LEAD), ("seize_vehicle", None)],
            idempotency_key="enf-1", callback_url=receiver.url)
        [(freeze_id, freeze_kind), (vehicle_id, vehicle_kind)] = actions
        assert (freeze_kind, vehicle_kind) == ("freeze_accounts", "seize_vehicle")
        assert freeze_id.startswith("act_") and vehicle_id.startswith("act_")
        [enforcement] = await get(admin, "/v1/enforcements", filing_id=filing_id)
        enforcement_id = enforcement["enforcement_id"]
        assert enforcement["status"] == "open"
        assert [(a["kind"], a["asset_lead"], a["status"], a["recovered"])
                for a in enforcement["actions"]] == [
            ("freeze_accounts", ASSET_LEAD, "requested", "0.00"),
            ("seize_vehicle", None, "requested", "0.00")]
        base = f"/v1/enforcements/{enforcement_id}/actions"
        await post(admin, f"{base}/{freeze_id}", {"status": "in_progress",
                                                  "recovered": "1500.00"})
        await post(admin, f"{base}/{vehicle_id}", {"status": "in_progress"})
        await post(admin, f"{base}/{freeze_id}", {"status": "completed",
                                                  "recovered": "4000.00"})
        final = await post(admin, f"{base}/{vehicle_id}", {"status": "failed"})
        update_hooks = (await receiver.wait_for(7))[3:]

        stored_review = await settled(admin, f"/v1/reviews/{review_id}")
        stored_filing = await settled(admin, f"/v1/filings/{filing_id}")
        stored_enforcement = await settled(admin, f"/v1/enforcements/{enforcement_id}")
        await asyncio.sleep(0.3)
        assert len(receiver.received) == 7  # one callback per event, all acknowledged

    assert (final["status"], final["recovered_total"]) == ("closed", "4000.00")
    emitted = [e["event_id"] for e in stored_enforcement["events"]]  # in order
    updates = sorted((checked(h) for h in update_hooks), key=lambda u: emitted.index(u.event_id))
    assert all(isinstance(u, EnforcementUpdate) for u in updates)
    assert [(u.action_id, u.kind, u.status, u.recovered) for u in updates] == [
        (freeze_id, "freeze_accounts", "in_progress", Decimal("1500.00")),
        (vehicle_id, "seize_vehicle", "in_progress", Decimal("0.00")),
        (freeze_id, "freeze_accounts", "completed", Decimal("4000.00")),
        (vehicle_id, "seize_vehicle", "failed", Decimal("0.00"))]
    first = next(h.json() for h in update_hooks if h.json()["event_id"] == updates[0].event_id)
    assert first == {
        "type": "enforcement_update", "event_id": updates[0].event_id,
        "enforcement_id": enforcement_id, "action_id": freeze_id, "kind": "freeze_accounts",
        "status": "in_progress", "recovered": "1500.00", "reference": "case-1",
        "at": first["at"]}
    assert len({h.json()["event_id"] for h in receiver.received}) == 7
    for record, count in ((stored_review, 1), (stored_filing, 2), (stored_enforcement, 4)):
        assert [(e["callback_status"], e["callback_attempts"]) for e in record["events"]] == [
            ("delivered", 1)] * count
    assert [e["type"] for e in stored_filing["events"]] == ["hearing_scheduled", "judgment"]
    assert stored_filing["events"][1]["payload"] == judgment_hook.json()
    assert [(a["status"], a["recovered"]) for a in stored_enforcement["actions"]] == [
        ("completed", "4000.00"), ("failed", "0.00")]
    assert await get(admin, "/v1/enforcements", status="closed") == [stored_enforcement]
    assert await get(admin, "/v1/enforcements", status="open") == []


async def test_callback_signatures(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver() as receiver:
        review_id = await new_review(legal, "rev-sig", callback_url=receiver.url)
        await post(admin, f"/v1/reviews/{review_id}/decision",
                   {"decision": "do_not_proceed", "reasons": ["no assets"], "lawyer": "l-1"})
        [hook] = await receiver.wait_for(1)

    signature = hook.headers["x-callback-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(hook.body, signature, LEGAL_API_KEY)
    assert verify_callback_signature(hook.body, signature, SecretStr(LEGAL_API_KEY))
    tampered = hook.body.replace(b'"do_not_proceed"', b'"proceed"')
    assert tampered != hook.body
    assert not verify_signature(tampered, signature, LEGAL_API_KEY)
    assert not verify_signature(hook.body, signature, "sandbox-cc-key")
    assert not verify_signature(hook.body, None, LEGAL_API_KEY)
    assert not verify_signature(hook.body, signature[len("sha256="):], LEGAL_API_KEY)
    event = LegalCallback.model_validate_json(hook.body).root
    assert isinstance(event, ReviewDecided)
    assert (event.decision, event.reasons, event.lawyer) == ("do_not_proceed", ["no assets"],
                                                             "l-1")


async def test_callback_retried_then_delivered(legal: LegalSystemClient,
                                               admin: httpx.AsyncClient) -> None:
    async with run_callback_receiver(answers=[503, 503]) as receiver:
        filing_id = await new_filing(legal, "fil-retry", callback_url=receiver.url)
        await post(admin, f"/v1/filings/{filing_id}/hearing",
                   {"hearing_date": "2024-06-01", "court_room": "Room 1"})
        hooks = await receiver.wait_for(3)
        stored = await settled(admin, f"/v1/filings/{filing_id}")
        await asyncio.sleep(0.5)
        assert len(receiver.received) == 3

    assert [h.status for h in hooks] == [503, 503, 200]
    assert len({h.body for h in hooks}) == 1  # the very same callback each time
    assert all(isinstance(checked(h), HearingScheduled) for h in hooks)
    [event] = stored["events"]
    assert (event["callback_status"], event["callback_attempts"]) == ("delivered", 3)


async def test_no_callback_url(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    review_id = await new_review(legal, "rev-quiet")
    decided = await post(admin, f"/v1/reviews/{review_id}/decision",
                         {"decision": "proceed", "lawyer": "l-1"})

    [event] = decided["events"]
    assert (event["type"], event["callback_status"], event["callback_attempts"]) == (
        "review_decided", None, 0)
    assert event["payload"]["reasons"] == []


# --- idempotency ----------------------------------------------------------------------------

async def test_replay_and_conflict(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    review_id = await new_review(legal, "k-1")
    assert await new_review(legal, "k-1") == review_id
    filing_id = await judged_filing(legal, admin, "k-1")  # keys are per endpoint
    assert await new_filing(legal, "k-1") == filing_id
    enforce: dict[str, Any] = {"reference": "case-1", "filing_id": filing_id,
                               "actions": [("garnish_wages", None)]}
    actions = await legal.request_enforcement(idempotency_key="k-1", **enforce)
    # a replay answers what the creation answered, even after the action moved on
    [enforcement] = await get(admin, "/v1/enforcements")
    await post(admin, f"/v1/enforcements/{enforcement['enforcement_id']}/actions/"
                      f"{actions[0][0]}", {"status": "in_progress"})
    assert await legal.request_enforcement(idempotency_key="k-1", **enforce) == actions

    conflicts = []
    with pytest.raises(LegalSystemRejected) as caught:
        await new_review(legal, "k-1", documents=["doc-other"])
    conflicts.append(caught.value)
    with pytest.raises(LegalSystemRejected) as caught:
        await new_filing(legal, "k-1", facts="other facts")
    conflicts.append(caught.value)
    with pytest.raises(LegalSystemRejected) as caught:
        await legal.request_enforcement(idempotency_key="k-1",
                                        **{**enforce, "actions": [("seize_property", None)]})
    conflicts.append(caught.value)

    assert [(c.status_code, c.error_code) for c in conflicts] == [
        (409, "idempotency_key_reused")] * 3
    assert len(await get(admin, "/v1/reviews")) == 1
    assert len(await get(admin, "/v1/filings")) == 1
    assert len(await get(admin, "/v1/enforcements")) == 1


async def test_protocol_errors(admin: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {LEGAL_API_KEY}"}
    body = {"reference": "c", "loan_ref": "L", "documents": ["d"],
            "summary": {"arrears": "1.00", "days_past_due": 1, "failed_negotiations": 0}}

    missing = await admin.post("/v1/reviews", json=body, headers=auth)
    too_long = await admin.post("/v1/reviews", json=body,
                                headers={**auth, "Idempotency-Key": "k" * 201})
    bad_json = await admin.post("/v1/reviews", content=b"{nope",
                                headers={**auth, "Idempotency-Key": "k"})
    ok = await admin.post("/v1/reviews", json=body, headers={**auth, "Idempotency-Key": "k"})
    replay = await admin.post("/v1/reviews", json={**body, "callback_url": None},
                              headers={**auth, "Idempotency-Key": "k"})

    assert (missing.status_code, missing.json()["error"]) == (400, "missing_idempotency_key")
    assert (too_long.status_code, too_long.json()["error"]) == (400, "invalid_idempotency_key")
    assert (bad_json.status_code, bad_json.json()["error"]) == (400, "invalid_json")
    assert ok.status_code == 201
    assert ok.json() == {"review_id": ok.json()["review_id"], "status": "pending"}
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")
    assert replay.json() == ok.json()
    assert (await admin.get("/healthz")).json() == {"status": "ok"}
    assert (await admin.get("/v1/reviews", params={"status": "nope"})).status_code == 400
    assert (await admin.get("/v1/filings/fil_nope")).status_code == 404
    assert (await admin.get("/v1/enforcements/enf_nope")).status_code == 404


# --- validation -----------------------------------------------------------------------------

async def test_amount_mismatch(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    off_by_a_cent = ClaimAmount(principal=Decimal("10000.00"), interest=Decimal("250.00"),
                                penalty_interest=Decimal("80.50"), costs=Decimal("500.00"),
                                total=Decimal("10830.49"))
    with pytest.raises(LegalSystemRejected) as caught:
        await new_filing(legal, "k-mismatch", amount=off_by_a_cent)

    assert (caught.value.status_code, caught.value.error_code) == (422, "amount_mismatch")
    assert "10830" not in str(caught.value)
    assert await get(admin, "/v1/filings") == []
    # the key was not claimed: the corrected claim is filed under it
    assert (await new_filing(legal, "k-mismatch")).startswith("fil_")


@pytest.mark.parametrize(("amount_claimed", "status", "code"), [
    ({"principal": "100.005", "interest": "0.00", "penalty_interest": "0.00",
      "costs": "0.00", "total": "100.01"}, 400, "invalid_amount"),
    ({"principal": "100", "interest": "0.00", "penalty_interest": "0.00",
      "costs": "0.00", "total": "100.00"}, 400, "invalid_amount"),
    ({"principal": "-1.00", "interest": "0.00", "penalty_interest": "0.00",
      "costs": "1.00", "total": "0.00"}, 400, "invalid_amount"),
    ({"principal": "0.00", "interest": "0.00", "penalty_interest": "0.00",
      "costs": "0.00", "total": "0.00"}, 400, "invalid_amount"),
    ({"principal": 100.0, "interest": "0.00", "penalty_interest": "0.00",
      "costs": "0.00", "total": "100.00"}, 400, "invalid_request"),
    ({"principal": "100.00", "interest": "0.10", "penalty_interest": "0.00",
      "costs": "0.00", "total": "100.01"}, 422, "amount_mismatch"),
], ids=["three-decimals", "no-decimals", "negative", "zero-total", "json-number", "sum"])
async def test_filing_amount_validation(admin: httpx.AsyncClient,
                                        amount_claimed: dict[str, Any], status: int,
                                        code: str) -> None:
    body = {"reference": "c", "loan_ref": "L", "court": COURT, "facts": "f", "claims": ["c"],
            "amount_claimed": amount_claimed, "as_of": "2024-06-01"}
    response = await admin.post("/v1/filings", json=body, headers={
        "Authorization": f"Bearer {LEGAL_API_KEY}", "Idempotency-Key": "k"})
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert await get(admin, "/v1/filings") == []


async def test_client_checks_arguments(legal: LegalSystemClient) -> None:
    assert money(Decimal("12.5")) == "12.50"
    assert money(Decimal("-0")) == "0.00"
    for bad in (Decimal("0.001"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity")):
        with pytest.raises(ValueError, match="amounts"):
            money(bad)
    with pytest.raises(ValueError, match="2 decimals"):
        await new_filing(legal, "k-args", amount=ClaimAmount.of(
            principal=Decimal("1.005"), interest=Decimal(0), penalty_interest=Decimal(0),
            costs=Decimal(0)))
    with pytest.raises(ValueError, match="Idempotency"):
        await new_review(legal, "键")
    with pytest.raises(ValueError, match="at least one action"):
        await legal.request_enforcement(reference="case-1", filing_id="fil_x", actions=[],
                                        idempotency_key="k-args")


@pytest.mark.parametrize(("overrides", "code"), [
    ({"callback_url": "ftp://example.com/hook"}, "invalid_callback_url"),
    ({"documents": []}, "invalid_request"),
    ({"documents": [""]}, "invalid_request"),
    ({"summary": {**SUMMARY, "days_past_due": -1}}, "invalid_request"),
    ({"summary": {"arrears": "1.00"}}, "invalid_request"),
    ({"summary": {**SUMMARY, "arrears": "1e3"}}, "invalid_amount"),
], ids=["ftp-callback", "no-documents", "empty-document", "negative-days", "partial-summary",
        "arrears"])
async def test_review_validation(legal: LegalSystemClient, admin: httpx.AsyncClient,
                                 overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(LegalSystemRejected) as caught:
        await new_review(legal, "k-review", **overrides)
    assert (caught.value.status_code, caught.value.error_code) == (400, code)
    assert await get(admin, "/v1/reviews") == []


async def test_lawyer_decision_rules(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    review_id = await new_review(legal, "k-decide")
    path = f"/v1/reviews/{review_id}/decision"

    assert await error_of(admin, path, {"decision": "do_not_proceed", "lawyer": "l"}) == (
        400, "missing_reasons")
    assert await error_of(admin, path, {"decision": "maybe", "lawyer": "l"}) == (
        400, "invalid_request")
    assert await error_of(admin, path, {"decision": "proceed", "lawyer": ""}) == (
        400, "invalid_request")
    assert await error_of(admin, "/v1/reviews/rev_nope/decision",
                          {"decision": "proceed", "lawyer": "l"}) == (404, "not_found")
    await post(admin, path, {"decision": "proceed", "lawyer": "l"})
    assert await error_of(admin, path, {"decision": "proceed", "lawyer": "l"}) == (
        409, "already_decided")
    assert [r["review_id"] for r in await get(admin, "/v1/reviews", status="decided")] == [
        review_id]


async def test_court_rules(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    filing_id = await new_filing(legal, "k-court")
    hearing, judgment = f"/v1/filings/{filing_id}/hearing", f"/v1/filings/{filing_id}/judgment"
    for_bank = {"outcome": "for_bank", "awarded": "10830.50", "judgment_date": "2024-07-20"}

    assert await error_of(admin, judgment, for_bank) == (409, "hearing_not_scheduled")
    assert await error_of(admin, hearing, {"hearing_date": "2024-05-31",
                                           "court_room": "R"}) == (400, "invalid_hearing_date")
    assert await error_of(admin, "/v1/filings/fil_nope/hearing",
                          {"hearing_date": "2024-07-01", "court_room": "R"}) == (404,
                                                                                 "not_found")
    await post(admin, hearing, {"hearing_date": "2024-07-01", "court_room": "R1"})
    moved = await post(admin, hearing, {"hearing_date": "2024-07-15", "court_room": "R2"})
    assert (moved["status"], moved["hearing_date"], moved["court_room"]) == (
        "hearing_scheduled", "2024-07-15", "R2")
    assert len(moved["events"]) == 2  # a rescheduled hearing is a new event

    for body, expected in [
        ({**for_bank, "awarded": None}, (400, "missing_awarded")),
        ({**for_bank, "outcome": "partly", "awarded": None}, (400, "missing_awarded")),
        ({**for_bank, "outcome": "against"}, (400, "unexpected_awarded")),
        ({**for_bank, "awarded": "0.00"}, (400, "invalid_amount")),
        ({**for_bank, "awarded": "10830.51"}, (400, "awarded_exceeds_claim")),
        ({**for_bank, "judgment_date": "2024-07-14"}, (400, "invalid_judgment_date")),
        ({**for_bank, "outcome": "won"}, (400, "invalid_request")),
    ]:
        assert await error_of(admin, judgment, body) == expected, body
    judged = await post(admin, judgment, for_bank)
    assert judged["status"] == "judged"
    assert await error_of(admin, judgment, for_bank) == (409, "already_judged")
    assert await error_of(admin, hearing, {"hearing_date": "2024-08-01",
                                           "court_room": "R"}) == (409, "already_judged")
    assert [f["filing_id"] for f in await get(admin, "/v1/filings", status="judged")] == [
        filing_id]


async def test_enforcement_rules(legal: LegalSystemClient, admin: httpx.AsyncClient) -> None:
    async def enforce(key: str, filing_id: str, reference: str = "case-1") -> tuple[int, str]:
        with pytest.raises(LegalSystemRejected) as caught:
            await legal.request_enforcement(reference=reference, filing_id=filing_id,
                                            actions=[("seize_property", "flat in Pudong")],
                                            idempotency_key=key)
        return caught.value.status_code, caught.value.error_code

    unjudged = await new_filing(legal, "k-e1")
    lost = await judged_filing(legal, admin, "k-e2", outcome="against", awarded=None)
    won = await judged_filing(legal, admin, "k-e3", awarded="5000.00")

    assert await enforce("k-e", "fil_nope") == (422, "unknown_filing")
    assert await enforce("k-e", won, reference="case-2") == (422, "reference_mismatch")
    assert await enforce("k-e", unjudged) == (409, "not_enforceable")
    assert await enforce("k-e", lost) == (409, "not_enforceable")
    assert await get(admin, "/v1/enforcements") == []

    [(action_id, _kind)] = await legal.request_enforcement(
        reference="case-1", filing_id=won, actions=[("seize_property", "flat in Pudong")],
        idempotency_key="k-e")
    [enforcement] = await get(admin, "/v1/enforcements")
    path = f"/v1/enforcements/{enforcement['enforcement_id']}/actions/{action_id}"
    await post(admin, path, {"status": "in_progress", "recovered": "100.00"})
    for body, expected in [
        ({"status": "in_progress", "recovered": "99.99"}, (400, "recovered_decreased")),
        ({"status": "in_progress", "recovered": "-1.00"}, (400, "invalid_amount")),
        ({"status": "in_progress", "recovered": "1.5"}, (400, "invalid_amount")),
        ({"status": "requested"}, (400, "invalid_request")),
    ]:
        assert await error_of(admin, path, body) == expected, body
    assert await error_of(admin, f"/v1/enforcements/{enforcement['enforcement_id']}"
                                 "/actions/act_nope", {"status": "failed"}) == (404,
                                                                              "not_found")
    same = await post(admin, path, {"status": "in_progress", "recovered": "100.00"})
    done = await post(admin, path, {"status": "completed", "recovered": "2500.00"})
    assert (same["actions"][0]["recovered"], done["actions"][0]["recovered"]) == (
        "100.00", "2500.00")
    assert (done["status"], done["recovered_total"]) == ("closed", "2500.00")
    assert await error_of(admin, path, {"status": "failed"}) == (409, "action_closed")


# --- auth and faults ------------------------------------------------------------------------

async def test_unauthorised(sandbox_url: str, admin: httpx.AsyncClient,
                            legal: LegalSystemClient) -> None:
    filing_id = await judged_filing(legal, admin, "k-auth")
    settings = LegalSettings(url=sandbox_url, api_key=SecretStr("wrong-key"))
    errors = []
    async with LegalSystemClient.open(settings) as intruder:
        with pytest.raises(LegalSystemRejected) as caught:
            await new_review(intruder, "k-auth")
        errors.append(caught.value)
        with pytest.raises(LegalSystemRejected) as caught:
            await new_filing(intruder, "k-auth-2")
        errors.append(caught.value)
        with pytest.raises(LegalSystemRejected) as caught:
            await intruder.request_enforcement(reference="case-1", filing_id=filing_id,
                                               actions=[("garnish_wages", None)],
                                               idempotency_key="k-auth")
        errors.append(caught.value)

    assert [(e.status_code, e.error_code) for e in errors] == [(401, "unauthorized")] * 3
    assert await get(admin, "/v1/reviews") == []
    assert len(await get(admin, "/v1/filings")) == 1
    assert await get(admin, "/v1/enforcements") == []


async def test_injected_client_uses_settings(sandbox_url: str,
                                             admin: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        legal = LegalSystemClient(http, LegalSettings(url=sandbox_url + "/"))
        review_id = await new_review(legal, "k-injected")
    assert [r["review_id"] for r in await get(admin, "/v1/reviews")] == [review_id]


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_transient_errors(legal: LegalSystemClient, admin: httpx.AsyncClient,
                                status: int) -> None:
    await inject(admin, fail_next=1, status=status)
    with pytest.raises(LegalSystemUnavailable) as caught:
        await new_filing(legal, "k-fault")

    assert (caught.value.status_code, caught.value.error_code) == (status, "sandbox_fault")
    if status in (429, 503):
        assert caught.value.retry_after == 1.0
    assert await get(admin, "/v1/filings") == []
    assert (await new_filing(legal, "k-fault")).startswith("fil_")
    assert len(await get(admin, "/v1/filings")) == 1


async def test_answer_lost_after_accept(legal: LegalSystemClient,
                                        admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, status=503, after_accept=True)
    with pytest.raises(LegalSystemUnavailable):
        await new_filing(legal, "k-lost")
    [stored] = await get(admin, "/v1/filings")

    filing_id = await new_filing(legal, "k-lost")

    assert filing_id == stored["filing_id"]
    assert len(await get(admin, "/v1/filings")) == 1  # one suit, not two


async def test_timeout_then_retry(sandbox_url: str, admin: httpx.AsyncClient) -> None:
    await inject(admin, fail_next=1, status=None, delay_seconds=1.0)
    settings = LegalSettings(url=sandbox_url, timeout_seconds=0.2)
    async with LegalSystemClient.open(settings) as legal:
        with pytest.raises(LegalSystemUnavailable) as caught:
            await new_review(legal, "k-slow")
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        review_id = await new_review(legal, "k-slow")

    assert [r["review_id"] for r in await get(admin, "/v1/reviews")] == [review_id]


async def test_connection_refused() -> None:
    settings = LegalSettings(url=f"http://127.0.0.1:{free_port()}", timeout_seconds=2)
    async with LegalSystemClient.open(settings) as legal:
        with pytest.raises(LegalSystemUnavailable) as caught:
            await new_review(legal, "k-refused")
    assert isinstance(caught.value.__cause__, httpx.TransportError)


async def test_no_personal_data_in_logs(legal: LegalSystemClient,
                                        admin: httpx.AsyncClient) -> None:
    filing_id = await judged_filing(legal, admin, "k-log-0")
    with capture_logs() as logs:
        await new_review(legal, "k-log-1")
        await new_filing(legal, "k-log-2")
        await legal.request_enforcement(reference="case-1", filing_id=filing_id,
                                        actions=[("freeze_accounts", ASSET_LEAD)],
                                        idempotency_key="k-log-3")
        with pytest.raises(LegalSystemRejected):
            await new_filing(legal, "k-log-4", amount=ClaimAmount(
                principal=Decimal(1), interest=Decimal(0), penalty_interest=Decimal(0),
                costs=Decimal(0), total=Decimal(2)))
        await inject(admin, fail_next=1, status=503)
        with pytest.raises(LegalSystemUnavailable):
            await new_filing(legal, "k-log-5")

    assert len(logs) == 5
    text = repr(logs)
    for personal in ("Zhang", FACTS, CLAIMS[0], "10000", "10830", ASSET_LEAD, "4321", COURT,
                     "doc-contract", "L-1"):
        assert personal not in text


# --- persistence ----------------------------------------------------------------------------

async def test_restart_keeps_records_and_resumes_callbacks(tmp_path: Path) -> None:
    async with run_callback_receiver(answers=[503] * 4) as receiver:
        async with (run_legal_system(tmp_path) as url,
                    LegalSystemClient.open(LegalSettings(url=url)) as legal,
                    httpx.AsyncClient(base_url=url, trust_env=False) as admin):
            filing_id = await judged_filing(legal, admin, "k-restart",
                                            callback_url=receiver.url)
            await receiver.wait_for(1)  # the hearing callback is being retried

        async with (run_legal_system(tmp_path) as url,
                    LegalSystemClient.open(LegalSettings(url=url)) as legal,
                    httpx.AsyncClient(base_url=url, trust_env=False) as admin):
            again = await new_filing(legal, "k-restart", callback_url=receiver.url)
            with pytest.raises(LegalSystemRejected) as caught:
                await new_filing(legal, "k-restart", facts="changed")
            stored = await settled(admin, f"/v1/filings/{filing_id}")
            twice = await error_of(admin, f"/v1/filings/{filing_id}/judgment", {
                "outcome": "against", "judgment_date": "2024-07-20"})

    assert again == filing_id
    assert caught.value.status_code == 409
    assert (stored["status"], stored["outcome"], stored["awarded"]) == (
        "judged", "for_bank", "10830.50")
    assert [(e["type"], e["callback_status"]) for e in stored["events"]] == [
        ("hearing_scheduled", "delivered"), ("judgment", "delivered")]
    acknowledged = {h.json()["event_id"] for h in receiver.acknowledged()}
    assert acknowledged == {e["event_id"] for e in stored["events"]}
    assert twice == (409, "already_judged")


def test_callback_model_rejects_unknown_type() -> None:
    with pytest.raises(ValidationError):
        LegalCallback.model_validate_json(b'{"type": "appeal", "event_id": "e", '
                                          b'"reference": "r", "at": "2024-06-01T00:00:00Z"}')
    update = LegalCallback.model_validate({
        "type": "enforcement_update", "event_id": "evt_1", "enforcement_id": "enf_1",
        "action_id": "act_1", "kind": "garnish_wages", "status": "completed",
        "recovered": "12.30", "reference": "case-1", "at": "2024-06-01T00:00:00.000Z"}).root
    assert isinstance(update, EnforcementUpdate)
    assert update.recovered == Decimal("12.30")
