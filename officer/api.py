"""The officers' HTTP API: cases, negotiation rounds and legal cases, for people.

Every endpoint but ``/healthz`` and ``/readyz`` needs ``Authorization: Bearer <token>``
(``overdue officer token issue``). Without a valid token: 401. With a role the action is
not allowed to (``officer.roles``): 403 naming the role and the action. The officer id a
command carries (``officer``, ``recorded_by``, ``by``, ``flagged_by``, ``representative``,
``agent``) must be the token's officer: nobody acts in another's name (403).

Commands go to the workflows as the signals and updates of ``domain/*.py`` with the same
request bodies. An update its validator refuses is a 409 with the validator's reason; a
workflow that does not exist is a 404; a body that does not parse is a 422 naming the
field; Temporal unreachable is a 503.

Every attempt, allowed or not, is written to ``audit_log``: officer, role, action, loan,
target workflow, result (``ok``; ``refused``: by authentication, role, identity or the
workflow's rules; ``error``: a bad request, an unknown workflow, an unreachable Temporal)
and the command body without its free text (notes, reasons, asset leads). A command's
entry is written before the workflow is called (as ``error``) and completed afterwards, so
a command the audit log cannot record is not sent.

Run it with ``uvicorn --factory`` over :func:`create_app` (the lifespan connects to
Temporal and the database from the settings) or pass a client and sessions in tests.
"""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import Depends, FastAPI, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema
from pydantic_core import to_jsonable_python
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from domain.case import (
    QUERY_STATE,
    SIGNAL_CALL_OUTCOME,
    SIGNAL_DISPUTE,
    SIGNAL_HARDSHIP,
    SIGNAL_REPRESENTATIVE_UPDATE,
    UPDATE_LEGAL_OVERRIDE,
    UPDATE_TRANSFER,
    UPDATE_WRITE_OFF,
    WORKFLOW_TYPE,
    CallOutcome,
    CaseView,
    DisputeUpdate,
    HardshipFlag,
    LegalOverride,
    RepresentativeUpdate,
    Transfer,
    WriteOff,
    workflow_id_for,
)
from domain.kpis import DIMENSIONS, check_range, compute_kpis
from domain.legal_case import (
    QUERY_LEGAL,
    SIGNAL_LEGAL_EVENT,
    UPDATE_ASSET_LEAD,
    UPDATE_OFFER_SETTLEMENT,
    UPDATE_SETTLEMENT_ANSWER,
    AssetLead,
    LegalEvent,
    LegalState,
    SettlementAnswer,
    SettlementInput,
    SettlementView,
    legal_id_for,
)
from domain.negotiation import (
    QUERY_NEGOTIATION,
    UPDATE_ANSWER,
    UPDATE_APPROVE,
    UPDATE_ASSESSMENT,
    UPDATE_ASSIGN,
    UPDATE_PROMISE,
    UPDATE_PROPOSE,
    AnswerInput,
    ApprovalInput,
    AssessmentInput,
    AssignInput,
    CapacityView,
    NegotiationState,
    PromiseInput,
    PromiseView,
    Proposal,
    ProposeInput,
)
from officer.roles import Action, allowed, may_assign_others, override_role_for
from officer.tokens import Officer, authenticate
from overdue.kpi_report import to_csv, to_json, to_svg
from overdue.policy_file import load_policy
from overdue.settings import Settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.kpi_queries import (
    default_range,
    load_kpi_records,
    policy_buckets,
    policy_zone,
)
from overdue.storage.models import AuditEntry, CollectionCase, Loan
from overdue.temporal import connect, is_temporal_unavailable
from workflows import search_attributes as sa

LOAN_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
SEARCH_TERM_PATTERN = r"^[A-Za-z0-9_+-]{1,32}$"
_LOAN_ID = re.compile(LOAN_ID_PATTERN)
_SEARCH_TERM = re.compile(SEARCH_TERM_PATTERN)
MAX_BODY_BYTES = 64 * 1024
ANONYMOUS = "anonymous"
NO_ROLE = "none"
FREE_TEXT_FIELDS = frozenset({"note", "reason", "lead"})
"""Fields people type freely (and might put personal data in): kept out of the audit log."""

AuditResult = Literal["ok", "refused", "error"]
Target = Literal["case", "negotiation", "legal"]
T = TypeVar("T")


# --- errors and the audit log --------------------------------------------------------------


class ApiError(Exception):
    """An answer other than success; the handler audits it and turns it into JSON."""

    def __init__(self, status: int, error: str, message: str, result: AuditResult,
                 detail: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.result = status, error, message, result
        self.detail = detail or {}
        self.headers = headers


@dataclass
class AuditContext:
    """What the audit entry of the current request will say."""

    action: Action
    started_at: datetime
    officer: str = ANONYMOUS
    role: str = NO_ROLE
    loan_id: str | None = None
    target_workflow: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    entry_id: int | None = None


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def _client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _audit(request: Request) -> AuditContext:
    ctx: AuditContext = request.state.audit
    return ctx


async def record(request: Request, result: AuditResult,
                 extra: dict[str, Any] | None = None) -> None:
    """Write (or complete) the request's audit entry."""
    ctx: AuditContext | None = getattr(request.state, "audit", None)
    if ctx is None:
        return
    detail = to_jsonable_python({**ctx.detail, **(extra or {})})
    async with _sessions(request).begin() as session:
        entry = await session.get(AuditEntry, ctx.entry_id) if ctx.entry_id else None
        if entry is None:
            entry = AuditEntry(at=ctx.started_at, officer=ctx.officer, role=ctx.role,
                               action=str(ctx.action), loan_id=ctx.loan_id,
                               target_workflow=ctx.target_workflow, result=result,
                               detail=detail)
            session.add(entry)
            await session.flush()
            ctx.entry_id = entry.id
        else:
            entry.result, entry.detail = result, detail
            entry.target_workflow = ctx.target_workflow


def scrub(body: BaseModel) -> dict[str, Any]:
    """The command for the audit log: ids, codes, amounts and dates, no free text."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("(free text omitted)" if k in FREE_TEXT_FIELDS and v is not None
                        else clean(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(body.model_dump(mode="json"))
    return cleaned


def describe_validation(errors: list[Any]) -> tuple[str, str]:
    """(field, "field: message") of the first problem, without the input's value."""
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path"):
        loc = loc[1:]
    name = ".".join(loc) or "(body)"
    return name, f"{name}: {first.get('msg', 'invalid')}"


@asynccontextmanager
async def temporal_errors(workflow_id: str) -> AsyncIterator[None]:
    """Temporal's answers as HTTP ones: 404 unknown workflow, 409 refused, 503 down."""
    try:
        yield
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        message = getattr(cause, "message", None) or str(cause or exc)
        raise ApiError(409, "refused", message, "refused") from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise ApiError(504, "timeout", f"{workflow_id} did not answer in time", "error") from exc
    except WorkflowQueryFailedError as exc:
        raise ApiError(409, "query_failed", str(exc), "error") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            if "completed" in exc.message.lower():
                raise ApiError(409, "closed", f"workflow {workflow_id} has already completed",
                               "refused") from exc
            raise ApiError(404, "not_found", f"workflow {workflow_id} not found",
                           "error") from exc
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:
            raise ApiError(409, "refused", exc.message, "refused") from exc
        if is_temporal_unavailable(exc):
            raise ApiError(503, "temporal_unavailable", "Temporal is unavailable; retry later",
                           "error") from exc
        raise
    except RuntimeError as exc:
        if is_temporal_unavailable(exc):
            raise ApiError(503, "temporal_unavailable", "Temporal is unavailable; retry later",
                           "error") from exc
        raise


# --- authentication and roles --------------------------------------------------------------

bearer = HTTPBearer(auto_error=False, scheme_name="OfficerToken",
                    description="An officer's token from `overdue officer token issue`.")


def authorize(action: Action) -> Callable[..., Awaitable[Officer]]:
    """A dependency: the authenticated officer, if their role may perform ``action``.

    It runs before the path, query and body are validated, so an anonymous caller learns
    nothing about them (401 first)."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)],
    ) -> Officer:
        loan_id = request.path_params.get("loan_id")
        ctx = AuditContext(action=action, started_at=datetime.now(UTC),
                           loan_id=loan_id if isinstance(loan_id, str)
                           and _LOAN_ID.fullmatch(loan_id) else None)
        request.state.audit = ctx
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise ApiError(401, "unauthenticated", "a bearer token is required", "refused",
                           {"reason": "no bearer token"}, challenge)
        async with _sessions(request)() as session:
            officer = await authenticate(session, credentials.credentials)
        if officer is None:
            raise ApiError(401, "unauthenticated", "the token is invalid or revoked", "refused",
                           {"reason": "invalid or revoked token"}, challenge)
        ctx.officer, ctx.role = officer.officer, officer.role
        if not allowed(officer.role, action):
            raise ApiError(403, "forbidden",
                           f"role {officer.role!r} may not perform {action}", "refused",
                           {"reason": "role"})
        return officer

    return dependency


# --- response models -----------------------------------------------------------------------


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(ApiModel):
    error: str
    message: str


class CommandResult(ApiModel, Generic[T]):
    """What a command did: ``accepted`` for a signal (the workflow acts on it next),
    ``done`` with the update's result."""

    action: str
    loan_id: str
    workflow_id: str
    officer: str
    status: Literal["accepted", "done"]
    result: T | None = None


class HistoryEvent(ApiModel):
    event_id: int
    event_type: str
    time: datetime


class HistoryView(ApiModel):
    workflow_id: str
    events: list[HistoryEvent]
    truncated: bool
    """More events than ``limit``: only the first ones are listed."""


class VisibilityCase(ApiModel):
    workflow_id: str
    run_id: str
    status: str | None
    loan_id: str | None
    stage: str | None
    days_past_due: int | None
    bucket: str | None
    branch: str | None
    arrears: float | None


class VisibilityResult(ApiModel):
    source: Literal["temporal_visibility"] = "temporal_visibility"
    query: str
    cases: list[VisibilityCase]
    error: str | None = None
    """Set when the visibility store could not answer (the database result still stands)."""


class DatabaseCase(ApiModel):
    case_ref: str
    loan_id: str
    workflow_id: str
    stage: str
    outcome: str | None
    days_past_due: int
    bucket: str | None
    branch: str | None
    arrears: Decimal
    assigned_officer: str | None
    updated_at: datetime


class DatabaseResult(ApiModel):
    source: Literal["database"] = "database"
    cases: list[DatabaseCase]


class SearchResult(ApiModel):
    filters: dict[str, str | int]
    temporal_visibility: VisibilityResult
    database: DatabaseResult


def visibility_query(stage: str | None = None, bucket: str | None = None,
                     branch: str | None = None, min_dpd: int | None = None,
                     today: date | None = None) -> str:
    """A Temporal list filter from validated values only: each keyword matches
    ``SEARCH_TERM_PATTERN`` (no quotes or spaces can get in), ``min_dpd`` is an int.

    Days past due are filtered on ``OverdueSince`` (exact every day) given the bank's
    ``today``; a case without it (opened before it existed) on ``DaysPastDue``."""
    clauses = [f'WorkflowType = "{WORKFLOW_TYPE}"']
    for key, value in ((sa.CASE_STAGE, stage), (sa.BUCKET, bucket), (sa.BRANCH, branch)):
        if value is None:
            continue
        if not _SEARCH_TERM.fullmatch(value):
            raise ValueError(f"{key.name} must match {SEARCH_TERM_PATTERN}")
        clauses.append(f'{key.name} = "{value}"')
    if min_dpd is not None and today is not None:
        since = sa.day_number(today - timedelta(days=int(min_dpd)))
        clauses.append(f"({sa.OVERDUE_SINCE.name} <= {since} OR ({sa.OVERDUE_SINCE.name} IS NULL"
                       f" AND {sa.DAYS_PAST_DUE.name} >= {int(min_dpd)}))")
    elif min_dpd is not None:
        clauses.append(f"{sa.DAYS_PAST_DUE.name} >= {int(min_dpd)}")
    return " AND ".join(clauses)


# --- commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    action: Action
    path: str
    model: type[BaseModel]
    target: Target
    kind: Literal["signal", "update"]
    name: str
    actor_field: str | None
    """The body's field naming the acting officer (must be the token's officer)."""
    result_type: Any
    summary: str


COMMANDS: tuple[Command, ...] = (
    Command(Action.HARDSHIP, "/hardship", HardshipFlag, "case", "signal", SIGNAL_HARDSHIP,
            "flagged_by", None, "Flag special circumstances (a representative takes over)"),
    Command(Action.REPRESENTATIVE_DONE, "/representative-done", RepresentativeUpdate, "case",
            "signal", SIGNAL_REPRESENTATIVE_UPDATE, "representative", None,
            "The representative reports back; the ladder resumes"),
    Command(Action.DISPUTE, "/dispute", DisputeUpdate, "case", "signal", SIGNAL_DISPUTE, "by",
            None, "Open (collection pauses) or resolve a dispute"),
    Command(Action.CALL_OUTCOME, "/call-outcome", CallOutcome, "case", "signal",
            SIGNAL_CALL_OUTCOME, "agent", None,
            "Record a call's outcome (agent: the token's officer when left out)"),
    Command(Action.LEGAL_OVERRIDE, "/legal-override", LegalOverride, "case", "update",
            UPDATE_LEGAL_OVERRIDE, "officer", str,
            "Send a case in negotiation to law early, with a written reason"),
    Command(Action.WRITE_OFF, "/write-off", WriteOff, "case", "update", UPDATE_WRITE_OFF,
            "officer", str, "Write the case off with a reason code"),
    Command(Action.TRANSFER, "/transfer", Transfer, "case", "update", UPDATE_TRANSFER,
            "officer", str, "NPL transfer or agency placement, after screening"),
    Command(Action.NEGOTIATION_ASSIGN, "/negotiation/assign", AssignInput, "negotiation",
            "update", UPDATE_ASSIGN, None, str,
            "Assign the open round (a negotiator: to themselves; a supervisor: to anyone)"),
    Command(Action.NEGOTIATION_ASSESS, "/negotiation/assess", AssessmentInput, "negotiation",
            "update", UPDATE_ASSESSMENT, "officer", CapacityView,
            "Record the customer's financial assessment"),
    Command(Action.NEGOTIATION_PROPOSE, "/negotiation/propose", ProposeInput, "negotiation",
            "update", UPDATE_PROPOSE, "officer", Proposal,
            "Propose repayment options with their schedules"),
    Command(Action.NEGOTIATION_ANSWER, "/negotiation/answer", AnswerInput, "negotiation",
            "update", UPDATE_ANSWER, "recorded_by", NegotiationState,
            "Record the customer's answer to the latest proposal"),
    Command(Action.NEGOTIATION_APPROVE, "/negotiation/approve", ApprovalInput, "negotiation",
            "update", UPDATE_APPROVE, "officer", NegotiationState,
            "Approve or decline an agreement (maker-checker: not its proposer)"),
    Command(Action.NEGOTIATION_PROMISE, "/negotiation/promise", PromiseInput, "negotiation",
            "update", UPDATE_PROMISE, "officer", PromiseView, "Record a promise to pay"),
    Command(Action.LEGAL_SETTLE, "/legal/settle", SettlementInput, "legal", "update",
            UPDATE_OFFER_SETTLEMENT, "officer", SettlementView, "Offer a settlement"),
    Command(Action.LEGAL_SETTLEMENT_ANSWER, "/legal/settlement-answer", SettlementAnswer,
            "legal", "update", UPDATE_SETTLEMENT_ANSWER, "recorded_by", SettlementView,
            "Record the customer's answer to the settlement offer"),
    Command(Action.LEGAL_ASSET_LEAD, "/legal/asset-lead", AssetLead, "legal", "update",
            UPDATE_ASSET_LEAD, "officer", int, "Supply an asset lead for enforcement"),
    Command(Action.LEGAL_STEP, "/legal/step", LegalEvent, "legal", "signal",
            SIGNAL_LEGAL_EVENT, None, None,
            "Record a legal step (review decision, hearing date, judgment, enforcement "
            "update) from the lawyers' tool"),
)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No token, or an invalid or revoked one"},
    403: {"model": ErrorBody, "description": "The role may not do this, or the body names "
                                             "another officer"},
    404: {"model": ErrorBody, "description": "No such workflow"},
    409: {"model": ErrorBody, "description": "Refused by the workflow (the validator's "
                                             "reason), or no open round / legal case"},
    422: {"model": ErrorBody, "description": "Invalid request; the message names the field"},
    503: {"model": ErrorBody, "description": "Temporal unavailable"},
}


async def parse_body(request: Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise ApiError(413, "too_large", f"a command is at most {MAX_BODY_BYTES} bytes", "error")
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        name, message = describe_validation(list(exc.errors()))
        raise ApiError(422, "invalid_body", message, "error", {"field": name}) from exc


def act_as(command: Command, body: BaseModel, officer: Officer,
           override_role: str) -> BaseModel:
    """The body as sent to the workflow, once it is sure the officer acts in their own name.

    The legal override's ``role`` is never taken from the body: the workflow receives the
    policy's override role (``legal_supervisor``) because the caller is a supervisor or
    admin, the only roles allowed the action."""
    if command.action is Action.CALL_OUTCOME and getattr(body, "agent", None) is None:
        body = body.model_copy(update={"agent": officer.officer})
    if command.action is Action.LEGAL_OVERRIDE:
        role = override_role_for(officer.role, override_role)
        if role is None:  # the role table already refused; kept for safety
            raise ApiError(403, "forbidden", f"role {officer.role!r} may not perform "
                           f"{command.action}", "refused", {"reason": "role"})
        body = body.model_copy(update={"role": role})
    if command.action is Action.NEGOTIATION_ASSIGN:
        assignee = getattr(body, "officer", None)
        if assignee != officer.officer and not may_assign_others(officer.role):
            raise ApiError(403, "forbidden", f"role {officer.role!r} may assign a round only "
                           f"to themselves ({officer.officer})", "refused",
                           {"reason": "assign_others"})
    if command.actor_field is not None:
        claimed = getattr(body, command.actor_field)
        if claimed != officer.officer:
            raise ApiError(403, "forbidden", f"{command.actor_field} is {claimed!r}, not the "
                           f"token's officer {officer.officer!r}: an officer cannot act in "
                           "another's name", "refused", {"reason": "impersonation"})
    return body


# --- the app -------------------------------------------------------------------------------


def create_app(settings: Settings, client: Client | None = None,
               sessions: async_sessionmaker[AsyncSession] | None = None) -> FastAPI:
    """The officers' API. Tests pass a client and sessions; otherwise the lifespan builds
    them from ``settings`` (Temporal connected lazily, so the API starts while it is down)."""
    policy = load_policy(settings.policy.path)
    override_role = policy.legal.override_role
    zone, buckets = policy_zone(policy), policy_buckets(policy)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine: AsyncEngine | None = None
        if app.state.sessions is None:
            engine = create_engine(settings.database)
            app.state.engine = engine
            app.state.sessions = create_sessionmaker(engine)
        if app.state.temporal is None:
            app.state.temporal = await connect(settings.temporal, lazy=True)
        try:
            yield
        finally:
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        title="overdue officers' API", version="1", lifespan=lifespan,
        description="Officers read cases and act on them (early stage, negotiation, legal "
                    "action, closures) with a bearer token; roles decide who may do what, "
                    "and every attempt is audited.")
    app.state.sessions = sessions
    app.state.temporal = client
    app.state.engine = None

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        await record(request, exc.result,
                     {"status": exc.status, "message": exc.message, **exc.detail})
        return JSONResponse(status_code=exc.status, headers=exc.headers,
                            content={"error": exc.error, "message": exc.message})

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        name, message = describe_validation(list(exc.errors()))
        await record(request, "error", {"status": 422, "message": message, "field": name})
        return JSONResponse(status_code=422, content={"error": "invalid_request",
                                                      "message": message})

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_invalid)

    LoanPath = Annotated[str, Path(pattern=LOAN_ID_PATTERN, description="The loan's id")]

    async def case_view(request: Request, loan_id: str) -> CaseView:
        workflow_id = workflow_id_for(loan_id)
        _audit(request).target_workflow = workflow_id
        async with temporal_errors(workflow_id):
            view: CaseView = await _client(request).get_workflow_handle(workflow_id).query(
                QUERY_STATE, result_type=CaseView)
        return view

    async def target(request: Request, loan_id: str, kind: Target, *, running: bool) -> str:
        """The workflow a command goes to: the case, its open round, its legal case."""
        if kind == "case":
            workflow_id = workflow_id_for(loan_id)
        else:
            view = await case_view(request, loan_id)
            if kind == "negotiation":
                if view.negotiation_id is None:
                    raise ApiError(409, "no_negotiation", f"loan {loan_id} has no negotiation "
                                   f"round open (stage {view.stage})", "refused")
                workflow_id = view.negotiation_id
            elif view.legal_id is not None:
                workflow_id = view.legal_id
            elif not running and view.legal_results:
                workflow_id = legal_id_for(loan_id, view.legal_results[-1].number)
            else:
                raise ApiError(409, "no_legal_case", f"loan {loan_id} has no legal case "
                               f"{'running' if running else 'yet'} (stage {view.stage})",
                               "refused")
        _audit(request).target_workflow = workflow_id
        return workflow_id

    # --- reads ---------------------------------------------------------------------------

    @app.get("/v1/cases/{loan_id}", response_model=CaseView, tags=["cases"],
             responses=_ERRORS)
    async def get_case(request: Request, loan_id: LoanPath,
                       _: Annotated[Officer, Depends(authorize(Action.CASE_READ))]) -> CaseView:
        """The case's state (the workflow's ``case_state`` query)."""
        view = await case_view(request, loan_id)
        await record(request, "ok")
        return view

    @app.get("/v1/cases/{loan_id}/history", response_model=HistoryView, tags=["cases"],
             responses=_ERRORS)
    async def get_history(
        request: Request, loan_id: LoanPath,
        _: Annotated[Officer, Depends(authorize(Action.CASE_HISTORY))],
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> HistoryView:
        """The case workflow's current run, event by event (id, type, time)."""
        workflow_id = workflow_id_for(loan_id)
        _audit(request).target_workflow = workflow_id
        events: list[HistoryEvent] = []
        truncated = False
        handle = _client(request).get_workflow_handle(workflow_id)
        async with temporal_errors(workflow_id):
            async for event in handle.fetch_history_events(page_size=min(limit + 1, 1000)):
                if len(events) >= limit:
                    truncated = True
                    break
                events.append(HistoryEvent(
                    event_id=event.event_id,
                    event_type=EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"),
                    time=event.event_time.ToDatetime(tzinfo=UTC)))
        await record(request, "ok", {"events": len(events)})
        return HistoryView(workflow_id=workflow_id, events=events, truncated=truncated)

    @app.get("/v1/cases", response_model=SearchResult, tags=["cases"], responses=_ERRORS)
    async def search_cases(
        request: Request,
        _: Annotated[Officer, Depends(authorize(Action.CASE_SEARCH))],
        stage: Annotated[str | None, Query(pattern=SEARCH_TERM_PATTERN)] = None,
        bucket: Annotated[str | None, Query(pattern=SEARCH_TERM_PATTERN)] = None,
        branch: Annotated[str | None, Query(pattern=SEARCH_TERM_PATTERN)] = None,
        min_dpd: Annotated[int | None, Query(ge=0, le=100_000)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> SearchResult:
        """Cases by stage, days-past-due bucket, branch and minimum days past due: Temporal
        visibility (live search attributes) and the database's ``collection_cases``, both
        returned and labelled."""
        filters: dict[str, str | int] = {k: v for k, v in (
            ("stage", stage), ("bucket", bucket), ("branch", branch), ("min_dpd", min_dpd))
            if v is not None}
        _audit(request).detail["filters"] = filters
        today = datetime.now(zone).date()
        query = visibility_query(stage, bucket, branch, min_dpd, today)
        visible: list[VisibilityCase] = []
        error: str | None = None
        try:
            async for wf in _client(request).list_workflows(query, limit=limit):
                attrs = wf.typed_search_attributes
                visible.append(VisibilityCase(
                    workflow_id=wf.id, run_id=wf.run_id,
                    status=wf.status.name if wf.status is not None else None,
                    loan_id=attrs.get(sa.LOAN_ID), stage=attrs.get(sa.CASE_STAGE),
                    days_past_due=attrs.get(sa.DAYS_PAST_DUE), bucket=attrs.get(sa.BUCKET),
                    branch=attrs.get(sa.BRANCH), arrears=attrs.get(sa.ARREARS_AMOUNT)))
        except RPCError as exc:
            error = f"{exc.status.name}: {exc.message}"[:300]
        except RuntimeError as exc:
            if not is_temporal_unavailable(exc):
                raise
            error = "Temporal is unavailable"
        stmt = (select(CollectionCase, Loan.branch)
                .outerjoin(Loan, Loan.loan_id == CollectionCase.loan_id))
        if stage is not None:
            stmt = stmt.where(CollectionCase.stage == stage)
        if bucket is not None:
            stmt = stmt.where(CollectionCase.bucket == bucket)
        if branch is not None:
            stmt = stmt.where(Loan.branch == branch)
        if min_dpd is not None:
            stmt = stmt.where(CollectionCase.oldest_unpaid_due_date
                              <= today - timedelta(days=min_dpd))
        stmt = stmt.order_by(CollectionCase.updated_at.desc()).limit(limit)
        async with _sessions(request)() as session:
            rows = (await session.execute(stmt)).all()
        stored = [DatabaseCase(
            case_ref=c.case_ref, loan_id=c.loan_id, workflow_id=c.workflow_id, stage=c.stage,
            outcome=c.outcome, days_past_due=c.days_past_due, bucket=c.bucket,
            branch=loan_branch, arrears=c.arrears, assigned_officer=c.assigned_officer,
            updated_at=c.updated_at) for c, loan_branch in rows]
        await record(request, "ok", {"visibility": len(visible), "database": len(stored),
                                     "visibility_error": error})
        return SearchResult(filters=filters,
                            temporal_visibility=VisibilityResult(query=query, cases=visible,
                                                                 error=error),
                            database=DatabaseResult(cases=stored))

    @app.get("/v1/cases/{loan_id}/negotiation", response_model=NegotiationState,
             tags=["negotiation"], responses=_ERRORS)
    async def get_negotiation(
        request: Request, loan_id: LoanPath,
        _: Annotated[Officer, Depends(authorize(Action.NEGOTIATION_READ))],
    ) -> NegotiationState:
        """The open round: negotiator, assessment, proposals with schedules, history."""
        workflow_id = await target(request, loan_id, "negotiation", running=True)
        async with temporal_errors(workflow_id):
            state: NegotiationState = await _client(request).get_workflow_handle(
                workflow_id).query(QUERY_NEGOTIATION, result_type=NegotiationState)
        await record(request, "ok")
        return state

    @app.get("/v1/cases/{loan_id}/legal", response_model=LegalState, tags=["legal"],
             responses=_ERRORS)
    async def get_legal(
        request: Request, loan_id: LoanPath,
        _: Annotated[Officer, Depends(authorize(Action.LEGAL_READ))],
    ) -> LegalState:
        """The running legal case, else the latest one: step, claim, judgment, enforcement,
        settlement, history."""
        workflow_id = await target(request, loan_id, "legal", running=False)
        async with temporal_errors(workflow_id):
            state: LegalState = await _client(request).get_workflow_handle(workflow_id).query(
                QUERY_LEGAL, result_type=LegalState)
        await record(request, "ok")
        return state

    # --- reports -------------------------------------------------------------------------

    Dim = Literal["month", "stage", "channel"]
    From = Annotated[date | None, Query(alias="from", description=(
        "First day (YYYY-MM-DD, the bank's time zone); default: the first day of the month "
        "five months back"))]
    To = Annotated[date | None, Query(alias="to", description=(
        "Last day (YYYY-MM-DD); default: today"))]
    assert DIMENSIONS == ("month", "stage", "channel")

    async def kpis(request: Request, start: date | None, end: date | None,
                   by: Dim) -> Any:
        default_start, today = default_range(datetime.now(zone).date())
        end = end or today
        try:
            start = start or (default_start if end == today else default_range(end)[0])
            check_range(start, end)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", f"from/to: {exc}", "error",
                           {"field": "from/to"}) from exc
        _audit(request).detail["range"] = {"from": start.isoformat(), "to": end.isoformat(),
                                           "by": by}
        async with _sessions(request)() as session:
            records = await load_kpi_records(session, start=start, end=end, tz=zone)
        return compute_kpis(records, start=start, end=end, tz=zone, by=by, buckets=buckets)

    @app.get("/v1/reports/kpis", tags=["reports"], responses={
        **_ERRORS, 200: {"description": "The KPIs: JSON (exact values as decimal strings) or "
                                        "CSV", "content": {"application/json": {},
                                                           "text/csv": {}}}})
    async def get_kpis(
        request: Request,
        _: Annotated[Officer, Depends(authorize(Action.REPORT_READ))],
        start: From = None, end: To = None,
        by: Annotated[Dim, Query(description="Group by month, stage or channel")] = "month",
        format: Annotated[Literal["json", "csv"], Query(
            description="json, or csv (one line per KPI and group)")] = "json",
    ) -> Response:
        """Collection KPIs over a date range (docs/kpis.md): cure rate, roll rates, cure rate
        from each bucket, promise-kept, right-party-contact and recovery rates, contacts per
        cure, grouped by month, stage or channel (``all``: the KPI has no such dimension)."""
        report = await kpis(request, start, end, by)
        await record(request, "ok", {"rows": len(report.rows), "format": format})
        if format == "csv":
            return Response(to_csv(report), media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="kpis-{report.start}-'
                                       f'{report.end}-{by}.csv"'})
        return JSONResponse(to_json(report))

    @app.get("/v1/reports/kpis/chart.svg", tags=["reports"], responses={
        **_ERRORS, 200: {"description": "An SVG chart",
                         "content": {"image/svg+xml": {}}}})
    async def get_kpi_chart(
        request: Request,
        _: Annotated[Officer, Depends(authorize(Action.REPORT_READ))],
        start: From = None, end: To = None,
    ) -> Response:
        """Roll rates from each bucket and the cure rate per month (lines), cures per month
        (bars)."""
        report = await kpis(request, start, end, "month")
        await record(request, "ok", {"months": len(report.series)})
        return Response(to_svg(report), media_type="image/svg+xml")

    # --- commands ------------------------------------------------------------------------

    async def run_command(request: Request, loan_id: str, officer: Officer,
                          command: Command) -> JSONResponse:
        ctx = _audit(request)
        body = await parse_body(request, command.model)
        ctx.detail["body"] = scrub(body)
        body = act_as(command, body, officer, override_role)
        workflow_id = await target(request, loan_id, command.target, running=True)
        await record(request, "error", {"pending": True})  # no audit entry, no command
        handle = _client(request).get_workflow_handle(workflow_id)
        result: Any = None
        async with temporal_errors(workflow_id):
            if command.kind == "signal":
                await handle.signal(command.name, body)
            else:
                result = await handle.execute_update(command.name, body,
                                                     result_type=command.result_type)
        await record(request, "ok")
        answer = CommandResult[Any](
            action=str(command.action), loan_id=loan_id, workflow_id=workflow_id,
            officer=officer.officer, status="accepted" if command.kind == "signal" else "done",
            result=result)
        return JSONResponse(status_code=202 if command.kind == "signal" else 200,
                            content=to_jsonable_python(answer))

    def add_command(command: Command) -> None:
        dependency = authorize(command.action)

        async def endpoint(request: Request, loan_id: LoanPath,
                           officer: Annotated[Officer, Depends(dependency)]) -> JSONResponse:
            return await run_command(request, loan_id, officer, command)

        endpoint.__name__ = command.action.replace(".", "_")
        generic: Any = CommandResult
        response_model: Any = generic[command.result_type or type(None)]
        app.add_api_route(
            f"/v1/cases/{{loan_id}}{command.path}", endpoint, methods=["POST"],
            summary=command.summary, tags=[command.target if command.target != "case"
                                           else "cases"],
            status_code=202 if command.kind == "signal" else 200,
            response_model=response_model,
            responses=_ERRORS,
            description=f"Action `{command.action}`; "
                        + (f"signal `{command.name}`" if command.kind == "signal"
                           else f"update `{command.name}`")
                        + f" on the {command.target} workflow. Body: `{command.model.__name__}`"
                        + (f"; `{command.actor_field}` must be the token's officer."
                           if command.actor_field else "."),
            openapi_extra={"requestBody": {"required": True, "content": {
                "application/json": {"schema": {
                    "$ref": f"#/components/schemas/{command.model.__name__}"}}}}})

    for command in COMMANDS:
        add_command(command)

    # --- health --------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        problems: dict[str, str] = {}
        try:
            async with _sessions(request)() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            problems["database"] = type(exc).__name__
        try:
            await _client(request).service_client.check_health()
        except Exception as exc:
            problems["temporal"] = type(exc).__name__
        if problems:
            return JSONResponse(status_code=503, content={"status": "unready", **problems})
        return JSONResponse(content={"status": "ready"})

    # Request bodies are parsed by the endpoints (after authentication), so their schemas
    # are added to the OpenAPI document here.
    _, body_schemas = models_json_schema(
        [(c.model, "validation") for c in COMMANDS],
        ref_template="#/components/schemas/{model}")
    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, definition in body_schemas.get("$defs", {}).items():
            components.setdefault(name, definition)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
