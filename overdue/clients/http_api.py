"""What the JSON-over-HTTP clients (:mod:`overdue.clients.sms`,
:mod:`overdue.clients.contact_centre`) share: their base class, one idempotent ``POST`` and
the classification of its answer.

Both clients subclass :class:`IdempotentPostClient` (settings, ``open``, one endpoint).
:func:`post_idempotent` sends a JSON body with an ``Idempotency-Key`` and sorts every
outcome by what the caller should do:

* a 2xx whose body the caller's ``parse`` can read: the parsed value;
* any 4xx except 408 and 429: the service's :class:`HttpRejected` (permanent, do not retry);
* 5xx, 408, 429, other statuses, connection errors, timeouts and unreadable 2xx answers:
  the service's :class:`HttpUnavailable` (transient, retry with the *same* key), with the
  ``Retry-After`` hint in seconds where the server gave one.

Error codes taken from answers are sanitised so they are safe to log; the server's message
is kept out of ``str(exc)``. Nothing of the request body is logged.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx
from pydantic import SecretStr
from structlog.typing import FilteringBoundLogger

T = TypeVar("T")


class ApiSettings(Protocol):
    """What a client needs of its settings."""

    @property
    def url(self) -> str: ...

    @property
    def api_key(self) -> SecretStr: ...

    @property
    def timeout_seconds(self) -> float: ...


S = TypeVar("S", bound=ApiSettings)

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_TRANSIENT_4XX = frozenset({408, 429})


class HttpRejected(Exception):
    """The service refused the request for good (4xx other than 408/429)."""

    # "<what>: HTTP <status> <code>" is the exception's text; subclasses name the service.
    what: ClassVar[str] = "HTTP service rejected the request"

    def __init__(self, status_code: int, error_code: str, detail: str | None = None) -> None:
        super().__init__(f"{self.what}: HTTP {status_code} {error_code}")
        self.status_code = status_code
        self.error_code = error_code
        # Server-provided text; kept out of str(self) because it is not ours to vet.
        self.detail = detail


class HttpUnavailable(Exception):
    """The service could not be reached or answered with a transient error."""

    # "<what>: <reason>" is the exception's text; subclasses name the service.
    what: ClassVar[str] = "HTTP service unavailable"

    def __init__(self, reason: str, *, status_code: int | None = None,
                 error_code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"{self.what}: {reason}")
        self.status_code = status_code
        self.error_code = error_code
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Service:
    """How one service's failures are raised and logged."""

    name: str  # log events "<name> timed out", "<name> unreachable", "<name> unavailable"
    rejected: type[HttpRejected]
    unavailable: type[HttpUnavailable]
    rejected_event: str  # logged with status_code and error_code
    unreadable_event: str  # a 2xx that ``parse`` could not read; logged with status_code


def check_idempotency_key(key: str) -> None:
    """Raise :class:`ValueError` unless ``key`` is non-empty printable ASCII."""
    if not (key.strip() and key.isascii() and key.isprintable()):
        raise ValueError("Idempotency-Key must be non-empty printable ASCII")


def bearer_header(api_key: SecretStr) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key.get_secret_value()}"}


def is_replayed(response: httpx.Response) -> bool:
    """Whether the service answered a repeated key with its original answer."""
    value: str = response.headers.get("Idempotent-Replayed", "")
    return value.strip().lower() == "true"


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The answer's body if it is a JSON object, else ``None``."""
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def post_idempotent(http: httpx.AsyncClient, url: str, payload: dict[str, Any], *,
                          api_key: SecretStr, idempotency_key: str, timeout_seconds: float,
                          service: Service, log: FilteringBoundLogger,
                          parse: Callable[[httpx.Response], T | None]) -> T:
    """``POST`` ``payload`` as JSON; the parsed 2xx answer, else raise (see the module)."""
    try:
        response = await http.post(
            url, json=payload,
            headers={**bearer_header(api_key), "Idempotency-Key": idempotency_key},
            timeout=timeout_seconds)
    except httpx.TimeoutException as exc:
        log.warning(f"{service.name} timed out", error_type=type(exc).__name__)
        raise service.unavailable(f"timeout ({type(exc).__name__})") from exc
    except httpx.RequestError as exc:
        log.warning(f"{service.name} unreachable", error_type=type(exc).__name__)
        raise service.unavailable(f"transport error ({type(exc).__name__})") from exc

    status = response.status_code
    if response.is_success:
        parsed = parse(response)
        if parsed is None:
            log.warning(service.unreadable_event, status_code=status)
            raise service.unavailable(f"unreadable answer to HTTP {status}",
                                      status_code=status)
        return parsed

    error_code, detail = _error_of(response)
    if 400 <= status < 500 and status not in _TRANSIENT_4XX:
        log.warning(service.rejected_event, status_code=status, error_code=error_code)
        raise service.rejected(status, error_code, detail)
    retry_after = _retry_after(response)
    log.warning(f"{service.name} unavailable", status_code=status, error_code=error_code,
                retry_after=retry_after)
    raise service.unavailable(f"HTTP {status} {error_code}", status_code=status,
                              error_code=error_code, retry_after=retry_after)


class IdempotentPostClient(Generic[S]):
    """Base of a client that ``POST``s to ``settings.url`` + :attr:`path` over an injected
    :class:`httpx.AsyncClient`, raising the exceptions of :attr:`service`.

    The URL, API key and timeout come from ``settings`` on every request, so any client
    (e.g. one with an ``httpx.ASGITransport``) can be injected. :meth:`open` builds a
    dedicated one and closes it afterwards.
    """

    path: ClassVar[str]  # e.g. "/v1/messages"
    service: ClassVar[Service]

    def __init__(self, http: httpx.AsyncClient, settings: S) -> None:
        self._http = http
        self._settings = settings
        self._url = f"{settings.url.rstrip('/')}{self.path}"

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: S) -> AsyncIterator[Self]:
        """``async with SomeClient.open(settings) as client: ...``"""
        async with httpx.AsyncClient(base_url=settings.url,
                                     timeout=settings.timeout_seconds,
                                     headers=bearer_header(settings.api_key)) as http:
            yield cls(http, settings)

    async def _post(self, payload: dict[str, Any], *, idempotency_key: str,
                    log: FilteringBoundLogger,
                    parse: Callable[[httpx.Response], T | None]) -> T:
        """:func:`post_idempotent` with this client's settings and :attr:`service`."""
        return await post_idempotent(
            self._http, self._url, payload, api_key=self._settings.api_key,
            idempotency_key=idempotency_key, timeout_seconds=self._settings.timeout_seconds,
            service=self.service, log=log, parse=parse)


def _error_of(response: httpx.Response) -> tuple[str, str | None]:
    """(error code, server message); the code is sanitised so it is safe to log."""
    data = json_object(response) or {}
    code, detail = data.get("error"), data.get("message")
    if not isinstance(code, str) or not _ERROR_CODE.fullmatch(code):
        code = f"http_{response.status_code}"
    return code, detail if isinstance(detail, str) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date; not worth parsing for a hint
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
