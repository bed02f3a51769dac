"""Which days are working days in mainland China, as data: official, overridden or estimated.

Three sources, in order of precedence:

1. ``override``: the bank's override file (``policy/calendar-overrides.toml``), so that
   operations can load the State Council's arrangement for next year as soon as it is
   published.
2. ``official``: the ``chinese-calendar`` library, which carries the published yearly
   arrangements, make-up working days (调休) included.
3. ``estimated``: for a year ``chinese-calendar`` does not cover (it raises
   ``NotImplementedError``), statutory holidays from ``holidays`` (China) plus weekends.
   Make-up working days cannot be known in advance, so an estimate may be wrong; callers
   get the source of every decision so they can warn operations.

Only activities use this module: a workflow must never consult a calendar library, so that
a replay never depends on which library version the worker has installed.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import chinese_calendar
import holidays

CalendarSource = Literal["override", "official", "estimated"]

_ENTRY_KINDS: dict[str, bool] = {"holiday": False, "workday": True}
"""Override table name -> whether its dates are working days."""
_ENTRY_KEYS = frozenset({"date", "name"})


class CalendarDataError(ValueError):
    """The calendar override file cannot be used; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class CalendarOverride:
    day: date
    working: bool
    name: str


@dataclass(frozen=True, slots=True)
class _Year:
    working_days: frozenset[date]
    estimated: bool


class BusinessCalendar:
    """Working-day decisions for any date, cached per calendar year."""

    def __init__(self, overrides: Iterable[CalendarOverride] = ()) -> None:
        self._overrides: dict[date, CalendarOverride] = {}
        for override in overrides:
            if override.day in self._overrides:
                raise CalendarDataError(f"duplicate override for {override.day.isoformat()}")
            self._overrides[override.day] = override
        self._years: dict[int, _Year] = {}

    @classmethod
    def load(cls, path: Path) -> BusinessCalendar:
        """The calendar with the overrides in ``path``; a missing file means no overrides."""
        return cls(load_overrides(path))

    @property
    def overrides(self) -> tuple[CalendarOverride, ...]:
        return tuple(sorted(self._overrides.values(), key=lambda o: o.day))

    @property
    def estimated_years(self) -> frozenset[int]:
        """Years looked up so far for which there was no official data."""
        return frozenset(year for year, data in self._years.items() if data.estimated)

    def is_working_day(self, d: date) -> bool:
        override = self._overrides.get(d)
        if override is not None:
            return override.working
        return d in self._year(d.year).working_days

    def source_for(self, d: date) -> CalendarSource:
        if d in self._overrides:
            return "override"
        return "estimated" if self._year(d.year).estimated else "official"

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is None:
            cached = self._years[year] = _load_year(year)
        return cached


def _days_of(year: int) -> Iterable[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def _load_year(year: int) -> _Year:
    try:
        official = frozenset(d for d in _days_of(year) if chinese_calendar.is_workday(d))
    except NotImplementedError:
        pass  # no published arrangement for this year in the installed chinese-calendar
    else:
        return _Year(working_days=official, estimated=False)
    statutory = holidays.country_holidays("CN", years=year)
    estimate = frozenset(d for d in _days_of(year) if d.weekday() < 5 and d not in statutory)
    return _Year(working_days=estimate, estimated=True)


def load_overrides(path: Path) -> list[CalendarOverride]:
    """Parse and validate an override file; a missing file means no overrides."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise CalendarDataError(f"{path}: cannot read calendar overrides: {exc}") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CalendarDataError(f"{path}: not UTF-8: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalendarDataError(f"{path}: invalid TOML: {exc}") from exc

    unknown = sorted(set(document) - _ENTRY_KINDS.keys())
    if unknown:
        raise CalendarDataError(
            f"{path}: unknown top-level key(s) {unknown}; expected [[holiday]] / [[workday]]")
    overrides: list[CalendarOverride] = []
    seen: dict[date, str] = {}
    for kind, working in _ENTRY_KINDS.items():
        entries = document.get(kind, [])
        if not isinstance(entries, list):
            raise CalendarDataError(f"{path}: {kind!r} must be an array of tables ([[{kind}]])")
        for index, entry in enumerate(entries):
            label = f"{kind}[{index}]"
            override = _parse_entry(path, label, entry, working)
            if override.day in seen:
                raise CalendarDataError(
                    f"{path}: {label}: date {override.day.isoformat()} already given "
                    f"by {seen[override.day]}")
            seen[override.day] = label
            overrides.append(override)
    return overrides


def _parse_entry(path: Path, label: str, entry: Any, working: bool) -> CalendarOverride:
    if not isinstance(entry, dict):
        raise CalendarDataError(f"{path}: {label}: must be a table with 'date' and 'name'")
    where = f"{path}: {label}"
    if "date" in entry:
        where += f" (date = {entry['date']!r})"
    unknown = sorted(set(entry) - _ENTRY_KEYS)
    if unknown:
        raise CalendarDataError(f"{where}: unknown key(s) {unknown}")
    day = entry.get("date")
    if day is None:
        raise CalendarDataError(f"{where}: 'date' is required")
    if isinstance(day, datetime) or not isinstance(day, date):
        raise CalendarDataError(
            f"{where}: 'date' must be an unquoted TOML date such as 2027-01-01")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CalendarDataError(f"{where}: 'name' is required and must be non-empty text")
    return CalendarOverride(day=day, working=working, name=name.strip())
