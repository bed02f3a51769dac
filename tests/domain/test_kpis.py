"""domain.kpis on the fixed synthetic portfolio of tests/kpi_dataset.py, every expected
value computed by hand (the arithmetic is in the comments; the day counts and each case's
bucket at each month end are in the dataset's docstring)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from domain.kpis import (
    ALL,
    CaseFact,
    EventFact,
    KpiRecords,
    Ratio,
    Transition,
    attribute,
    compare,
    compute_kpis,
    periods,
    state_on,
)
from tests.kpi_dataset import END, H_LOGGED, H_UNLOGGED, RECORDS, START, at

MONTHLY = compute_kpis(RECORDS, start=START, end=END, tz=UTC, by="month")
BY_STAGE = compute_kpis(RECORDS, start=START, end=END, tz=UTC, by="stage")
BY_CHANNEL = compute_kpis(RECORDS, start=START, end=END, tz=UTC, by="channel")
REPORTS = {"month": MONTHLY, "stage": BY_STAGE, "channel": BY_CHANNEL}
JAN, FEB, MAR = "2026-01", "2026-02", "2026-03"


def r(numerator: int | str, denominator: int | str) -> tuple[Decimal, Decimal]:
    return Decimal(numerator), Decimal(denominator)


@pytest.mark.parametrize(("case_ref", "day", "state"), [
    ("A:evt-a1", "2025-12-20", None),       # opened 12-21
    ("A:evt-a1", "2025-12-31", "M1"),       # 11 days
    ("A:evt-a1", "2026-01-31", "M2"),       # 42
    ("A:evt-a1", "2026-02-28", "M3"),       # 70
    ("A:evt-a1", "2026-03-31", "M3+"),      # 101
    ("B:evt-b1", "2025-12-31", "M1"),       # 21
    ("B:evt-b1", "2026-01-15", "cured"),    # closed that day
    ("D:evt-d1", "2026-01-31", "M3"),       # 67: the payment of 02-10 is not yet made
    ("D:evt-d1", "2026-02-09", "M3"),       # 76
    ("D:evt-d1", "2026-02-10", "M1"),       # paid up to 01-25: 16 days
    ("D:evt-d1", "2026-02-28", "M2"),       # 34
    ("E:evt-e1", "2026-02-28", "lost"),     # written off
    ("F:evt-f1", "2026-03-31", "resolved"),  # recovered
    ("G:evt-g1", "2026-02-15", "M0"),       # open, never in arrears
])
def test_state_on_a_day(case_ref: str, day: str, state: str | None) -> None:
    assert state_on(RECORDS, case_ref, date.fromisoformat(day), UTC) == state


def test_transitions_month_by_month() -> None:
    # Start state at the previous month end -> state at this month end, for each case in a
    # delinquent bucket at the start (C, opened 01-06, and G, never in arrears, are not).
    assert set(MONTHLY.transitions) == {
        Transition(JAN, "M1", "M2", 1),     # A
        Transition(JAN, "M1", "cured", 1),  # B
        Transition(JAN, "M2", "M3", 1),     # D
        Transition(JAN, "M3+", "M3+", 2),   # E, F
        Transition(FEB, "M2", "M3", 1),     # A
        Transition(FEB, "M3", "M2", 1),     # D rolls back after its payment
        Transition(FEB, "M3+", "lost", 1),  # E written off
        Transition(FEB, "M3+", "M3+", 1),   # F
        Transition(MAR, "M3", "M3+", 1),    # A
        Transition(MAR, "M2", "M3", 1),     # D
        Transition(MAR, "M3+", "resolved", 1),  # F recovered
    }


EXPECTED: list[tuple[str, str, str, str, tuple[Decimal, Decimal]]] = [
    # (grouped by, kpi, segment, group, (numerator, denominator))
    # Cure rate = cases cured in the period / delinquent cases open at some time in it.
    # Jan: worked A B C D E F = 6, cured B (01-15), C (01-10) = 2.
    ("month", "cure_rate", "", JAN, r(2, 6)),
    # Feb: A D E F (B, C closed in Jan; G never in arrears) = 4, none cured.
    ("month", "cure_rate", "", FEB, r(0, 4)),
    # Mar: A D F (E closed 02-15) = 3.
    ("month", "cure_rate", "", MAR, r(0, 3)),
    # Over the range: 2 / (6 + 4 + 3) = 2/13.
    ("channel", "cure_rate", "", ALL, r(2, 13)),
    # By stage, a case counts in each stage it was in during the month; a cure in the stage
    # it was in when cured. early: Jan A B C (A until 01-19), cured B C -> 2/3.
    ("stage", "cure_rate", "", "early", r(2, 3)),
    # negotiation: Jan A D F, Feb A D, Mar A D = 7, no cure.
    ("stage", "cure_rate", "", "negotiation", r(0, 7)),
    # legal: Jan E F, Feb E F, Mar A (from 03-25) F = 6.
    ("stage", "cure_rate", "", "legal", r(0, 6)),
    # Roll rate from a bucket = cases there at the previous month end that are in a worse
    # bucket at this month end / cases there at the previous month end.
    # Jan M1: A (-> M2) rolls, B (-> cured) does not: 1/2. Jan M2: D -> M3: 1/1.
    ("month", "roll_rate", "M1", JAN, r(1, 2)),
    ("month", "roll_rate", "M2", JAN, r(1, 1)),
    ("month", "roll_rate", "M3", JAN, r(0, 0)),
    ("month", "roll_rate", "M1", FEB, r(0, 0)),
    ("month", "roll_rate", "M2", FEB, r(1, 1)),  # A
    ("month", "roll_rate", "M3", FEB, r(0, 1)),  # D back to M2
    ("month", "roll_rate", "M2", MAR, r(1, 1)),  # D
    ("month", "roll_rate", "M3", MAR, r(1, 1)),  # A
    # Pooled over the range: M1 1/2; M2 Jan D + Feb A + Mar D = 3/3; M3 Feb D 0 + Mar A 1.
    ("channel", "roll_rate", "M1", ALL, r(1, 2)),
    ("channel", "roll_rate", "M2", ALL, r(3, 3)),
    ("channel", "roll_rate", "M3", ALL, r(1, 2)),
    # By the stage at the previous month end: Jan A and B early (M1); D negotiation (M2 in
    # Jan, M3 in Feb, M2 in Mar); A negotiation (M2 in Feb, M3 in Mar).
    ("stage", "roll_rate", "M1", "early", r(1, 2)),
    ("stage", "roll_rate", "M2", "negotiation", r(3, 3)),
    ("stage", "roll_rate", "M3", "negotiation", r(1, 2)),
    # Cure rate from a bucket = of those cases, current (M0 or closed as cured) at the end.
    ("month", "bucket_cure_rate", "M1", JAN, r(1, 2)),   # B
    ("month", "bucket_cure_rate", "M2", JAN, r(0, 1)),   # D
    ("month", "bucket_cure_rate", "M3+", JAN, r(0, 2)),  # E F
    ("month", "bucket_cure_rate", "M3+", FEB, r(0, 2)),  # E (lost) F
    ("month", "bucket_cure_rate", "M3+", MAR, r(0, 1)),  # F (resolved, not cured)
    # M3+ by stage at the previous month end: F in negotiation on 12-31 (legal from 01-10);
    # E legal on 12-31 and 01-31, F legal on 01-31 and 02-28: 4.
    ("stage", "bucket_cure_rate", "M3+", "negotiation", r(0, 1)),
    ("stage", "bucket_cure_rate", "M3+", "legal", r(0, 4)),
    # Promise-kept rate = kept / (kept + broken), by due date; open ones and A's 04-05 one
    # are left out. Jan: B broken (01-12), D kept (01-03): 1/2. Feb: A kept: 1/1.
    ("month", "promise_kept_rate", "", JAN, r(1, 2)),
    ("month", "promise_kept_rate", "", FEB, r(1, 1)),
    ("month", "promise_kept_rate", "", MAR, r(0, 0)),
    # Stage when made: B (01-05) and D (12-20, negotiation from 12-26) early; A negotiation.
    ("stage", "promise_kept_rate", "", "early", r(1, 2)),
    ("stage", "promise_kept_rate", "", "negotiation", r(1, 1)),
    # Channel: call promises are phone (B broken, D kept), officer promises (A kept).
    ("channel", "promise_kept_rate", "", "phone", r(1, 2)),
    ("channel", "promise_kept_rate", "", "officer", r(1, 1)),
    # Right-party contact = calls answered / calls made with an agent's outcome.
    # Jan: B 01-02 no_answer, B 01-05 promise (answered), A 01-10 wrong_number: 1/3.
    # Feb: A 02-05 refused (answered): 1/1. Mar: A 03-05 has no outcome yet: 0/0.
    # (D's 01-20 call is pending: never made.)
    ("month", "right_party_contact_rate", "", JAN, r(1, 3)),
    ("month", "right_party_contact_rate", "", FEB, r(1, 1)),
    ("month", "right_party_contact_rate", "", MAR, r(0, 0)),
    ("stage", "right_party_contact_rate", "", "early", r(1, 3)),  # B, B, A (before 01-19)
    ("stage", "right_party_contact_rate", "", "negotiation", r(1, 1)),
    ("channel", "right_party_contact_rate", "", "phone", r(2, 4)),
    # Recovery rate = recovered / claimed, legal cases opened in the period with a claim.
    # Jan: F 2500.00 / 10000.00. Mar: A 0.00 / 5000.00. (E opened 2025-12-05: outside.)
    ("month", "recovery_rate", "", JAN, r("2500.00", "10000.00")),
    ("month", "recovery_rate", "", FEB, r(0, 0)),
    ("month", "recovery_rate", "", MAR, r("0.00", "5000.00")),
    # No stage dimension: the whole range, 2500.00 / 15000.00 = 1/6.
    ("stage", "recovery_rate", "", ALL, r("2500.00", "15000.00")),
    # Contacts per cure = contacts made on the cases cured in the period / those cases.
    # B: sms, email, phone, phone = 4; C: sms = 1 (the suppressed one was not made): 5/2.
    ("month", "contacts_per_cure", "", JAN, r(5, 2)),
    ("month", "contacts_per_cure", "", FEB, r(0, 0)),
    ("stage", "contacts_per_cure", "", "early", r(5, 2)),  # both cured in the early stage
    # By channel, each channel's contacts on those cases / all their cures:
    # sms B 1 + C 1 = 2/2, email B 1 = 1/2, phone B 2 = 2/2.
    ("channel", "contacts_per_cure", "", "sms", r(2, 2)),
    ("channel", "contacts_per_cure", "", "email", r(1, 2)),
    ("channel", "contacts_per_cure", "", "phone", r(2, 2)),
]


@pytest.mark.parametrize(("by", "kpi", "segment", "group", "expected"), EXPECTED,
                         ids=[f"{e[0]}-{e[1]}-{e[2]}-{e[3]}" for e in EXPECTED])
def test_kpi_values(by: str, kpi: str, segment: str, group: str,
                    expected: tuple[Decimal, Decimal]) -> None:
    ratio = REPORTS[by].get(kpi, group, segment)
    assert ratio is not None, (kpi, segment, group)
    assert (ratio.numerator, ratio.denominator) == expected
    if expected[1]:
        assert ratio.value == expected[0] / expected[1]
    else:
        assert ratio.value is None


def test_groups_present_exactly() -> None:
    # A KPI without the chosen dimension has one group, "all"; stage has no "unknown".
    assert {row.group for row in BY_CHANNEL.rows if row.kpi == "roll_rate"} == {ALL}
    assert {row.group for row in BY_STAGE.rows if row.kpi == "promise_kept_rate"} == {
        "early", "negotiation"}
    assert {row.group for row in MONTHLY.rows if row.kpi == "cure_rate"} == {JAN, FEB, MAR}


def test_display_rounds_only_for_display() -> None:
    cure = MONTHLY.get("cure_rate", JAN)
    assert cure is not None
    assert cure.value == Decimal(1) / Decimal(3)  # exact to 28 digits
    assert cure.display() == "33.3%"
    assert Ratio(Decimal(5), Decimal(2)).display(percent=False, places=2) == "2.50"
    assert Ratio(Decimal(0), Decimal(0)).display() == "-"
    row = next(r for r in MONTHLY.rows if r.kpi == "contacts_per_cure" and r.group == JAN)
    assert row.display() == "2.50"


def test_series_for_the_chart() -> None:
    # Cures and cure rate per month, and the roll rate of each bucket but the last.
    assert [(p.month, p.cures, p.cure_rate.numerator, p.cure_rate.denominator)
            for p in MONTHLY.series] == [(JAN, 2, 2, 6), (FEB, 0, 0, 4), (MAR, 0, 0, 3)]
    feb = dict(MONTHLY.series[1].roll_rates)
    assert (feb["M2"].numerator, feb["M2"].denominator) == (1, 1)
    assert (feb["M3"].numerator, feb["M3"].denominator) == (0, 1)
    assert list(feb) == ["M1", "M2", "M3"]


def test_periods_are_clipped_calendar_months() -> None:
    assert [(p.month, p.first.isoformat(), p.last.isoformat())
            for p in periods(date(2026, 1, 20), date(2026, 3, 3))] == [
        ("2026-01", "2026-01-20", "2026-01-31"), ("2026-02", "2026-02-01", "2026-02-28"),
        ("2026-03", "2026-03-01", "2026-03-03")]
    with pytest.raises(ValueError, match="before it starts"):
        periods(date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(ValueError, match="by must be"):
        compute_kpis(RECORDS, start=START, end=END, tz=UTC, by="week")  # type: ignore[arg-type]


def test_records_go_to_the_case_they_belong_to() -> None:
    first = CaseFact("L:evt-1", "L", at("2026-01-02"), at("2026-01-20"), "cured")
    second = CaseFact("L:evt-9", "L", at("2026-02-02"))
    cases = [first, second]
    # The event that opened a case belongs to it even though it came before its first write.
    assert attribute(cases, at("2026-02-01"), "evt-9") is second
    assert attribute(cases, at("2026-01-25")) is first   # between the two: the earlier one
    assert attribute(cases, at("2026-03-01")) is second
    assert attribute(cases, at("2026-01-01")) is first   # before any: the earliest
    assert attribute([], at("2026-01-01")) is None


def test_local_dates_in_the_bank_time_zone() -> None:
    # Closed 2026-01-31 18:00 UTC = 02-01 02:00 in Shanghai: a February cure there.
    shanghai = ZoneInfo("Asia/Shanghai")
    case = CaseFact("K:e1", "K", at("2026-01-05"), datetime(2026, 1, 31, 18, tzinfo=UTC),
                    "cured")
    records = KpiRecords(cases=(case,), events=(
        EventFact("e1", "K", "instalment.missed", at("2026-01-05", 1), date(2026, 1, 4)),))
    utc = compute_kpis(records, start=START, end=END, tz=UTC)
    local = compute_kpis(records, start=START, end=END, tz=shanghai)
    assert [p.cures for p in utc.series] == [1, 0, 0]
    assert [p.cures for p in local.series] == [0, 1, 0]


def test_champion_and_challenger_side_by_side() -> None:
    # The challenger: the same portfolio without D's payment of 02-10 and without F's
    # recovery.
    records = KpiRecords(
        cases=RECORDS.cases, events=tuple(e for e in RECORDS.events if e.event_id != "evt-d3"),
        contacts=RECORDS.contacts, promises=RECORDS.promises,
        legal=tuple(x for x in RECORDS.legal if x.loan_id != "F"))
    challenger = compute_kpis(records, start=START, end=END, tz=UTC, by="channel")
    rows = {(c.kpi, c.segment, c.group): c for c in compare(BY_CHANNEL, challenger)}
    m3 = rows[("roll_rate", "M3", ALL)]
    # Champion 1/2 (Feb: D back to M2; Mar: A to M3+). Challenger: Feb D M3 -> M3+ (its
    # oldest unpaid stays 11-25: 5 + 31 + 31 + 28 = 95 days), Mar A M3 -> M3+; D is in M3+
    # at the end of Feb, so not counted from M3 in Mar: 2/2.
    assert m3.champion is not None and m3.challenger is not None
    assert (m3.champion.numerator, m3.champion.denominator) == (1, 2)
    assert (m3.challenger.numerator, m3.challenger.denominator) == (2, 2)
    assert m3.difference == Decimal(1) - Decimal(1) / Decimal(2)
    recovery = rows[("recovery_rate", "", ALL)]
    assert recovery.challenger is not None and recovery.challenger.value == 0
    with pytest.raises(ValueError, match="same dimension"):
        compare(MONTHLY, challenger)


# --- the log of bucket changes: case H of tests/kpi_dataset.py ------------------------------


@pytest.mark.parametrize(("day", "logged", "reconstructed"), [
    ("2025-11-20", None, None),     # not yet opened
    ("2025-12-20", "M1", "M1"),     # 30 days either way
    ("2025-12-27", "M2", "M2"),     # 37 days
    ("2025-12-31", "M1", "M2"),     # log: 12-20 -> 11 days; reconstructed: 11-20 -> 41
    ("2026-01-22", "M2", "M3"),     # log: 12-20 -> 33; reconstructed: 11-20 -> 63
    ("2026-01-25", "M1", "M1"),     # 01-20 -> 5 either way (the last payment is recorded)
    ("2026-01-31", "M1", "M1"),     # 11
])
def test_the_log_makes_past_buckets_exact(day: str, logged: str | None,
                                          reconstructed: str | None) -> None:
    d = date.fromisoformat(day)
    assert state_on(H_LOGGED, "H:evt-h1", d, UTC) == logged
    assert state_on(H_UNLOGGED, "H:evt-h1", d, UTC) == reconstructed


def test_roll_rates_from_the_log() -> None:
    # January: H is in M1 at 12-31 (log) and in M1 at 01-31: no roll, no cure (0 of 1).
    # Without the log it starts in M2 (41 days) and ends in M1: M2 does not roll (0 of 1).
    logged = compute_kpis(H_LOGGED, start=date(2026, 1, 1), end=date(2026, 1, 31), tz=UTC,
                          by="month")
    unlogged = compute_kpis(H_UNLOGGED, start=date(2026, 1, 1), end=date(2026, 1, 31),
                            tz=UTC, by="month")
    assert set(logged.transitions) == {Transition(JAN, "M1", "M1", 1)}
    assert set(unlogged.transitions) == {Transition(JAN, "M2", "M1", 1)}
    roll = logged.get("roll_rate", JAN, "M1")
    assert roll is not None and (roll.numerator, roll.denominator) == r(0, 1)
    assert logged.get("roll_rate", JAN, "M2") in (None, Ratio(Decimal(0), Decimal(0)))
