"""Business-day arithmetic over a working-day predicate supplied by the caller.

Which days are working days is data (the State Council's yearly arrangement, the
bank's override file); it is looked up in an activity and only the arithmetic lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

MAX_SEARCH_DAYS = 366
"""No real calendar has a year without a working day; a longer search is a data error."""


class CalendarError(ValueError):
    pass


def nth_business_day_after(start: date, n: int, is_working_day: Callable[[date], bool]) -> date:
    """The n-th working day strictly after ``start`` (n=1: the first business day after).

    n=0 means ``start`` itself if it is a working day, else the next working day.
    """
    if n < 0:
        raise CalendarError("n must be >= 0")
    day = start
    if n == 0:
        for _ in range(MAX_SEARCH_DAYS):
            if is_working_day(day):
                return day
            day += timedelta(days=1)
        raise CalendarError(f"no working day within {MAX_SEARCH_DAYS} days of {start}")
    found = 0
    for _ in range(MAX_SEARCH_DAYS * n):
        day += timedelta(days=1)
        if is_working_day(day):
            found += 1
            if found == n:
                return day
    raise CalendarError(f"no {n} working days within reach of {start}")


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))
