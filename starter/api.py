"""HTTP intake for core banking: ``POST /v1/core-banking/events``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import InterfaceError, OperationalError
from temporalio.client import Client
from temporalio.service import RPCError

from domain.events import EVENT_TYPES, event_adapter
from overdue.clients.signing import SIGNATURE_HEADER, verify_signature
from overdue.policy_file import load_policy
from overdue.settings import Settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.temporal import connect, is_temporal_unavailable
from starter import signing
from starter.intake import IntakeService
from starter.selfhelp import create_router
from starter.survey import router as survey_router
from starter.webhooks import (
    CallTaskPayload,
    SmsReceiptPayload,
    WebhookModel,
    WebhookService,
    parse,
    parse_legal,
)

log = structlog.get_logger(__name__)

MAX_EVENT_BYTES = 64 * 1024


def describe_validation_error(exc: ValidationError) -> list[dict[str, str]]:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        # The discriminator puts the event type first in the path; drop it for readers.
        if loc and loc[0] in EVENT_TYPES:
            loc = loc[1:]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = [*loc, "type"]
        problems.append({"field": ".".join(loc) or "(body)", "message": error["msg"]})
    return problems


def invalid(problems: list[dict[str, str]]) -> JSONResponse:
    first = problems[0]
    return JSONResponse(status_code=422, content={
        "error": "invalid_event",
        "message": f"{first['field']}: {first['message']}",
        "problems": problems,
    })


def create_app(settings: Settings, service: IntakeService | None = None,
               webhooks: WebhookService | None = None) -> FastAPI:
    """The intake app. Tests may pass ready services; else they are built on start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is not None:
            yield
            return
        engine = create_engine(settings.database)
        client = await connect(settings.temporal, lazy=True)
        app.state.engine = engine
        app.state.temporal = client
        sessions = create_sessionmaker(engine)
        app.state.sessions = sessions
        app.state.service = IntakeService(sessions, client, settings.temporal.task_queue)
        app.state.webhooks = WebhookService(sessions, client)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(title="overdue core-banking intake", version="1", lifespan=lifespan,
                  description="Receives core-banking events and drives each loan's "
                              "collections workflow.")
    # Self-help pages carry the bank's contacts from the policy in force.
    app.include_router(create_router(load_policy(settings.policy.path).bank))
    app.include_router(survey_router)
    if service is not None:
        app.state.service = service
        app.state.sessions = service.sessions
    if webhooks is not None:
        app.state.webhooks = webhooks
    event_schema = event_adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs = event_schema.pop("$defs", {})
    openapi_extra = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": event_schema}}}}

    @app.post("/v1/core-banking/events", openapi_extra=openapi_extra, status_code=202,
              responses={200: {"description": "Duplicate (already processed) or for a closed "
                                               "loan (kept, no case): no effect"},
                         401: {"description": "Missing, wrong or stale HMAC signature "
                                               "(X-Overdue-Timestamp, X-Overdue-Signature)"},
                         409: {"description": "Event id reused with different content"},
                         422: {"description": "Invalid event; nothing was started"},
                         503: {"description": "Temporal or the database unavailable; "
                                               "re-deliver later"}})
    async def post_event(request: Request) -> JSONResponse:
        raw = await request.body()
        if len(raw) > MAX_EVENT_BYTES:
            return JSONResponse(status_code=413, content={
                "error": "too_large", "message": f"an event is at most {MAX_EVENT_BYTES} bytes"})
        refused = signing.check(settings.intake.hmac_secret.get_secret_value().encode(),
                                dict(request.headers), raw,
                                settings.intake.replay_window_seconds)
        if refused is not None:
            return JSONResponse(status_code=401, content={"error": "bad_signature",
                                                          "message": refused})
        try:
            event = event_adapter.validate_json(raw)
        except ValidationError as exc:
            return invalid(describe_validation_error(exc))
        svc: IntakeService = request.app.state.service
        try:
            result = await svc.ingest(event, raw)
        except (RPCError, RuntimeError) as exc:
            if not is_temporal_unavailable(exc):
                raise
            log.warning("temporal unavailable; event kept for re-delivery",
                        event_id=event.event_id, error=str(exc))
            return JSONResponse(status_code=503, content={
                "error": "temporal_unavailable", "event_id": event.event_id,
                "message": "stored but not yet delivered; re-deliver the event"})
        except (OperationalError, InterfaceError, OSError) as exc:
            # Nothing was committed, or the event is kept as received: a re-delivery of
            # the same event is safe either way.
            log.warning("database unavailable; event to be re-delivered",
                        event_id=event.event_id, error=type(exc).__name__)
            return JSONResponse(status_code=503, headers={"Retry-After": "5"}, content={
                "error": "database_unavailable", "event_id": event.event_id,
                "message": "the event could not be stored; re-deliver the event"})
        status = {"accepted": 202, "recorded": 202, "duplicate": 200, "conflict": 409,
                  "loan_closed": 200}[result.status]
        body = {"event_id": result.event_id, "workflow_id": result.workflow_id,
                "status": result.status}
        if result.status == "conflict":
            body["message"] = "this event id was already received with different content"
        if result.status == "loan_closed":
            body["message"] = "the loan was closed: the event is kept and starts no case"
        if result.status == "recorded":
            body["message"] = "kept for the early-warning sweep; no case is opened"
        return JSONResponse(status_code=status, content=body)

    async def _callback(request: Request, api_key: SecretStr,
                        model: type[WebhookModel]) -> tuple[WebhookModel | None, JSONResponse]:
        raw = await request.body()
        if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER), api_key):
            return None, JSONResponse(status_code=401, content={
                "error": "bad_signature", "message": f"{SIGNATURE_HEADER} does not match"})
        parsed = parse(model, raw)
        if isinstance(parsed, str):
            return None, JSONResponse(status_code=422, content={
                "error": "invalid_callback", "message": parsed})
        return parsed, JSONResponse(content={})

    @app.post("/v1/webhooks/sms-receipts", responses={
        401: {"description": "Signature does not match"}, 422: {"description": "Invalid"}})
    async def sms_receipt(request: Request) -> JSONResponse:
        """Delivery receipt from the SMS gateway (signed with the gateway's API key)."""
        payload, refusal = await _callback(request, settings.sms.api_key, SmsReceiptPayload)
        if payload is None:
            return refusal
        assert isinstance(payload, SmsReceiptPayload)
        hooks: WebhookService = request.app.state.webhooks
        return JSONResponse(content={"status": await hooks.sms_receipt(payload)})

    @app.post("/v1/webhooks/contact-centre", responses={
        401: {"description": "Signature does not match"}, 422: {"description": "Invalid"}})
    async def contact_centre_callback(request: Request) -> JSONResponse:
        """A call task completed by an agent (signed with the contact centre's API key)."""
        payload, refusal = await _callback(request, settings.contact_centre.api_key,
                                           CallTaskPayload)
        if payload is None:
            return refusal
        assert isinstance(payload, CallTaskPayload)
        hooks: WebhookService = request.app.state.webhooks
        try:
            status = await hooks.call_task(payload)
        except ValueError as exc:
            return JSONResponse(status_code=422, content={"error": "invalid_callback",
                                                          "message": str(exc)})
        return JSONResponse(content={"status": status})

    @app.post("/v1/webhooks/legal", responses={
        401: {"description": "Signature does not match"}, 422: {"description": "Invalid"}})
    async def legal_callback(request: Request) -> JSONResponse:
        """A step from the legal case-management system (signed with its API key)."""
        raw = await request.body()
        if not verify_signature(raw, request.headers.get(SIGNATURE_HEADER),
                                settings.legal.api_key):
            return JSONResponse(status_code=401, content={
                "error": "bad_signature", "message": f"{SIGNATURE_HEADER} does not match"})
        try:
            reference, event = parse_legal(raw)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return JSONResponse(status_code=422, content={"error": "invalid_callback",
                                                          "message": str(exc)[:300]})
        hooks: WebhookService = request.app.state.webhooks
        try:
            status = await hooks.legal_event(reference, event)
        except ValueError as exc:
            return JSONResponse(status_code=422, content={"error": "invalid_callback",
                                                          "message": str(exc)})
        return JSONResponse(content={"status": status})

    @app.get("/v1/core-banking/events/schema")
    async def get_event_schema() -> dict[str, Any]:
        """The JSON schema of a core-banking event."""
        return event_adapter.json_schema()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        engine = getattr(request.app.state, "engine", None)
        client: Client | None = getattr(request.app.state, "temporal", None)
        problems: dict[str, str] = {}
        if engine is not None:
            try:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
            except Exception as exc:
                problems["database"] = type(exc).__name__
        if client is not None:
            try:
                await client.service_client.check_health()
            except Exception as exc:
                problems["temporal"] = type(exc).__name__
        if problems:
            return JSONResponse(status_code=503, content={"status": "unready", **problems})
        return JSONResponse(content={"status": "ready"})

    original_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
