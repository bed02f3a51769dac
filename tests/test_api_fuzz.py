"""Fuzzing the HTTP APIs: mutated core-banking events (hypothesis), the intake's OpenAPI
document (schemathesis) and the officers' commands. Whatever comes in: never a 5xx, a clear
4xx (JSON naming the problem) for bad input, and nothing half-written in the database."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.events import event_adapter
from officer.api import create_app as create_officer_app
from officer.tokens import issue_token
from overdue.clients.signing import SIGNATURE_HEADER as CALLBACK_SIGNATURE_HEADER
from overdue.clients.signing import sign_body
from overdue.settings import DatabaseSettings, Settings
from overdue.storage.models import CoreBankingEventRecord, Customer
from starter.api import create_app
from starter.intake import IntakeService
from starter.signing import signed_headers
from starter.webhooks import WebhookService
from tests.conftest import Outside, make_settings
from tests.factories import missed_event, new_loan_id

pytestmark = pytest.mark.devserver

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
EVENTS = "/v1/core-banking/events"


def sqlite_only(database_url: str) -> None:
    if "postgresql" in database_url:
        pytest.skip("fuzzing runs on SQLite only (run time)")


def error_body(response: httpx.Response) -> dict[str, Any]:
    """A 4xx's JSON body, which must say what is wrong."""
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("error") or body.get("detail"), body
    assert isinstance(body.get("message", body.get("detail")), str | list), body
    return body


# --- the intake app ------------------------------------------------------------------------


@dataclass
class Intake:
    http: httpx.AsyncClient
    app: Any
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    env: WorkflowEnvironment
    started: set[str]
    """Workflows the fuzzing started (no worker runs them): terminated afterwards."""

    def sign(self, body: bytes) -> dict[str, str]:
        return signed_headers(self.settings.intake.hmac_secret.get_secret_value().encode(),
                              body)


@pytest.fixture
async def intake(dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
                 sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Intake]:
    sqlite_only(database_url)
    # No worker: an accepted event starts a case nobody runs, which is all this needs.
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"fuzz-{uuid.uuid4()}")
    app = create_app(settings, IntakeService(sessions, dev_env.client,
                                             settings.temporal.task_queue),
                     WebhookService(sessions, dev_env.client))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://intake") as http:
        fuzz = Intake(http, app, settings, sessions, dev_env, set())
        yield fuzz
    for workflow_id in fuzz.started:
        with contextlib.suppress(RPCError):  # already gone
            await dev_env.client.get_workflow_handle(workflow_id).terminate(reason="fuzzed")


# --- 1. mutated core-banking events --------------------------------------------------------

JSON_SCALARS = (st.none() | st.booleans() | st.integers()
                | st.integers(min_value=2**63, max_value=2**200)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30)
                | st.sampled_from(["", " ", "0", "-1", "1e9999", "NaN", "王小明", "\u202e",
                                   "2026-02-30", "9" * 400]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6)
AMOUNT_TEXT = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"-?[0-9]{0,25}(\.[0-9]{0,6})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["0", "0.00", "-0.00", "1e3", "Infinity", "NaN", "12.345", "１２.００"]))
EVENT_TYPES = st.one_of(
    st.sampled_from(["instalment.missed", "payment.received", "loan.closed",
                     "hardship.flagged", "INSTALMENT.MISSED", "instalment.missed ", ""]),
    JSON_SCALARS)


def template(loan_id: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    event = missed_event(loan_id, (now - timedelta(days=1)).date(), "2345.67", now)
    payload: dict[str, Any] = json.loads(event.model_dump_json())
    return payload


PATHS = [(key,) for key in template("L1")] + [
    (section, key) for section in ("loan", "customer", "instalment")
    for key in template("L1")[section]]
AMOUNT_PATHS = [("loan", "principal_outstanding"), ("loan", "annual_rate"),
                ("loan", "instalment_amount"), ("instalment", "amount_due")]

Mutation = tuple[str, tuple[str, ...], Any]
MUTATIONS = st.lists(st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(PATHS), st.none()),
    st.tuples(st.just("set"), st.sampled_from(PATHS), JSON_VALUES),
    st.tuples(st.just("set"), st.sampled_from(AMOUNT_PATHS), AMOUNT_TEXT),
    st.tuples(st.just("set"), st.just(("type",)), EVENT_TYPES),
    st.tuples(st.just("extra"), st.sampled_from([(), ("loan",), ("customer",)]),
              JSON_VALUES),
), max_size=4)


def mutate(event: dict[str, Any], mutations: list[Mutation]) -> Any:
    for op, path, value in mutations:
        parent: Any = event
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if op == "extra":
            target = event
            for key in path:
                target = target.get(key) if isinstance(target, dict) else None
            if isinstance(target, dict):
                target["unexpected_field"] = value
        elif not isinstance(parent, dict):
            continue
        elif op == "drop":
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = value
    return event


async def stored_counts(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        events = await session.scalar(select(func.count()).select_from(CoreBankingEventRecord))
        customers = await session.scalar(select(func.count()).select_from(Customer))
    return events or 0, customers or 0


@FUZZ
@given(mutations=MUTATIONS, ascii_only=st.booleans())
async def test_mutated_events_never_fail_the_server(intake: Intake, mutations: list[Mutation],
                                                    ascii_only: bool) -> None:
    payload = mutate(template(new_loan_id()), mutations)
    body = json.dumps(payload, ensure_ascii=ascii_only).encode()
    try:
        parsed = event_adapter.validate_json(body)
    except ValidationError:
        parsed = None
    before = await stored_counts(intake.sessions)
    response = await intake.http.post(EVENTS, content=body, headers=intake.sign(body))
    event(f"status {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text, body)
    if parsed is None:
        assert response.status_code == 422, (response.status_code, response.text, body)
        answer = error_body(response)
        assert answer["error"] == "invalid_event" and answer["message"], answer
        assert answer["problems"] and all(p["field"] for p in answer["problems"]), answer
        # Refused means nothing stored: no event record, no customer snapshot.
        assert await stored_counts(intake.sessions) == before, body
        return
    assert response.status_code in (200, 202, 409), (response.status_code, response.text, body)
    async with intake.sessions() as session:
        record = await session.get(CoreBankingEventRecord, parsed.event_id)
    assert record is not None
    if response.status_code == 202:
        intake.started.add(response.json()["workflow_id"])
        assert record.status == "delivered"
    else:
        assert response.json()["status"] in ("duplicate", "conflict")


async def test_not_json_or_not_an_object_is_a_422(intake: Intake) -> None:
    for body in (b"", b"{", b"null", b"[]", b'"text"', b"1e999999", b"\xff\xfe",
                 b'{"type": "instalment.missed"}', b"[" * 5000 + b"]" * 5000):
        response = await intake.http.post(EVENTS, content=body, headers=intake.sign(body))
        assert response.status_code == 422, (body[:40], response.text)
        assert error_body(response)["error"] == "invalid_event"
    assert await stored_counts(intake.sessions) == (0, 0)


# --- 2. schemathesis over the intake's OpenAPI document -------------------------------------

OPERATIONS = {
    # path: (the documented statuses expected here, the API key a provider signs with, or
    # None: core banking). 503 (Temporal down) is documented but a 5xx: not with a live server.
    EVENTS: ({200, 202, 401, 409, 422}, None),
    "/v1/webhooks/sms-receipts": ({200, 401, 422}, "sms"),
    "/v1/webhooks/contact-centre": ({200, 401, 422}, "contact_centre"),
}


@pytest.fixture
def intake_schema(intake: Intake) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", intake.app)


@pytest.mark.parametrize("path", list(OPERATIONS))
async def test_schemathesis_intake_operations(intake: Intake, intake_schema: Any,
                                              path: str) -> None:
    operation = intake_schema[path]["POST"]
    documented, provider = OPERATIONS[path]
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    def headers_for(body: bytes, signed: bool) -> dict[str, str]:
        if provider is None:
            return intake.sign(body) if signed else {"content-type": "application/json"}
        headers = {"content-type": "application/json"}
        if signed:
            key = getattr(intake.settings, provider).api_key
            headers[CALLBACK_SIGNATURE_HEADER] = sign_body(body, key)
        return headers

    # Hypothesis cannot await inside a nested @given, so the cases are drawn first and sent
    # afterwards (a failure is reported with its input, unshrunk).
    @settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases, signed=st.booleans().map(lambda b: b or provider is None))
    def generated(case: Any, signed: bool) -> None:
        examples.append((case, signed))

    examples: list[tuple[Any, bool]] = []
    generated()
    assert examples
    statuses = []
    for case, signed in examples:
        # Serialised as schemathesis would send it (negative cases may be non-JSON bytes).
        kwargs = case.as_transport_kwargs(base_url="http://intake")
        prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in (
            "method", "url", "headers", "params", "json", "data", "files", "cookies")}
                                    ).prepare()
        body = prepared.body or b""
        body = body.encode() if isinstance(body, str) else body
        headers = {k: v for k, v in prepared.headers.items() if k.lower() != "content-length"}
        headers.update(headers_for(body, signed))
        assert prepared.url is not None
        response = await intake.http.post(prepared.url, content=body, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
        assert response.status_code in documented, (path, body, response.text)
        if response.status_code == 409:  # event id reused: the answer says so
            assert response.json()["status"] == "conflict", response.text
        elif response.status_code >= 400:
            error_body(response)
        elif path == EVENTS and response.status_code == 202:
            intake.started.add(response.json()["workflow_id"])
        if not signed:
            assert response.status_code == 401, (path, body, response.text)
        statuses.append(response.status_code)
    # Signed requests got past the signature check (the fuzzing reached the service).
    assert {200, 202, 422} & set(statuses), statuses


# --- 3. the officers' API ------------------------------------------------------------------

SUPERVISOR = "sup-fuzz"


@dataclass
class Officers:
    http: httpx.AsyncClient
    token: str


@pytest.fixture
async def officers(dev_env: WorkflowEnvironment, database_url: str,
                   sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[Officers]:
    sqlite_only(database_url)
    async with sessions.begin() as session:
        token = await issue_token(session, SUPERVISOR, "supervisor")
    app = create_officer_app(Settings(database=DatabaseSettings(url=database_url)),
                             dev_env.client, sessions)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://officers") as http:
        yield Officers(http, token)


def body_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Bodies near the model (mostly valid fields; some wrong, left out or extra) or any
    JSON at all."""
    near = st.fixed_dictionaries({
        name: st.one_of(valid, valid, valid, JSON_VALUES) for name, valid in fields.items()})

    def spoil(body: dict[str, Any], drop: list[str], extra: dict[str, Any]) -> dict[str, Any]:
        return {**{k: v for k, v in body.items() if k not in drop}, **extra}

    spoiled = st.builds(spoil, near, st.lists(st.sampled_from(sorted(fields)), max_size=1),
                        st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=1))
    return st.one_of(near, near, spoiled, JSON_VALUES)


ME = st.just(SUPERVISOR) | st.just(SUPERVISOR) | st.just("someone-else")
OPTION_KINDS = st.sampled_from(["spread_arrears", "arrears_instalments", "extend_term",
                                "reduce_payment", "full_restructure"])
COMMAND_BODIES: dict[str, st.SearchStrategy[Any]] = {
    "/hardship": body_of({"kind": st.sampled_from(["illness", "unemployment", "other"]),
                          "flagged_by": ME}),
    "/write-off": body_of({"officer": ME, "reason_code": st.text(min_size=1, max_size=32)}),
    "/legal-override": body_of({"officer": ME, "role": st.text(min_size=1, max_size=32),
                                "reason": st.text(min_size=20, max_size=200)}),
    "/negotiation/propose": body_of({
        "officer": ME, "note": st.none() | st.text(max_size=500),
        "options": st.lists(st.fixed_dictionaries({"kind": OPTION_KINDS, "params": st.dictionaries(
            st.sampled_from(["m", "k", "months", "rate", "target", "waive_penalty"]),
            st.text(max_size=10), max_size=3)}), max_size=3)}),
}
LOANS = st.one_of(st.builds(new_loan_id), st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
                  st.sampled_from(["x" * 65, "bad id", "L%2F..", "%00", "..", "L1;drop"]))


@FUZZ
@given(command=st.sampled_from(sorted(COMMAND_BODIES)), data=st.data(), loan=LOANS,
       raw=st.booleans())
async def test_officer_commands_never_fail_the_server(officers: Officers, command: str,
                                                      data: st.DataObject, loan: str,
                                                      raw: bool) -> None:
    body = data.draw(COMMAND_BODIES[command], label="body")
    content = json.dumps(body, ensure_ascii=raw).encode()
    if raw:
        content = data.draw(st.sampled_from([content, content[:-1], b"", b"\xff", b"{}" * 3]),
                            label="raw body")
    response = await officers.http.post(
        f"/v1/cases/{loan}{command}", content=content,
        headers={"Authorization": f"Bearer {officers.token}",
                 "Content-Type": "application/json"})
    event(f"status {response.status_code}")
    assert response.status_code in (403, 404, 409, 422), (
        command, loan, content, response.status_code, response.text)
    answer = error_body(response)
    if response.status_code == 422:
        # "field: message", the field named (or "(body)" for the body as a whole).
        field, _, message = answer["message"].partition(": ")
        assert field and message, answer


GARBLED_AUTHORIZATION = st.one_of(
    st.binary(max_size=80).filter(lambda b: not set(b) & {0, 10, 13}),
    st.text(max_size=80).map(lambda t: ("Bearer " + t).encode("utf-8")),
    st.text(alphabet=st.characters(codec="ascii"), max_size=60).map(
        lambda t: f"Bearer ovd_{t}".encode()),
    st.sampled_from([b"Bearer", b"Bearer ", b"bearer ovd_", b"Basic dXNlcjpwYXNz",
                     b"Bearer ovd_" + b"A" * 500, b"Bearer\tovd_x", b"Token ovd_x"]))


@FUZZ
@given(authorization=GARBLED_AUTHORIZATION, command=st.sampled_from(sorted(COMMAND_BODIES)),
       read=st.booleans())
async def test_garbled_authorization_is_a_401(officers: Officers, authorization: bytes,
                                              command: str, read: bool) -> None:
    headers = [(b"authorization", authorization), (b"content-type", b"application/json")]
    loan = new_loan_id()
    if read:
        response = await officers.http.get(f"/v1/cases/{loan}", headers=headers)
    else:
        body = json.dumps({"officer": SUPERVISOR, "reason_code": "uncollectable"}).encode()
        response = await officers.http.post(f"/v1/cases/{loan}{command}", content=body,
                                            headers=headers)
    assert response.status_code == 401, (authorization, response.status_code, response.text)
    assert error_body(response)["error"] == "unauthenticated"
    assert response.headers["www-authenticate"] == "Bearer"
