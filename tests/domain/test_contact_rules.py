"""domain.contact_rules: quiet hours, call and period caps, state blocks, next allowed time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.contact_rules import (
    DEFAULT_PROFILE,
    REG_F_PROFILE,
    STRICT_PROFILE,
    Channel,
    ContactCandidate,
    ContactDecision,
    ContactRules,
    PastContact,
    Reason,
    check_contact,
    next_allowed,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
NUMBER = "phone-key-1"
OTHER_NUMBER = "phone-key-2"
RULES = ContactRules()


def at(day: int, hour: int, minute: int = 0, tz: ZoneInfo = SH, month: int = 3) -> datetime:
    """A local time in March 2026 (Shanghai by default)."""
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


def call(when: datetime, answered: bool | None = False, number: str = NUMBER) -> PastContact:
    return PastContact("phone", when, number, answered)


def sms(when: datetime) -> PastContact:
    return PastContact("sms", when, NUMBER)


def phone(when: datetime, **kw: Any) -> ContactCandidate:
    return ContactCandidate("phone", when, NUMBER, **kw)


def six_unanswered(day: int) -> list[PastContact]:
    return [call(at(day, 9 + i)) for i in range(6)]


# --- quiet hours ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("candidate", "rules", "allowed", "reason", "expected_next"),
    [
        pytest.param(phone(at(2, 23)), RULES, False, "quiet_hours", at(3, 8),
                     id="23:00-goes-out-08:00-next-day"),
        pytest.param(phone(at(2, 22)), RULES, False, "quiet_hours", at(3, 8),
                     id="22:00-exactly-is-quiet"),
        pytest.param(phone(at(2, 21, 59)), RULES, True, "allowed", at(2, 21, 59),
                     id="21:59-allowed"),
        pytest.param(phone(at(3, 0, 0)), RULES, False, "quiet_hours", at(3, 8),
                     id="midnight-to-08:00-same-day"),
        pytest.param(phone(at(3, 7, 59)), RULES, False, "quiet_hours", at(3, 8),
                     id="07:59-to-08:00-same-day"),
        pytest.param(phone(at(3, 8)), RULES, True, "allowed", at(3, 8), id="08:00-allowed"),
        pytest.param(phone(at(3, 21, 30)), RULES, True, "allowed", at(3, 21, 30),
                     id="21:30-allowed-default"),
        pytest.param(phone(at(3, 21, 30)), STRICT_PROFILE, False, "quiet_hours", at(4, 8),
                     id="21:30-blocked-strict"),
        pytest.param(phone(at(3, 21, 0)), STRICT_PROFILE, False, "quiet_hours", at(4, 8),
                     id="21:00-blocked-strict"),
        pytest.param(phone(at(3, 20, 59)), REG_F_PROFILE, True, "allowed", at(3, 20, 59),
                     id="20:59-allowed-reg-f"),
        pytest.param(phone(at(2, 23), quiet_hours_consent=True), RULES, True, "allowed",
                     at(2, 23), id="consent-waives-quiet-hours"),
        pytest.param(ContactCandidate("email", at(2, 23), "mail-key"),
                     replace(RULES, quiet_hours_channels=frozenset({"phone"})),
                     True, "allowed", at(2, 23), id="quiet-hours-not-for-email-if-configured"),
        pytest.param(ContactCandidate("sms", at(2, 23), NUMBER), RULES, False, "quiet_hours",
                     at(3, 8), id="sms-in-quiet-hours-by-default"),
        pytest.param(phone(at(3, 12, 30)),
                     ContactRules(quiet_start=time(12), quiet_end=time(13)),
                     False, "quiet_hours", at(3, 13), id="window-not-crossing-midnight"),
        pytest.param(phone(at(3, 13)), ContactRules(quiet_start=time(12), quiet_end=time(13)),
                     True, "allowed", at(3, 13), id="window-not-crossing-midnight-end"),
        pytest.param(phone(at(3, 23)), ContactRules(quiet_start=time(12), quiet_end=time(13)),
                     True, "allowed", at(3, 23), id="window-not-crossing-midnight-night-ok"),
        pytest.param(phone(at(3, 3)), ContactRules(quiet_start=time(8), quiet_end=time(8)),
                     True, "allowed", at(3, 3), id="equal-start-end-means-no-quiet-hours"),
        pytest.param(phone(datetime(2026, 3, 2, 23, 30, tzinfo=timezone(timedelta(hours=8)))),
                     RULES, False, "quiet_hours",
                     datetime(2026, 3, 3, 8, tzinfo=timezone(timedelta(hours=8))),
                     id="fixed-offset-zone"),
        pytest.param(phone(at(7, 23, tz=NY)), RULES, False, "quiet_hours", at(8, 8, tz=NY),
                     id="new-york-across-dst-start"),
    ],
)
def test_quiet_hours(candidate: ContactCandidate, rules: ContactRules, allowed: bool,
                     reason: str, expected_next: datetime) -> None:
    decision = check_contact(candidate, [], rules)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert decision.next_allowed_at == expected_next
    assert decision.next_allowed_at is not None
    assert decision.next_allowed_at.utcoffset() == expected_next.utcoffset()
    assert decision.next_allowed_at.time() == expected_next.time()


def test_strict_and_reg_f_profiles() -> None:
    assert (STRICT_PROFILE.quiet_start, STRICT_PROFILE.quiet_end) == (time(21), time(8))
    assert (REG_F_PROFILE.quiet_start, REG_F_PROFILE.quiet_end) == (time(21), time(8))
    assert (REG_F_PROFILE.max_contacts_per_period, REG_F_PROFILE.period_days) == (7, 7)
    assert (DEFAULT_PROFILE.quiet_start, DEFAULT_PROFILE.quiet_end) == (time(22), time(8))
    assert DEFAULT_PROFILE.max_unanswered_calls_per_day == 6


# --- call cap ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("history", "candidate", "allowed", "reason", "expected_next"),
    [
        pytest.param(six_unanswered(2)[:5], phone(at(2, 20)), True, "allowed", at(2, 20),
                     id="6th-unanswered-call-allowed"),
        pytest.param(six_unanswered(2), phone(at(2, 20)), False, "call_cap", at(3, 8),
                     id="7th-unanswered-call-blocked-next-tomorrow-08:00"),
        pytest.param(six_unanswered(2), ContactCandidate("phone", at(2, 20), OTHER_NUMBER),
                     True, "allowed", at(2, 20), id="different-number-allowed"),
        pytest.param([call(at(2, 9 + i), answered=True) for i in range(6)], phone(at(2, 20)),
                     True, "allowed", at(2, 20), id="answered-calls-do-not-count"),
        pytest.param([call(at(2, 9 + i), answered=None) for i in range(6)], phone(at(2, 20)),
                     True, "allowed", at(2, 20), id="unknown-outcome-does-not-count"),
        pytest.param(six_unanswered(1), phone(at(2, 9)), True, "allowed", at(2, 9),
                     id="calls-yesterday-do-not-count"),
        pytest.param(six_unanswered(2), ContactCandidate("sms", at(2, 20), NUMBER),
                     True, "allowed", at(2, 20), id="call-cap-does-not-block-sms"),
        pytest.param([call(at(2, 9 + i).astimezone(UTC)) for i in range(6)], phone(at(2, 20)),
                     False, "call_cap", at(3, 8), id="history-in-utc-converted-to-local"),
        # 2 March 23:00 UTC is 3 March 07:00 in Shanghai: on the local 3rd, not the 2nd.
        pytest.param([call(datetime(2026, 3, 2, 23, tzinfo=UTC) + timedelta(minutes=i))
                      for i in range(6)],
                     phone(at(3, 20)), False, "call_cap", at(4, 8),
                     id="local-calendar-day-not-utc-day"),
        pytest.param([call(datetime(2026, 3, 2, 23, tzinfo=UTC) + timedelta(minutes=i))
                      for i in range(6)],
                     phone(at(2, 20)), True, "allowed", at(2, 20),
                     id="utc-same-day-but-local-next-day"),
        pytest.param(six_unanswered(2), phone(at(2, 23), quiet_hours_consent=True),
                     False, "call_cap", at(3, 8), id="cap-resets-at-08:00-even-with-consent"),
    ],
)
def test_call_cap(history: list[PastContact], candidate: ContactCandidate, allowed: bool,
                  reason: str, expected_next: datetime) -> None:
    decision = check_contact(candidate, history, replace(RULES, max_contacts_per_period=100))
    assert (decision.allowed, decision.reason, decision.next_allowed_at) == (
        allowed, reason, expected_next)


# --- period cap -------------------------------------------------------------------------

WEEK = [sms(at(1 + i, 10)) for i in range(7)]  # one SMS a day, 1-7 March at 10:00


@pytest.mark.parametrize(
    ("history", "candidate", "rules", "allowed", "reason", "expected_next"),
    [
        pytest.param(WEEK[:6], phone(at(7, 12)), RULES, True, "allowed", at(7, 12),
                     id="6-in-7-days-allowed"),
        pytest.param(WEEK, phone(at(7, 12)), RULES, False, "period_cap", at(8, 10),
                     id="7-in-7-days-blocked-until-oldest-leaves"),
        pytest.param(WEEK, phone(at(8, 10)), RULES, True, "allowed", at(8, 10),
                     id="oldest-left-the-window-exactly"),
        pytest.param([sms(at(1, 23)), *WEEK[1:]], phone(at(7, 12)), RULES,
                     False, "period_cap", at(9, 8),
                     id="oldest-leaves-at-23:00-pushed-past-quiet-hours"),
        pytest.param([sms(at(1, 10)), sms(at(1, 11)), *WEEK[1:]], phone(at(7, 12)), RULES,
                     False, "period_cap", at(8, 11),
                     id="8-in-window-two-must-leave"),
        pytest.param([PastContact("email", at(1 + i, 10), "mail-key") for i in range(7)],
                     phone(at(7, 12)), RULES, False, "period_cap", at(8, 10),
                     id="all-channels-count-together"),
        pytest.param(WEEK, phone(at(7, 12)), replace(RULES, max_contacts_per_period=8),
                     True, "allowed", at(7, 12), id="configurable-cap"),
        pytest.param(WEEK, phone(at(7, 12)), replace(RULES, period_days=3), True,
                     "allowed", at(7, 12), id="configurable-period"),
        pytest.param([*WEEK[1:], sms(at(8, 11))], phone(at(8, 12)), RULES,
                     False, "period_cap", at(9, 10), id="window-is-half-open-by-period-days"),
    ],
)
def test_period_cap(history: list[PastContact], candidate: ContactCandidate,
                    rules: ContactRules, allowed: bool, reason: str,
                    expected_next: datetime) -> None:
    decision = check_contact(candidate, history, rules)
    assert (decision.allowed, decision.reason, decision.next_allowed_at) == (
        allowed, reason, expected_next)


def test_period_cap_next_time_also_passes_call_cap() -> None:
    # The period frees up on 9 March at 10:00, but that day already has 6 unanswered calls
    # (recorded in advance), so the next time is 10 March 08:00.
    history = [sms(at(2 + i, 10)) for i in range(7)] + [call(at(9, 1, i)) for i in range(6)]
    rules = replace(RULES, max_contacts_per_period=7, quiet_hours_channels=frozenset())
    decision = check_contact(phone(at(8, 12)), history, rules)
    assert decision.reason == "period_cap"
    assert decision.next_allowed_at is not None
    assert check_contact(phone(decision.next_allowed_at), history, rules).allowed


# --- state blocks and precedence --------------------------------------------------------

@pytest.mark.parametrize(
    ("candidate", "history", "reason"),
    [
        pytest.param(phone(at(3, 10), recipient_role="third_party"), [], "third_party",
                     id="third-party"),
        pytest.param(phone(at(3, 10), opted_out=True), [], "opted_out", id="opted-out"),
        pytest.param(phone(at(3, 10), dispute_open=True), [], "dispute_open", id="dispute"),
        pytest.param(phone(at(3, 23), recipient_role="third_party", opted_out=True,
                           dispute_open=True), six_unanswered(3) + WEEK,
                     "third_party", id="third-party-beats-everything"),
        pytest.param(phone(at(3, 23), opted_out=True, dispute_open=True),
                     six_unanswered(3), "opted_out", id="opt-out-beats-dispute-and-time"),
        pytest.param(phone(at(3, 23), dispute_open=True), six_unanswered(3),
                     "dispute_open", id="dispute-beats-quiet-hours"),
    ],
)
def test_state_blocks_have_no_next_time(candidate: ContactCandidate,
                                        history: list[PastContact], reason: Reason) -> None:
    decision = check_contact(candidate, history, RULES)
    assert decision == ContactDecision(False, reason, None, decision.detail)
    assert next_allowed(candidate, history, RULES) is None


@pytest.mark.parametrize(
    ("candidate", "history", "reason", "expected_next"),
    [
        # All three time rules fail at 23:00; 08:00 next day clears quiet hours and the
        # call cap, the period frees up a week after the 08:00 SMS.
        pytest.param(phone(at(3, 23)), [sms(at(3, 8)), *six_unanswered(3)], "quiet_hours",
                     at(10, 8), id="quiet-hours-beats-caps-next-passes-all"),
        pytest.param(phone(at(7, 20)), [sms(at(1, 10)), *six_unanswered(7)], "call_cap",
                     at(8, 10), id="call-cap-beats-period-cap-next-passes-both"),
        pytest.param(phone(at(3, 12), recipient_role="guarantor"), [], "allowed", at(3, 12),
                     id="guarantor-may-be-contacted"),
    ],
)
def test_time_precedence(candidate: ContactCandidate, history: list[PastContact], reason: str,
                         expected_next: datetime) -> None:
    decision = check_contact(candidate, history, RULES)
    assert (decision.reason, decision.next_allowed_at) == (reason, expected_next)
    assert next_allowed(candidate, history, RULES) == expected_next


def test_detail_carries_no_recipient() -> None:
    secret = "+86 138 0000 0000"
    history = [call(at(3, 9 + i), number=secret) for i in range(6)]
    candidate = ContactCandidate("phone", at(3, 20), secret)
    decision = check_contact(candidate, history, RULES)
    assert decision.reason == "call_cap"
    assert secret not in decision.detail
    assert "next allowed 2026-03-04T08:00:00+08:00" in decision.detail


@pytest.mark.parametrize(
    "candidate",
    [
        pytest.param(ContactCandidate("sms", datetime(2026, 3, 3, 10), NUMBER), id="naive"),
    ],
)
def test_naive_candidate_rejected(candidate: ContactCandidate) -> None:
    with pytest.raises(ValueError, match="aware"):
        check_contact(candidate, [], RULES)


def test_naive_history_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        check_contact(phone(at(3, 10)), [call(datetime(2026, 3, 3, 9))], RULES)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"max_unanswered_calls_per_day": 0}, id="zero-call-cap"),
        pytest.param({"max_contacts_per_period": 0}, id="zero-period-cap"),
        pytest.param({"period_days": 0}, id="zero-period"),
        pytest.param({"quiet_start": time(22, tzinfo=UTC)}, id="aware-quiet-time"),
        pytest.param({"quiet_hours_channels": frozenset({"fax"})}, id="unknown-channel"),
    ],
)
def test_rules_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ContactRules(**kwargs)  # type: ignore[arg-type]


# --- property: the next allowed time is allowed -----------------------------------------

ZONES = st.sampled_from([SH, NY, ZoneInfo("Europe/London"), UTC, timezone(timedelta(hours=8))])
CHANNELS: st.SearchStrategy[Channel] = st.sampled_from(["sms", "email", "phone"])
BASE = datetime(2026, 3, 5, tzinfo=UTC)
MOMENTS = st.integers(min_value=0, max_value=20 * 24 * 60).map(
    lambda minutes: BASE + timedelta(minutes=minutes))
PAST = st.builds(PastContact, channel=CHANNELS, at=MOMENTS,
                 recipient=st.sampled_from([NUMBER, OTHER_NUMBER]),
                 answered=st.sampled_from([True, False, None]))
# Unanswered calls to one number packed into two days, so the call cap is reached too.
DENSE_CALL = st.builds(
    PastContact, channel=st.just("phone"),
    at=st.integers(0, 2 * 24 * 60).map(lambda minutes: BASE + timedelta(minutes=minutes)),
    recipient=st.just(NUMBER), answered=st.just(False))
HISTORIES = st.one_of(
    st.lists(PAST, max_size=25),
    st.tuples(st.lists(DENSE_CALL, max_size=12), st.lists(PAST, max_size=10)).map(
        lambda parts: parts[0] + parts[1]),
)
TIMES = st.builds(time, hour=st.integers(0, 23), minute=st.sampled_from([0, 30]))
RULE_SETS = st.builds(
    ContactRules,
    quiet_start=TIMES, quiet_end=TIMES,
    max_unanswered_calls_per_day=st.integers(1, 4),
    max_contacts_per_period=st.integers(1, 8),
    period_days=st.integers(1, 7),
    quiet_hours_channels=st.frozensets(CHANNELS),
)


@settings(max_examples=400, deadline=None)
@given(
    channel=CHANNELS, moment=st.one_of(MOMENTS, DENSE_CALL.map(lambda c: c.at)),
    zone=ZONES, consent=st.booleans(), recipient=st.sampled_from([NUMBER, OTHER_NUMBER]),
    history=HISTORIES, rules=st.one_of(
        st.just(RULES), st.just(STRICT_PROFILE), st.just(REG_F_PROFILE), RULE_SETS),
)
def test_next_allowed_time_is_allowed(
    channel: Channel, moment: datetime, zone: ZoneInfo, consent: bool, recipient: str,
    history: list[PastContact], rules: ContactRules,
) -> None:
    candidate = ContactCandidate(channel, moment.astimezone(zone), recipient,
                                 quiet_hours_consent=consent)
    decision = check_contact(candidate, history, rules)
    event(decision.reason)
    if decision.allowed:
        assert decision.next_allowed_at == candidate.at
        return
    assert decision.next_allowed_at is not None
    assert decision.next_allowed_at > candidate.at
    later = check_contact(replace(candidate, at=decision.next_allowed_at), history, rules)
    assert later.allowed, (decision, later)
