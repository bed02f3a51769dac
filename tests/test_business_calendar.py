"""Business days: pure arithmetic, calendar data (official/override/estimated), activity."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from structlog.testing import capture_logs
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.calendar import CalendarActivities, ContactInstant, ContactInstantRequest
from domain.business_calendar import CalendarError, nth_business_day_after
from overdue.business_days import (
    BusinessCalendar,
    CalendarDataError,
    CalendarOverride,
    load_overrides,
)
from overdue.settings import PROJECT_ROOT


def _weekday(d: date) -> bool:
    return d.weekday() < 5


def _first_year_without_official_data() -> int:
    year = 2024
    while True:
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return year
        year += 1


ESTIMATED_YEAR = _first_year_without_official_data()


def _official_nth_after(start: date, n: int) -> date:
    """Independent reference: walk chinese_calendar directly."""
    day, found = start, 0
    while found < n:
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            found += 1
    return day


# --- pure domain arithmetic -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 9, 25), 1, date(2026, 9, 28)),  # Friday + 1 -> Monday
        (date(2026, 9, 26), 0, date(2026, 9, 28)),  # n=0 on Saturday -> Monday
        (date(2026, 9, 28), 0, date(2026, 9, 28)),  # n=0 on a working day -> itself
        (date(2026, 9, 26), 1, date(2026, 9, 28)),  # Saturday + 1 -> Monday
        (date(2026, 9, 24), 3, date(2026, 9, 29)),  # Thursday + 3 -> Tuesday
        (date(2026, 9, 25), 5, date(2026, 10, 2)),  # a whole week
        (date(2026, 9, 28), 10, date(2026, 10, 12)),
    ],
)
def test_nth_business_day_after_weekdays(start: date, n: int, expected: date) -> None:
    assert nth_business_day_after(start, n, _weekday) == expected


@pytest.mark.parametrize("n", [-1, -5])
def test_nth_business_day_after_rejects_negative(n: int) -> None:
    with pytest.raises(CalendarError):
        nth_business_day_after(date(2026, 9, 25), n, _weekday)


@pytest.mark.parametrize("n", [0, 1, 2])
def test_nth_business_day_after_gives_up_without_working_days(n: int) -> None:
    with pytest.raises(CalendarError):
        nth_business_day_after(date(2026, 1, 1), n, lambda _: False)


# --- official calendar (chinese-calendar) -------------------------------------------------


@pytest.fixture(scope="module")
def official() -> BusinessCalendar:
    return BusinessCalendar()


@pytest.mark.parametrize(
    ("start", "n", "expected", "why"),
    [
        (date(2026, 9, 25), 1, date(2026, 9, 28), "ordinary Friday -> Monday"),
        (date(2026, 9, 30), 1, date(2026, 10, 8), "National Day: 1-7 October off"),
        (date(2026, 9, 30), 2, date(2026, 10, 9), "after National Day"),
        (date(2026, 10, 9), 1, date(2026, 10, 10), "Saturday 10 October is a make-up day"),
        (date(2026, 9, 18), 1, date(2026, 9, 20), "Sunday 20 September is a make-up day"),
        (date(2026, 2, 13), 1, date(2026, 2, 14), "Saturday 14 February is a make-up day"),
        (date(2026, 2, 14), 1, date(2026, 2, 24), "Spring Festival: 15-23 February off"),
        (date(2026, 2, 16), 0, date(2026, 2, 24), "n=0 inside Spring Festival"),
        (date(2026, 2, 27), 1, date(2026, 2, 28), "Saturday 28 February is a make-up day"),
    ],
)
def test_official_calendar(official: BusinessCalendar, start: date, n: int, expected: date,
                           why: str) -> None:
    got = nth_business_day_after(start, n, official.is_working_day)
    assert got == expected, why
    if n > 0:
        assert got == _official_nth_after(start, n), why
    assert official.source_for(got) == "official"


def test_make_up_working_days_2026(official: BusinessCalendar) -> None:
    weekend_workdays = [
        d for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(365))
        if d.weekday() >= 5 and chinese_calendar.is_workday(d)
    ]
    assert weekend_workdays == [
        date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28),
        date(2026, 5, 9), date(2026, 9, 20), date(2026, 10, 10),
    ]
    for day in weekend_workdays:
        assert official.is_working_day(day)
        assert official.source_for(day) == "official"


def test_spring_festival_2026_is_off(official: BusinessCalendar) -> None:
    for offset in range(9):
        day = date(2026, 2, 15) + timedelta(days=offset)
        assert not official.is_working_day(day), day


# --- override file --------------------------------------------------------------------------


OVERRIDES = """
[[holiday]]
date = 2026-03-11
name = "Bank closure"

[[workday]]
date = 2026-03-14
name = "Bank make-up day"
"""


@pytest.fixture
def overridden(tmp_path: Path) -> BusinessCalendar:
    path = tmp_path / "overrides.toml"
    path.write_text(OVERRIDES, encoding="utf-8")
    return BusinessCalendar.load(path)


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 3, 10), 1, date(2026, 3, 12)),  # Wednesday 11 March is skipped
        (date(2026, 3, 11), 0, date(2026, 3, 12)),
        (date(2026, 3, 13), 1, date(2026, 3, 14)),  # Saturday 14 March counts
        (date(2026, 3, 13), 2, date(2026, 3, 16)),
    ],
)
def test_override_file(overridden: BusinessCalendar, start: date, n: int,
                       expected: date) -> None:
    assert nth_business_day_after(start, n, overridden.is_working_day) == expected


@pytest.mark.parametrize(
    ("day", "working", "source"),
    [
        (date(2026, 3, 11), False, "override"),
        (date(2026, 3, 14), True, "override"),
        (date(2026, 3, 12), True, "official"),
        (date(2026, 3, 15), False, "official"),
    ],
)
def test_override_sources(overridden: BusinessCalendar, day: date, working: bool,
                          source: str) -> None:
    assert overridden.is_working_day(day) is working
    assert overridden.source_for(day) == source


def test_missing_override_file_means_no_overrides(tmp_path: Path) -> None:
    calendar = BusinessCalendar.load(tmp_path / "absent.toml")
    assert calendar.overrides == ()
    assert calendar.source_for(date(2026, 3, 11)) == "official"


def test_shipped_override_file_is_valid() -> None:
    load_overrides(PROJECT_ROOT / "policy" / "calendar-overrides.toml")


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('[[holiday]]\ndate = 2026-03-11\nname = "ok"\n[[holiday]]\ndate = "2026-03-12"\n'
         'name = "quoted"\n', ["holiday[1]", "unquoted TOML date"]),
        ('[[workday]]\ndate = 2026-03-14\n', ["workday[0]", "2026, 3, 14", "'name'"]),
        ('[[workday]]\nname = "no date"\n', ["workday[0]", "'date' is required"]),
        ('[[holiday]]\ndate = 2026-03-11\nname = "x"\nreason = "y"\n',
         ["holiday[0]", "unknown key", "reason"]),
        ('[[holiday]]\ndate = 2026-03-11T00:00:00\nname = "x"\n',
         ["holiday[0]", "unquoted TOML date"]),
        ('[[holiday]]\ndate = 2026-03-11\nname = "a"\n[[workday]]\ndate = 2026-03-11\n'
         'name = "b"\n', ["workday[0]", "2026-03-11", "already given by holiday[0]"]),
        ('[[holidays]]\ndate = 2026-03-11\nname = "typo"\n', ["unknown top-level", "holidays"]),
        ('holiday = "2026-03-11"\n', ["array of tables"]),
        ('[[holiday]\ndate = 2026-03-11\n', ["invalid TOML"]),
    ],
)
def test_invalid_override_file(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "bad-overrides.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarDataError) as caught:
        BusinessCalendar.load(path)
    message = str(caught.value)
    assert "bad-overrides.toml" in message
    for fragment in fragments:
        assert fragment in message


# --- year without official data ---------------------------------------------------------


def test_estimated_year_has_no_official_data() -> None:
    assert ESTIMATED_YEAR >= 2027


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(ESTIMATED_YEAR, 1, 1), False),  # New Year's Day, a statutory holiday
        (date(ESTIMATED_YEAR, 10, 1), False),  # National Day
    ],
)
def test_estimated_year(day: date, working: bool) -> None:
    calendar = BusinessCalendar()
    assert calendar.is_working_day(day) is working
    assert calendar.source_for(day) == "estimated"
    assert ESTIMATED_YEAR in calendar.estimated_years


def test_estimated_year_weekdays_and_weekends() -> None:
    calendar = BusinessCalendar()
    june = [date(ESTIMATED_YEAR, 6, 1) + timedelta(days=i) for i in range(30)]
    assert all(not calendar.is_working_day(d) for d in june if d.weekday() >= 5)
    assert sum(calendar.is_working_day(d) for d in june) >= 19
    start = date(ESTIMATED_YEAR - 1, 12, 28)
    got = nth_business_day_after(start, 30, calendar.is_working_day)
    assert got.year == ESTIMATED_YEAR
    assert calendar.source_for(got) == "estimated"


def test_override_wins_in_estimated_year(tmp_path: Path) -> None:
    saturday = date(ESTIMATED_YEAR, 6, 1)
    while saturday.weekday() != 5:
        saturday += timedelta(days=1)
    calendar = BusinessCalendar([CalendarOverride(saturday, True, "make-up")])
    assert calendar.is_working_day(saturday)
    assert calendar.source_for(saturday) == "override"


# --- the activity -----------------------------------------------------------------------------


def _request(after: date, n: int, tz: str = "Asia/Shanghai",
             at: time = time(9, 0)) -> ContactInstantRequest:
    return ContactInstantRequest(after=after, business_days=n, local_time=at, timezone=tz)


@pytest.mark.parametrize(
    ("request_", "expected_at", "expected_date"),
    [
        (_request(date(2026, 9, 30), 1), datetime(2026, 10, 8, 1, 0, tzinfo=UTC),
         date(2026, 10, 8)),
        (_request(date(2026, 9, 25), 1), datetime(2026, 9, 28, 1, 0, tzinfo=UTC),
         date(2026, 9, 28)),
        (_request(date(2026, 9, 25), 1, at=time(7, 30)),
         datetime(2026, 9, 27, 23, 30, tzinfo=UTC), date(2026, 9, 28)),
        (_request(date(2026, 9, 25), 1, tz="Europe/London"),
         datetime(2026, 9, 28, 8, 0, tzinfo=UTC), date(2026, 9, 28)),
    ],
)
async def test_contact_instant(official: BusinessCalendar, request_: ContactInstantRequest,
                               expected_at: datetime, expected_date: date) -> None:
    result = await ActivityEnvironment().run(
        CalendarActivities(official).contact_instant, request_)
    assert isinstance(result, ContactInstant)
    assert result.at == expected_at
    assert result.at.utcoffset() == timedelta(0)
    assert result.business_date == expected_date
    assert result.calendar_source == "official"
    assert result.estimated_days == []


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "America"])
async def test_contact_instant_invalid_timezone(official: BusinessCalendar, tz: str) -> None:
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            CalendarActivities(official).contact_instant, _request(date(2026, 9, 25), 1, tz=tz))
    assert caught.value.non_retryable
    assert caught.value.type == "InvalidTimezone"


async def test_contact_instant_calendar_error_is_non_retryable() -> None:
    start = date(2026, 1, 1)
    closed = BusinessCalendar(
        CalendarOverride(start + timedelta(days=i), False, "closed") for i in range(400))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            CalendarActivities(closed).contact_instant, _request(start, 0))
    assert caught.value.non_retryable
    assert caught.value.type == "CalendarError"


async def test_contact_instant_warns_when_estimated() -> None:
    calendar = BusinessCalendar()
    after = date(ESTIMATED_YEAR - 1, 12, 30)
    with capture_logs() as logs:
        result = await ActivityEnvironment().run(
            CalendarActivities(calendar).contact_instant, _request(after, 5))
    assert result.calendar_source == "estimated"
    assert result.estimated_days
    assert all(d.year == ESTIMATED_YEAR for d in result.estimated_days)
    assert result.estimated_days[-1] == result.business_date
    assert result.estimated_days[0] == date(ESTIMATED_YEAR, 1, 1)
    warnings = [e for e in logs if e["event"] == "calendar_estimated"]
    assert len(warnings) == 1
    assert warnings[0]["log_level"] == "warning"
    assert warnings[0]["estimated_years"] == [ESTIMATED_YEAR]
