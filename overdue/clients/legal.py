"""HTTP client of the bank's legal case-management system (see :mod:`sandbox.legal_system`).

A collections case goes legal in three steps, each a ``POST`` under an ``Idempotency-Key``
(the legal system answers a repeated key with the original answer, so retrying after a
timeout or a lost answer never files twice):

* :meth:`LegalSystemClient.request_review`: the legal team reviews the case; a lawyer
  decides ``proceed`` or ``do_not_proceed`` (callback ``review_decided``);
* :meth:`LegalSystemClient.file_suit`: the claim is filed with a court; the court schedules
  a hearing (``hearing_scheduled``) and gives its judgment (``judgment``);
* :meth:`LegalSystemClient.request_enforcement`: bailiffs freeze accounts, seize property
  or vehicles, garnish wages; every action update reports the amount recovered so far
  (``enforcement_update``).

Errors split by what the caller should do:

* :class:`LegalSystemRejected`: permanent, do not retry (any 4xx except 408 and 429), with
  ``status_code`` and ``error_code`` (e.g. 422 ``amount_mismatch``).
* :class:`LegalSystemUnavailable`: transient, retry with the *same* idempotency key (5xx,
  408, 429, connection errors, timeouts, unreadable success answers).

Callbacks are signed with the API key: check the raw body with
:func:`verify_callback_signature` before trusting it, then parse it with
:meth:`LegalCallback.model_validate_json` (``.root`` is one of :class:`ReviewDecided`,
:class:`HearingScheduled`, :class:`JudgmentGiven`, :class:`EnforcementUpdate`).

Only ids, references, idempotency keys and counts are logged: never facts, claims,
amounts, documents, asset leads or names.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeVar

import httpx
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, RootModel, SecretStr
from structlog.typing import FilteringBoundLogger

from overdue.clients.http_api import (
    HttpRejected,
    HttpUnavailable,
    Service,
    bearer_header,
    check_idempotency_key,
    is_replayed,
    json_object,
    post_idempotent,
)
from overdue.clients.signing import SIGNATURE_HEADER, verify_signature

log = structlog.get_logger(__name__)

T = TypeVar("T")

CALLBACK_SIGNATURE_HEADER = SIGNATURE_HEADER

ReviewDecision = Literal["proceed", "do_not_proceed"]
JudgmentOutcome = Literal["for_bank", "partly", "against"]
EnforcementKind = Literal["freeze_accounts", "seize_property", "seize_vehicle",
                          "garnish_wages"]
ActionStatus = Literal["in_progress", "completed", "failed"]

_CENT = Decimal("0.01")


class LegalSettings(BaseModel):
    url: str = "http://127.0.0.1:8029"
    api_key: SecretStr = SecretStr("sandbox-legal-key")
    timeout_seconds: float = Field(default=10.0, gt=0)


@dataclass(frozen=True, slots=True)
class ClaimAmount:
    """What a suit claims; ``total`` must be exactly the sum of the four parts (the legal
    system answers 422 ``amount_mismatch`` otherwise). Amounts have at most 2 decimals."""

    principal: Decimal
    interest: Decimal
    penalty_interest: Decimal
    costs: Decimal
    total: Decimal

    @classmethod
    def of(cls, *, principal: Decimal, interest: Decimal, penalty_interest: Decimal,
           costs: Decimal) -> ClaimAmount:
        """The claim whose total is the sum of the parts."""
        return cls(principal=principal, interest=interest, penalty_interest=penalty_interest,
                   costs=costs, total=principal + interest + penalty_interest + costs)

    def as_json(self) -> dict[str, str]:
        return {"principal": money(self.principal), "interest": money(self.interest),
                "penalty_interest": money(self.penalty_interest), "costs": money(self.costs),
                "total": money(self.total)}


def money(amount: Decimal) -> str:
    """``amount`` as the legal system's 2-decimal string (``"1234.50"``).

    Raises :class:`ValueError` for a negative, non-finite or sub-cent amount (never
    rounds).
    """
    if not amount.is_finite() or amount < 0:
        raise ValueError("amounts must be finite and not negative")
    cents = amount.quantize(_CENT)
    if cents != amount:
        raise ValueError("amounts must not have more than 2 decimals")
    return f"{abs(cents):f}"  # abs: no "-0.00"


# --- callbacks -----------------------------------------------------------------------------


class _Callback(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str  # de-duplicate on it: a callback may be delivered more than once
    reference: str
    at: AwareDatetime


class ReviewDecided(_Callback):
    type: Literal["review_decided"]
    review_id: str
    decision: ReviewDecision
    reasons: list[str]
    lawyer: str


class HearingScheduled(_Callback):
    type: Literal["hearing_scheduled"]
    filing_id: str
    court: str
    hearing_date: date
    court_room: str


class JudgmentGiven(_Callback):
    type: Literal["judgment"]
    filing_id: str
    outcome: JudgmentOutcome
    awarded: Decimal | None = None  # None when the outcome is "against"
    judgment_date: date


class EnforcementUpdate(_Callback):
    type: Literal["enforcement_update"]
    enforcement_id: str
    action_id: str
    kind: EnforcementKind
    status: ActionStatus
    recovered: Decimal  # cumulative for the action: keep the largest one seen


LegalCallbackPayload = Annotated[
    ReviewDecided | HearingScheduled | JudgmentGiven | EnforcementUpdate,
    Field(discriminator="type")]


class LegalCallback(RootModel[LegalCallbackPayload]):
    """The body of any legal-system callback (after its signature was checked)::

        event = LegalCallback.model_validate_json(body).root
        match event:
            case JudgmentGiven(outcome="against"): ...
    """

    model_config = ConfigDict(frozen=True)


def verify_callback_signature(body: bytes, signature_header: str | None,
                              api_key: str | SecretStr) -> bool:
    """Whether a callback's ``X-Callback-Signature`` matches its raw ``body``.

    The legal system signs with its API key (``settings.api_key``); constant-time
    comparison; a missing or malformed header is ``False``.
    """
    return verify_signature(body, signature_header, api_key)


# --- the client ----------------------------------------------------------------------------


class LegalSystemRejected(HttpRejected):
    """The legal system refused the request for good (4xx other than 408/429)."""

    what = "legal system rejected the request"


class LegalSystemUnavailable(HttpUnavailable):
    """The legal system could not be reached or answered with a transient error."""

    what = "legal system unavailable"


_SERVICE = Service(name="legal system", rejected=LegalSystemRejected,
                   unavailable=LegalSystemUnavailable,
                   rejected_event="legal system rejected the request",
                   unreadable_event="legal system sent an unreadable answer")


class LegalSystemClient:
    """Requests reviews, files suits and requests enforcement over an injected
    :class:`httpx.AsyncClient`.

    The URL, API key and timeout come from ``settings`` on every request, so any client
    (e.g. one with an ``httpx.ASGITransport``) can be injected. :meth:`open` builds a
    dedicated one and closes it afterwards.
    """

    def __init__(self, http: httpx.AsyncClient, settings: LegalSettings) -> None:
        self._http = http
        self._settings = settings
        self._base = settings.url.rstrip("/")

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: LegalSettings) -> AsyncIterator[LegalSystemClient]:
        """``async with LegalSystemClient.open(settings) as legal: ...``"""
        async with httpx.AsyncClient(base_url=settings.url,
                                     timeout=settings.timeout_seconds,
                                     headers=bearer_header(settings.api_key)) as http:
            yield cls(http, settings)

    async def request_review(self, *, reference: str, loan_ref: str, documents: Sequence[str],
                             summary: Mapping[str, Any], idempotency_key: str,
                             callback_url: str | None = None) -> str:
        """Ask the legal team to review the case; the ``review_id`` (``rev_...``).

        ``summary`` is ``{"arrears": Decimal | "1234.50", "days_past_due": int,
        "failed_negotiations": int}``; :class:`~decimal.Decimal` values are sent as
        2-decimal strings.
        """
        check_idempotency_key(idempotency_key)
        payload: dict[str, Any] = {
            "reference": reference, "loan_ref": loan_ref, "documents": list(documents),
            "summary": {k: money(v) if isinstance(v, Decimal) else v
                        for k, v in summary.items()}}
        if callback_url is not None:
            payload["callback_url"] = callback_url
        bound = log.bind(idempotency_key=idempotency_key, reference=reference)
        review_id, replayed = await self._post("/v1/reviews", payload, idempotency_key, bound,
                                               _id_parser("review_id"))
        bound.info("legal review requested", review_id=review_id, replayed=replayed)
        return review_id

    async def file_suit(self, *, reference: str, loan_ref: str, court: str, facts: str,
                        claims: Sequence[str], amount: ClaimAmount, as_of: date,
                        idempotency_key: str, callback_url: str | None = None) -> str:
        """File the claim with ``court``; the ``filing_id`` (``fil_...``)."""
        check_idempotency_key(idempotency_key)
        payload: dict[str, Any] = {
            "reference": reference, "loan_ref": loan_ref, "court": court, "facts": facts,
            "claims": list(claims), "amount_claimed": amount.as_json(),
            "as_of": as_of.isoformat()}
        if callback_url is not None:
            payload["callback_url"] = callback_url
        bound = log.bind(idempotency_key=idempotency_key, reference=reference)
        filing_id, replayed = await self._post("/v1/filings", payload, idempotency_key, bound,
                                               _id_parser("filing_id"))
        bound.info("suit filed", filing_id=filing_id, replayed=replayed)
        return filing_id

    async def request_enforcement(self, *, reference: str, filing_id: str,
                                  actions: Sequence[tuple[str, str | None]],
                                  idempotency_key: str,
                                  callback_url: str | None = None) -> list[tuple[str, str]]:
        """Enforce the judgment of ``filing_id`` with ``actions``, each ``(kind, asset_lead
        or None)``; the ``(action_id, kind)`` of each, in the same order."""
        check_idempotency_key(idempotency_key)
        if not actions:
            raise ValueError("an enforcement needs at least one action")
        payload: dict[str, Any] = {
            "reference": reference, "filing_id": filing_id,
            "actions": [{"kind": kind, "asset_lead": lead} for kind, lead in actions]}
        if callback_url is not None:
            payload["callback_url"] = callback_url
        kinds = [kind for kind, _lead in actions]
        bound = log.bind(idempotency_key=idempotency_key, reference=reference,
                         filing_id=filing_id)
        (enforcement_id, created), replayed = await self._post(
            "/v1/enforcements", payload, idempotency_key, bound,
            lambda response: _enforcement(response, kinds))
        bound.info("enforcement requested", enforcement_id=enforcement_id,
                   actions=len(created), replayed=replayed)
        return created

    async def _post(self, path: str, payload: dict[str, Any], idempotency_key: str,
                    bound: FilteringBoundLogger,
                    parse: Callable[[httpx.Response], T | None]) -> tuple[T, bool]:
        """The parsed answer to ``POST path``, and whether it was an idempotent replay."""

        def parse_answer(response: httpx.Response) -> tuple[T, bool] | None:
            parsed = parse(response)
            return None if parsed is None else (parsed, is_replayed(response))

        return await post_idempotent(
            self._http, self._base + path, payload, api_key=self._settings.api_key,
            idempotency_key=idempotency_key, timeout_seconds=self._settings.timeout_seconds,
            service=_SERVICE, log=bound, parse=parse_answer)


def _id_parser(name: str) -> Callable[[httpx.Response], str | None]:
    """Reads ``{name: "<non-empty string>", ...}``."""

    def parse(response: httpx.Response) -> str | None:
        value = (json_object(response) or {}).get(name)
        return value if isinstance(value, str) and value else None

    return parse


def _enforcement(response: httpx.Response,
                 kinds: list[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """``(enforcement_id, [(action_id, kind), ...])`` if the answer lists one action per
    requested kind, in order; else ``None`` (unreadable)."""
    data = json_object(response) or {}
    enforcement_id, actions = data.get("enforcement_id"), data.get("actions")
    if not (isinstance(enforcement_id, str) and enforcement_id and isinstance(actions, list)
            and len(actions) == len(kinds)):
        return None
    created: list[tuple[str, str]] = []
    for action, kind in zip(actions, kinds, strict=True):
        if not isinstance(action, dict):
            return None
        action_id = action.get("action_id")
        if not (isinstance(action_id, str) and action_id and action.get("kind") == kind):
            return None
        created.append((action_id, kind))
    return enforcement_id, created
