"""What the sandboxes share.

The HTTP sandboxes (:mod:`sandbox.sms_gateway`, :mod:`sandbox.contact_centre`) create
records with ``POST`` behind a bearer API key, under an ``Idempotency-Key``, with faults
that tests can inject:

* :func:`error_response`: every error answer, ``{"error": <code>, "message": <text>}``;
* :class:`BearerAuth`: the ``Authorization: Bearer <api_key>`` check (401 ``unauthorized``);
* :class:`IdempotentStore`: the records by id (oldest first) and by key, the reading of a
  create request (400 ``missing_idempotency_key`` / ``invalid_idempotency_key`` /
  ``invalid_json`` / ``invalid_request``), its replay (200, ``Idempotent-Replayed: true``)
  or 409 ``idempotency_key_reused``, and the JSON-lines file they are kept in;
* :class:`FaultPlan` and :func:`serve_create`: the ``POST /_sandbox/faults`` plan and how a
  faulted create is answered;
* :func:`serve_http_sandbox` and :func:`http_sandbox_main`: their ``run`` and command line.

The SMTP sink (:mod:`sandbox.smtp_sink`) shares the countdown of its own fault plan
(:class:`FaultCountdown`), the JSON-lines persistence (:func:`append_jsonl`,
:func:`read_jsonl`, :func:`truncate_jsonl`) and :func:`utc_now_iso`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

MAX_IDEMPOTENCY_KEY_CHARS = 200

log = structlog.get_logger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def utc_now_iso() -> str:
    """Now in ISO 8601 UTC with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- error answers -----------------------------------------------------------------------


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status,
                        headers=headers)


class ErrorFn(Protocol):
    """:func:`error_response`, or a wrapper of it (e.g. one that counts rejections)."""

    def __call__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> JSONResponse: ...


class BearerAuth:
    """Checks ``Authorization: Bearer <api_key>`` in constant time."""

    def __init__(self, api_key: str, *, realm: str) -> None:
        self._expected = f"Bearer {api_key}".encode()
        self._challenge = {"WWW-Authenticate": f'Bearer realm="{realm}"'}

    def refusal(self, request: Request, fail: ErrorFn = error_response) -> JSONResponse | None:
        """The 401 ``unauthorized`` answer, or ``None`` when the key is right."""
        auth = request.headers.get("authorization", "").encode()
        if secrets.compare_digest(auth, self._expected):
            return None
        return fail(401, "unauthorized", "missing or invalid API key", self._challenge)


async def json_body(request: Request,
                    fail: ErrorFn = error_response) -> dict[str, Any] | JSONResponse:
    """The request body as a JSON object, or the 400 answer."""
    try:
        payload = json.loads(await request.body())
    except ValueError:
        return fail(400, "invalid_json", "request body is not valid JSON")
    if not isinstance(payload, dict):
        return fail(400, "invalid_request", "request body must be a JSON object")
    return payload


def validate_body(model: type[M], payload: dict[str, Any],
                  fail: ErrorFn = error_response) -> M | JSONResponse:
    """``payload`` as ``model``, or the 400 ``invalid_request`` naming the bad fields."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
        return fail(400, "invalid_request", f"invalid or missing fields: {fields}")


# --- fault injection ---------------------------------------------------------------------


class FaultCountdown(BaseModel):
    """A fault plan that applies to the next ``fail_next`` requests."""

    fail_next: int = Field(default=0, ge=0)

    def take(self) -> Self | None:
        """The plan for this request (counting it down), or ``None`` when spent."""
        if self.fail_next <= 0:
            return None
        fault = self.model_copy()
        self.fail_next -= 1
        return fault


class FaultPlan(FaultCountdown):
    """``POST /_sandbox/faults`` of the HTTP sandboxes (see :func:`serve_create`)."""

    status: int | None = Field(default=503, ge=400, le=599)
    after_accept: bool = False
    delay_seconds: float = Field(default=0.0, ge=0, le=300)


async def serve_create(request: Request, process: Callable[[Request], Awaitable[Response]],
                       *, auth: BearerAuth, faults: FaultPlan,
                       fail: ErrorFn = error_response) -> Response:
    """Answer an authenticated create request with ``process``, as ``faults`` say.

    Without a fault, ``process`` answers. A fault with ``status`` ``None`` processes, then
    sleeps ``delay_seconds`` and answers normally. Otherwise the answer is ``status``
    (``sandbox_fault``, ``Retry-After: 1`` on 429/503) after ``delay_seconds``; with
    ``after_accept`` the request is processed first ("done, but the answer is lost").
    """
    if (refused := auth.refusal(request, fail)) is not None:
        return refused
    fault = faults.take()
    if fault is None:
        return await process(request)
    if fault.status is None:  # slow: the work is done, the answer is late
        response = await process(request)
        await asyncio.sleep(fault.delay_seconds)
        return response
    if fault.after_accept:  # done, but the answer is lost
        await process(request)
    await asyncio.sleep(fault.delay_seconds)
    headers = {"Retry-After": "1"} if fault.status in (429, 503) else None
    return error_response(fault.status, "sandbox_fault", "fault injected by the sandbox",
                          headers)


# --- JSON-lines persistence --------------------------------------------------------------


def append_jsonl(path: Path | None, data: dict[str, Any]) -> None:
    """Append ``data`` to ``path`` as one JSON line and fsync it (a no-op without a path)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(data, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path | None, parse: Callable[[Any], T], *, name: str) -> Iterator[T]:
    """``parse`` of every line of ``path`` (none without the file); unreadable lines are
    logged (by number, as ``"<name>: skipping unreadable store line"``) and skipped."""
    if path is None or not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                item = parse(json.loads(line))
            except (ValueError, TypeError, KeyError):
                # A crash mid-append leaves a torn last line; the client will retry.
                log.warning(f"{name}: skipping unreadable store line", line=lineno)
                continue
            yield item


def truncate_jsonl(path: Path | None) -> None:
    """Empty the file at ``path`` if there is one."""
    if path is not None and path.exists():
        path.write_text("", encoding="utf-8")


# --- records created under an Idempotency-Key --------------------------------------------


class KeyedRecord(Protocol):
    """A dataclass record created by a request with an ``Idempotency-Key``."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def record_id(self) -> str: ...

    @property
    def idempotency_key(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    def response(self) -> dict[str, Any]:
        """The answer to the creating request (also what a replay gets)."""
        ...


R = TypeVar("R", bound=KeyedRecord)


def fingerprint(payload: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``payload`` without its ``null`` fields."""
    canonical = json.dumps({k: v for k, v in payload.items() if v is not None},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewRequest(Generic[M]):
    """A valid create request whose ``Idempotency-Key`` is not taken yet."""

    key: str
    fingerprint: str
    body: M


class IdempotentStore(Generic[R]):
    """Records by id (oldest first) and by ``Idempotency-Key``, kept in a JSON-lines file.

    Every change of a record is appended to ``path`` as one line (``asdict``, fsynced); on
    :meth:`load` the last line of an id wins. Only created records claim a key.
    """

    def __init__(self, path: Path | None, parse: Callable[[Any], R], *, name: str) -> None:
        self.path = path
        self._parse = parse
        self._name = name  # prefixes log events, e.g. "sms sandbox"
        self.records: dict[str, R] = {}
        self.by_key: dict[str, R] = {}
        self.replayed = 0  # idempotent replays answered by this process

    def load(self) -> None:
        for record in read_jsonl(self.path, self._parse, name=self._name):
            self.records[record.record_id] = record  # keeps its first place
            self.by_key[record.idempotency_key] = record

    def holds(self, record: R) -> bool:
        """Whether ``record`` is still stored (not forgotten by :meth:`reset` meanwhile)."""
        return self.records.get(record.record_id) is record

    def persist(self, record: R) -> None:
        """Append the record's current state to the file (a no-op without one)."""
        append_jsonl(self.path, asdict(record))

    def add(self, record: R) -> None:
        self.persist(record)
        self.records[record.record_id] = record
        self.by_key[record.idempotency_key] = record

    def reset(self) -> None:
        self.records.clear()
        self.by_key.clear()
        self.replayed = 0
        truncate_jsonl(self.path)

    async def new_request(self, request: Request, model: type[M],
                          fail: ErrorFn = error_response) -> NewRequest[M] | JSONResponse:
        """Read a create request; or the answer it already gets.

        That is a 400 (``Idempotency-Key`` missing, empty or over
        :data:`MAX_IDEMPOTENCY_KEY_CHARS` characters; body not JSON, not an object or not a
        ``model``); for a key already used, the original answer (200,
        ``Idempotent-Replayed: true``) when the body has the same :func:`fingerprint`, else
        409 ``idempotency_key_reused``.
        """
        key = request.headers.get("idempotency-key")
        if key is None or not key.strip():
            return fail(400, "missing_idempotency_key", "Idempotency-Key header is required")
        if len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
            return fail(400, "invalid_idempotency_key",
                        f"Idempotency-Key is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters")
        payload = await json_body(request, fail)
        if isinstance(payload, JSONResponse):
            return payload
        body = validate_body(model, payload, fail)
        if isinstance(body, JSONResponse):
            return body

        digest = fingerprint(payload)
        previous = self.by_key.get(key)
        if previous is None:
            return NewRequest(key=key, fingerprint=digest, body=body)
        if previous.fingerprint != digest:
            return fail(409, "idempotency_key_reused",
                        "Idempotency-Key was already used with a different request body")
        self.replayed += 1
        return JSONResponse(previous.response(), status_code=200,
                            headers={"Idempotent-Replayed": "true"})


# --- serving an HTTP sandbox -------------------------------------------------------------


def serve_http_sandbox(create_app: Callable[[Path | None, str], FastAPI], host: str,
                       port: int, store_path: Path | None, api_key: str | None, *,
                       api_key_env: str, default_api_key: str) -> None:
    """Serve ``create_app(store_path, api_key)`` with uvicorn until interrupted
    (SIGINT/SIGTERM); ``api_key`` defaults to ``$<api_key_env>``, else ``default_api_key``.
    """
    if api_key is None:
        api_key = os.environ.get(api_key_env) or default_api_key
    # No access log: paths and query strings (?to=+86...) would put personal data in it.
    uvicorn.run(create_app(store_path, api_key), host=host, port=port, log_level="info",
                access_log=False, timeout_graceful_shutdown=5)


def http_sandbox_main(argv: Sequence[str] | None,
                      run: Callable[[str, int, Path | None, str | None], None], *,
                      prog: str, description: str, default_port: int, store_help: str,
                      api_key_env: str, default_api_key: str) -> None:
    """Parse ``--host --port --store --api-key`` and call ``run`` with them."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--store", type=Path, default=None, help=store_help)
    parser.add_argument("--api-key", default=None,
                        help=f"default: ${api_key_env} or {default_api_key!r}")
    args = parser.parse_args(argv)
    run(args.host, args.port, args.store, args.api_key)
