"""The contact compliance guard: may this contact go out now, and if not, when?

Applied before every SMS, email and call. The rules come from the China Banking
Association collection guideline (no contact 22:00-08:00 without consent, at most six
unanswered call attempts a day to one number, never unrelated third parties) and, as a
stricter configurable profile, US Regulation F (08:00-21:00, seven contacts in seven days).
Disputes pause collection until resolved.

Pure code: the caller passes aware datetimes, the candidate's already in the customer's
local zone. Every wall-clock judgement (quiet hours, "the same day") is made in that zone;
history times are converted to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Literal

Channel = Literal["sms", "email", "phone"]
RecipientRole = Literal["debtor", "guarantor", "third_party"]
Reason = Literal[
    "allowed", "quiet_hours", "call_cap", "period_cap", "dispute_open", "opted_out", "third_party"
]

ALL_CHANNELS: frozenset[Channel] = frozenset({"sms", "email", "phone"})


@dataclass(frozen=True)
class ContactRules:
    quiet_start: time = time(22, 0)
    """No contact from quiet_start (inclusive) ..."""
    quiet_end: time = time(8, 0)
    """... until quiet_end (exclusive), customer's local time. Equal times: no quiet hours."""
    max_unanswered_calls_per_day: int = 6
    """Per phone number, per local calendar day."""
    max_contacts_per_period: int = 7
    """All channels together, in any window of ``period_days``."""
    period_days: int = 7
    quiet_hours_channels: frozenset[Channel] = field(default_factory=lambda: ALL_CHANNELS)
    """Which channels quiet hours apply to."""

    def __post_init__(self) -> None:
        if self.quiet_start.tzinfo is not None or self.quiet_end.tzinfo is not None:
            raise ValueError("quiet_start and quiet_end are local wall-clock times, without tzinfo")
        if self.max_unanswered_calls_per_day < 1:
            raise ValueError("max_unanswered_calls_per_day must be >= 1")
        if self.max_contacts_per_period < 1:
            raise ValueError("max_contacts_per_period must be >= 1")
        if self.period_days < 1:
            raise ValueError("period_days must be >= 1")
        unknown = set(self.quiet_hours_channels) - ALL_CHANNELS
        if unknown:
            raise ValueError(f"unknown channel(s) in quiet_hours_channels: {sorted(unknown)}")


DEFAULT_PROFILE = ContactRules()
"""China Banking Association guideline: quiet 22:00-08:00, 6 unanswered calls a day."""

STRICT_PROFILE = ContactRules(quiet_start=time(21, 0), quiet_end=time(8, 0))
"""The stricter profile: contact only 08:00-21:00 local."""

REG_F_PROFILE = ContactRules(
    quiet_start=time(21, 0), quiet_end=time(8, 0), max_contacts_per_period=7, period_days=7)
"""US Regulation F, for comparison: 08:00-21:00 local, at most 7 contacts in 7 days."""


@dataclass(frozen=True)
class PastContact:
    channel: Channel
    at: datetime
    """Aware; any zone."""
    recipient: str
    """Number/address key; call caps are per number."""
    answered: bool | None = None
    """Calls: True answered, False unanswered, None unknown/pending (not counted)."""


@dataclass(frozen=True)
class ContactCandidate:
    channel: Channel
    at: datetime
    """Aware, in the customer's local time zone (tzinfo set by the caller)."""
    recipient: str
    recipient_role: RecipientRole = "debtor"
    opted_out: bool = False
    """The customer opted out of this channel."""
    dispute_open: bool = False
    quiet_hours_consent: bool = False
    """The person contacted consented to contact in quiet hours."""


@dataclass(frozen=True)
class ContactDecision:
    allowed: bool
    reason: Reason
    next_allowed_at: datetime | None
    """Earliest time all time-based rules pass (``candidate.at`` itself when allowed);
    None when only a state change (dispute resolved, opt-in, right recipient) can allow it."""
    detail: str
    """Human-readable, English, for the contact history; carries no personal data."""


def _fmt(t: time) -> str:
    return t.strftime("%H:%M")


def _has_quiet_window(rules: ContactRules) -> bool:
    return rules.quiet_start != rules.quiet_end


def _in_quiet_window(local: datetime, rules: ContactRules) -> bool:
    if not _has_quiet_window(rules):
        return False
    now = local.time()
    if rules.quiet_start < rules.quiet_end:
        return rules.quiet_start <= now < rules.quiet_end
    return now >= rules.quiet_start or now < rules.quiet_end


def _quiet_window_end(local: datetime, rules: ContactRules) -> datetime:
    """The quiet_end that closes the quiet window ``local`` is in (caller checked it is)."""
    tz = local.tzinfo
    day = local.date()
    if rules.quiet_start > rules.quiet_end and local.time() >= rules.quiet_start:
        day += timedelta(days=1)  # the window crosses midnight; it ends tomorrow
    return datetime.combine(day, rules.quiet_end, tzinfo=tz)


def _quiet_applies(candidate: ContactCandidate, rules: ContactRules) -> bool:
    return candidate.channel in rules.quiet_hours_channels and not candidate.quiet_hours_consent


def _start_of_contact_day(day: date, tz: tzinfo | None, rules: ContactRules) -> datetime:
    """First moment of ``day`` outside the quiet window: quiet_end for a window that crosses
    midnight, midnight otherwise. Used as the call-cap reset even when consent waives quiet
    hours, so an exhausted call cap is never retried in the night."""
    midnight = datetime.combine(day, time(0), tzinfo=tz)
    if _in_quiet_window(midnight, rules):
        return _quiet_window_end(midnight, rules)
    return midnight


def _unanswered_calls(
    at: datetime, recipient: str, history: Sequence[PastContact]
) -> int:
    tz = at.tzinfo
    day = at.date()
    return sum(
        1 for past in history
        if past.channel == "phone" and past.recipient == recipient and past.answered is False
        and past.at.astimezone(tz).date() == day
    )


def _in_period(at: datetime, history: Sequence[PastContact], rules: ContactRules) -> list[datetime]:
    """Times (in at's zone, oldest first) of every contact in (at - period_days, at]."""
    tz = at.tzinfo
    start = at - timedelta(days=rules.period_days)
    local = (past.at.astimezone(tz) for past in history)
    return sorted(t for t in local if start < t <= at)


@dataclass(frozen=True)
class _TimeBlock:
    reason: Literal["quiet_hours", "call_cap", "period_cap"]
    retry_at: datetime
    """When this particular rule stops blocking (other rules may still block then)."""
    detail: str


def _time_block(
    candidate: ContactCandidate, at: datetime, history: Sequence[PastContact], rules: ContactRules
) -> _TimeBlock | None:
    """The first time-based rule (by precedence) that blocks a contact at ``at``."""
    if _quiet_applies(candidate, rules) and _in_quiet_window(at, rules):
        return _TimeBlock(
            "quiet_hours", _quiet_window_end(at, rules),
            f"quiet hours {_fmt(rules.quiet_start)}-{_fmt(rules.quiet_end)} local time "
            f"apply to {candidate.channel} without consent")
    if candidate.channel == "phone":
        calls = _unanswered_calls(at, candidate.recipient, history)
        if calls >= rules.max_unanswered_calls_per_day:
            next_day = at.date() + timedelta(days=1)
            return _TimeBlock(
                "call_cap", _start_of_contact_day(next_day, at.tzinfo, rules),
                f"{calls} unanswered calls to this number on local date {at.date().isoformat()} "
                f"(max {rules.max_unanswered_calls_per_day} a day)")
    recent = _in_period(at, history, rules)
    if len(recent) >= rules.max_contacts_per_period:
        # Enough of the oldest must leave the window to bring the count below the cap.
        leaving = recent[len(recent) - rules.max_contacts_per_period]
        return _TimeBlock(
            "period_cap", leaving + timedelta(days=rules.period_days),
            f"{len(recent)} contacts in the last {rules.period_days} days "
            f"(max {rules.max_contacts_per_period}, all channels)")
    return None


def _earliest_clear(
    candidate: ContactCandidate, start: datetime, history: Sequence[PastContact],
    rules: ContactRules,
) -> datetime:
    """Earliest time >= start at which no time-based rule blocks.

    Every step moves forward: a quiet-hours step lands on a time outside the window, a
    call-cap step passes a day holding capped calls, a period-cap step drops a contact out
    of the window for good. So the number of steps is bounded by the history's size.
    """
    at = start
    for _ in range(3 * len(history) + 10):
        block = _time_block(candidate, at, history, rules)
        if block is None:
            return at
        if block.retry_at <= at:  # defensive: rules must always move time forward
            raise RuntimeError(f"contact rule {block.reason} did not advance from {at}")
        at = block.retry_at
    raise RuntimeError("no time passing the contact rules found within the step bound")


def _require_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime")


def check_contact(
    candidate: ContactCandidate, history: Sequence[PastContact], rules: ContactRules
) -> ContactDecision:
    """Decide whether ``candidate`` may go out at ``candidate.at``.

    The reason is the first failing rule in the order third_party, opted_out,
    dispute_open, quiet_hours, call_cap, period_cap. A time-based block carries the
    earliest later time at which every time-based rule passes against the same history.
    """
    _require_aware(candidate.at, "candidate.at")
    for past in history:
        _require_aware(past.at, "history contact time")

    if candidate.recipient_role == "third_party":
        return ContactDecision(
            False, "third_party", None,
            "unrelated third parties are never contacted about the debt; "
            "contact only the debtor or a guarantor")
    if candidate.opted_out:
        return ContactDecision(
            False, "opted_out", None, f"the customer opted out of {candidate.channel}")
    if candidate.dispute_open:
        return ContactDecision(
            False, "dispute_open", None, "collection is paused while a dispute is open")

    block = _time_block(candidate, candidate.at, history, rules)
    if block is None:
        return ContactDecision(True, "allowed", candidate.at, "all contact rules pass")
    next_at = _earliest_clear(candidate, block.retry_at, history, rules)
    return ContactDecision(
        False, block.reason, next_at, f"{block.detail}; next allowed {next_at.isoformat()}")


def next_allowed(
    candidate: ContactCandidate, history: Sequence[PastContact], rules: ContactRules
) -> datetime | None:
    """When ``candidate`` may go out: its own time if allowed now, a later time if only
    time-based rules block, None if only a state change can allow it."""
    return check_contact(candidate, history, rules).next_allowed_at
