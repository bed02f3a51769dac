"""A local contact-centre sandbox: phone-call tasks for representatives, and their outcomes.

Run it with ``python -m sandbox.contact_centre --port 8028 --store .data/cc-sandbox.jsonl``.

API (what :class:`overdue.clients.contact_centre.ContactCentreClient` talks to). Errors are
``{"error": <code>, "message": <text>}``; messages never echo a phone number, a name or a
script.

``POST /v1/call-tasks``
    Headers ``Authorization: Bearer <api_key>`` (401 ``unauthorized`` otherwise) and
    ``Idempotency-Key`` (400 ``missing_idempotency_key`` if missing or empty,
    ``invalid_idempotency_key`` over 200 characters). JSON body::

        {"kind": "collection_call" | "hardship_follow_up",
         "reference": "case ref", "loan_ref": "L-1", "phone": "+8613800138000",
         "customer_name": "...", "locale": "zh-CN",
         "script": "what the agent says (overdue amount etc.)",
         "due_by": "2024-05-01T18:00:00+08:00",
         "callback_url": "https://..." | null, "assignee": "rep-7" | null}

    ``201 {"task_id": "task_<hex>", "status": "open"}``. ``due_by`` must carry a UTC offset;
    ``reference``, ``loan_ref``, ``customer_name``, ``assignee`` are 1-200 characters,
    ``script`` 1-4000, ``locale`` a language tag. 400 ``invalid_json`` /
    ``invalid_request`` (schema) / ``invalid_number`` (``phone`` not E.164) /
    ``invalid_callback_url`` (not an absolute http(s) URL).

    Idempotency as in :mod:`sandbox.sms_gateway`: the same key with the same JSON body
    (compared after dropping ``null`` fields) answers the original response with status 200
    and ``Idempotent-Replayed: true``; the same key with another body is 409
    ``idempotency_key_reused``. Only created tasks claim a key.

``GET /v1/call-tasks?status=open|completed&reference=&assignee=``
    JSON list of tasks, oldest first; ``GET /v1/call-tasks/{task_id}`` one task (404
    ``not_found``). A task has every field of its request plus ``task_id``,
    ``idempotency_key``, ``status`` (``open``/``completed``), ``created_at``,
    ``completed_at``, ``outcome``, ``promise_amount``, ``promise_date``, ``note``,
    ``agent``, ``callback_status`` and ``callback_attempts``. No API key needed.

``POST /v1/call-tasks/{task_id}/complete``
    What the agent UI sends when the call is done (no API key: agents are not API clients)::

        {"outcome": "promise_to_pay" | "refused" | "no_answer" | "wrong_number"
                    | "dispute" | "handled",
         "promise_amount": "1234.50" | null, "promise_date": "2024-05-10" | null,
         "note": "..." | null, "agent": "rep-7"}

    ``200`` with the completed task. 404 ``not_found``; 409 ``already_completed`` (a task is
    completed once); 400 ``invalid_json`` / ``invalid_request`` (schema, incl. an unknown
    outcome or a malformed date) / ``missing_promise`` (``promise_to_pay`` without amount
    and date) / ``invalid_promise_amount`` (a string with exactly 2 decimals, more than 0)
    / ``unexpected_promise`` (amount or date with another outcome).

Outcome callback: when the completed task has a ``callback_url``, the sandbox ``POST``s, in
the background::

    {"task_id": "task_...", "reference": "...", "kind": "collection_call",
     "outcome": "promise_to_pay", "promise_amount": "1234.50" | null,
     "promise_date": "2024-05-10" | null, "note": "..." | null, "agent": "rep-7",
     "completed_at": "2024-05-01T08:00:00.000Z"}

with ``Content-Type: application/json`` and ``X-Callback-Signature: sha256=<hex>``, the
lower-case hex HMAC-SHA256 of the raw body keyed with the sandbox's API key (check it with
:func:`overdue.clients.contact_centre.verify_callback_signature`). Any 2xx acknowledges it;
connection errors, timeouts (5 s), 5xx, 408 and 429 are retried up to 5 more times, after
0.2, 0.5, 1, 2 and 4 s, with the very same body (receivers should de-duplicate on
``task_id``); any other answer gives up at once. The task records ``callback_status``
(``null`` without a callback URL or before completion, then ``pending``, ``delivered`` or
``failed``) and ``callback_attempts``.

``POST /_sandbox/faults``
    ``{"fail_next": n, "status": 503, "after_accept": false, "delay_seconds": 0}``: the next
    ``n`` authenticated ``POST /v1/call-tasks`` are faulted exactly like the SMS sandbox's
    messages (``after_accept``: the task is created, then the answer is ``status``).

``DELETE /_sandbox/tasks``
    Forgets every task, idempotency key and fault, cancels callbacks in flight, and
    truncates the store. ``GET /healthz``: ``{"status": "ok"}``.

Persistence: with ``store_path`` every created task, and every later change of it
(completion, callback progress), is appended to the file as one JSON line (fsynced; the last
line of a ``task_id`` wins). The file is loaded when the app is created, so a restarted
sandbox keeps its tasks and idempotency keys, and resumes callbacks still ``pending`` when
it starts serving.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from sandbox.common import (
    BearerAuth,
    FaultPlan,
    IdempotentStore,
    error_response,
    http_sandbox_main,
    json_body,
    serve_create,
    serve_http_sandbox,
    utc_now_iso,
    validate_body,
)
from sandbox.sms_gateway import (
    E164,
    CallbackDispatcher,
    CallbackStatus,
    callback_body,
    is_http_url,
)

DEFAULT_API_KEY = "sandbox-cc-key"
API_KEY_ENV = "OVERDUE_CONTACT_CENTRE__API_KEY"
DEFAULT_PORT = 8028

LOCALE = r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$"
AMOUNT = re.compile(r"^(?:0|[1-9][0-9]{0,11})\.[0-9]{2}$")

TaskKind = Literal["collection_call", "hardship_follow_up"]
Outcome = Literal["promise_to_pay", "refused", "no_answer", "wrong_number", "dispute",
                  "handled"]


class _TaskIn(BaseModel):
    kind: TaskKind
    reference: str = Field(min_length=1, max_length=200)
    loan_ref: str = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=32)
    customer_name: str = Field(min_length=1, max_length=200)
    locale: str = Field(pattern=LOCALE, max_length=35)
    script: str = Field(min_length=1, max_length=4000)
    due_by: AwareDatetime
    callback_url: str | None = Field(default=None, max_length=2000)
    assignee: str | None = Field(default=None, min_length=1, max_length=200)


class _CompletionIn(BaseModel):
    outcome: Outcome
    promise_amount: str | None = None
    promise_date: date | None = None
    note: str | None = Field(default=None, max_length=2000)
    agent: str = Field(min_length=1, max_length=200)


@dataclass(slots=True)
class StoredTask:
    task_id: str
    kind: str
    reference: str
    loan_ref: str
    phone: str
    customer_name: str
    locale: str
    script: str
    due_by: str
    callback_url: str | None
    assignee: str | None
    idempotency_key: str
    fingerprint: str
    created_at: str
    status: str = "open"
    completed_at: str | None = None
    outcome: str | None = None
    promise_amount: str | None = None
    promise_date: str | None = None
    note: str | None = None
    agent: str | None = None
    callback_status: str | None = None
    callback_attempts: int = 0

    @property
    def record_id(self) -> str:
        return self.task_id

    def response(self) -> dict[str, Any]:
        """The answer to the creating request (also what a replay gets)."""
        return {"task_id": self.task_id, "status": "open"}

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        del data["fingerprint"]
        return data

    def callback_payload(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "reference": self.reference, "kind": self.kind,
                "outcome": self.outcome, "promise_amount": self.promise_amount,
                "promise_date": self.promise_date, "note": self.note, "agent": self.agent,
                "completed_at": self.completed_at}


@dataclass(slots=True)
class _State:
    tasks: IdempotentStore[StoredTask]
    faults: FaultPlan = field(default_factory=FaultPlan)

    def reset(self) -> None:
        self.tasks.reset()
        self.faults = FaultPlan()


def _promise_error(completion: _CompletionIn) -> JSONResponse | None:
    amount, when = completion.promise_amount, completion.promise_date
    if completion.outcome != "promise_to_pay":
        if amount is not None or when is not None:
            return error_response(400, "unexpected_promise",
                                  "promise_amount and promise_date only go with promise_to_pay")
        return None
    if amount is None or when is None:
        return error_response(400, "missing_promise",
                              "promise_to_pay needs promise_amount and promise_date")
    if not AMOUNT.fullmatch(amount) or Decimal(amount) <= 0:
        return error_response(400, "invalid_promise_amount",
                              "promise_amount must be a decimal string with 2 decimals, above 0")
    return None


def create_app(store_path: Path | None = None, api_key: str = DEFAULT_API_KEY) -> FastAPI:
    """Build a sandbox app; state lives in the app (and in ``store_path`` if given).

    Outcome callbacks are sent by background tasks of the serving event loop; callbacks left
    ``pending`` in the store are resumed at startup (when lifespan events run).
    """
    state = _State(IdempotentStore(store_path, lambda data: StoredTask(**data),
                                   name="cc sandbox"))
    state.tasks.load()
    auth = BearerAuth(api_key, realm="contact-centre")
    callbacks = CallbackDispatcher(api_key, name="cc sandbox")

    def send_callback(task: StoredTask) -> None:
        assert task.callback_url is not None

        def record(status: CallbackStatus, attempts: int) -> None:
            if not state.tasks.holds(task):
                return  # forgotten by DELETE /_sandbox/tasks meanwhile
            task.callback_status = status
            task.callback_attempts = attempts
            state.tasks.persist(task)

        callbacks.dispatch(task.callback_url, lambda: callback_body(task.callback_payload()),
                           record, log_id=task.task_id,
                           attempts_so_far=task.callback_attempts)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for task in state.tasks.records.values():
            if task.callback_status == "pending" and task.callback_url is not None:
                send_callback(task)
        try:
            yield
        finally:
            await callbacks.aclose()

    app = FastAPI(title="Contact-centre sandbox", version="1.0.0", lifespan=lifespan)

    async def create(request: Request) -> Response:
        new = await state.tasks.new_request(request, _TaskIn)
        if isinstance(new, JSONResponse):
            return new
        task_in = new.body

        if not E164.fullmatch(task_in.phone):
            return error_response(400, "invalid_number",
                                  "'phone' must be an E.164 number like +8613800138000")
        if task_in.callback_url is not None and not is_http_url(task_in.callback_url):
            return error_response(400, "invalid_callback_url",
                                  "'callback_url' must be an absolute http(s) URL")

        task = StoredTask(
            task_id=f"task_{uuid.uuid4().hex}", kind=task_in.kind,
            reference=task_in.reference, loan_ref=task_in.loan_ref, phone=task_in.phone,
            customer_name=task_in.customer_name, locale=task_in.locale,
            script=task_in.script, due_by=task_in.due_by.isoformat(),
            callback_url=task_in.callback_url, assignee=task_in.assignee,
            idempotency_key=new.key, fingerprint=new.fingerprint, created_at=utc_now_iso())
        state.tasks.add(task)
        return JSONResponse(task.response(), status_code=201)

    @app.post("/v1/call-tasks")
    async def create_task(request: Request) -> Response:
        return await serve_create(request, create, auth=auth, faults=state.faults)

    @app.get("/v1/call-tasks", response_model=None)
    async def list_tasks(status: str | None = None, reference: str | None = None,
                         assignee: str | None = None) -> list[dict[str, Any]] | JSONResponse:
        if status not in (None, "open", "completed"):
            return error_response(400, "invalid_request", "status must be 'open' or 'completed'")
        return [t.public() for t in state.tasks.records.values()
                if (status is None or t.status == status)
                and (reference is None or t.reference == reference)
                and (assignee is None or t.assignee == assignee)]

    @app.get("/v1/call-tasks/{task_id}", response_model=None)
    async def get_task(task_id: str) -> dict[str, Any] | JSONResponse:
        task = state.tasks.records.get(task_id)
        if task is None:
            return error_response(404, "not_found", "no such call task")
        return task.public()

    @app.post("/v1/call-tasks/{task_id}/complete", response_model=None)
    async def complete_task(task_id: str, request: Request) -> dict[str, Any] | JSONResponse:
        task = state.tasks.records.get(task_id)
        if task is None:
            return error_response(404, "not_found", "no such call task")
        if task.status == "completed":
            return error_response(409, "already_completed", "the call task is already completed")
        payload = await json_body(request)
        if isinstance(payload, JSONResponse):
            return payload
        completion = validate_body(_CompletionIn, payload)
        if isinstance(completion, JSONResponse):
            return completion
        if (problem := _promise_error(completion)) is not None:
            return problem
        if task.status == "completed":  # completed by another request meanwhile
            return error_response(409, "already_completed", "the call task is already completed")

        task.status = "completed"
        task.completed_at = utc_now_iso()
        task.outcome = completion.outcome
        task.promise_amount = completion.promise_amount
        task.promise_date = (completion.promise_date.isoformat()
                             if completion.promise_date is not None else None)
        task.note = completion.note
        task.agent = completion.agent
        if task.callback_url is not None:
            task.callback_status = "pending"
        state.tasks.persist(task)
        if task.callback_url is not None:
            send_callback(task)
        return task.public()

    @app.post("/_sandbox/faults")
    async def set_faults(plan: FaultPlan) -> FaultPlan:
        state.faults = plan
        return plan

    @app.delete("/_sandbox/tasks")
    async def clear() -> dict[str, int]:
        removed = len(state.tasks.records)
        callbacks.cancel_all()
        state.reset()
        return {"removed": removed}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def run(host: str, port: int, store_path: Path | None, api_key: str | None = None) -> None:
    """Serve the sandbox with uvicorn until interrupted (SIGINT/SIGTERM).

    ``api_key`` defaults to ``$OVERDUE_CONTACT_CENTRE__API_KEY``, else ``sandbox-cc-key``.
    """
    serve_http_sandbox(create_app, host, port, store_path, api_key,
                       api_key_env=API_KEY_ENV, default_api_key=DEFAULT_API_KEY)


def main(argv: Sequence[str] | None = None) -> None:
    http_sandbox_main(argv, run, prog="python -m sandbox.contact_centre",
                      description="Local contact-centre sandbox", default_port=DEFAULT_PORT,
                      store_help="JSON-lines file of call tasks (kept across restarts)",
                      api_key_env=API_KEY_ENV, default_api_key=DEFAULT_API_KEY)


if __name__ == "__main__":
    main()
