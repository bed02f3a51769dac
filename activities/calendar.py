"""The business-calendar activity: when, in UTC, is the n-th business day after a date.

Workflows never consult a calendar library themselves; they call ``contact_instant`` and
keep the answer in their history, so a replay never depends on library versions or on the
override file in force when it replays.

The models here are safe to import from workflow code: the calendar implementation
(``overdue.business_days`` and the libraries behind it) is only imported for type checking.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from pydantic import BaseModel, ConfigDict, Field, field_validator
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.business_calendar import CalendarError, nth_business_day_after

if TYPE_CHECKING:
    from overdue.business_days import BusinessCalendar

class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactInstantRequest(_Model):
    after: date
    business_days: int = Field(ge=0)
    """1: the first business day strictly after ``after``; 0: ``after`` itself if it is one."""
    local_time: time
    """Naive wall-clock time in ``timezone``."""
    timezone: str
    """IANA name, e.g. ``Asia/Shanghai``."""

    @field_validator("local_time")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("must be a naive local time; the zone is given by 'timezone'")
        return value


class ContactInstant(_Model):
    at: datetime
    """Aware, UTC."""
    business_date: date
    calendar_source: Literal["override", "official", "estimated"]
    """Where the decision that ``business_date`` is a working day came from."""
    estimated_days: list[date]
    """Days in the searched span whose working-day decision was an estimate (no official
    data, no override). Non-empty means the answer may move once the State Council's
    arrangement is published; operations are warned."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ApplicationError(f"unknown time zone {name!r}", type="InvalidTimezone",
                               non_retryable=True) from exc


class CalendarActivities:
    def __init__(self, calendar: BusinessCalendar) -> None:
        self._calendar = calendar

    @activity.defn(name="contact_instant")
    async def contact_instant(self, request: ContactInstantRequest) -> ContactInstant:
        zone = _zone(request.timezone)
        calendar = self._calendar
        estimated: set[date] = set()

        def is_working_day(day: date) -> bool:
            if calendar.source_for(day) == "estimated":
                estimated.add(day)
            return calendar.is_working_day(day)

        try:
            business_date = nth_business_day_after(
                request.after, request.business_days, is_working_day)
        except CalendarError as exc:
            raise ApplicationError(str(exc), type="CalendarError", non_retryable=True) from exc

        local = datetime.combine(business_date, request.local_time, tzinfo=zone)
        result = ContactInstant(
            at=local.astimezone(UTC),
            business_date=business_date,
            calendar_source=calendar.source_for(business_date),
            estimated_days=sorted(estimated),
        )
        if result.estimated_days:
            # Fetched per call: never a proxy bound to an earlier logging configuration.
            structlog.get_logger().warning(
                "calendar_estimated",
                detail="no official State Council arrangement for these days; add them to "
                       "the calendar override file",
                business_date=business_date.isoformat(),
                estimated_from=result.estimated_days[0].isoformat(),
                estimated_to=result.estimated_days[-1].isoformat(),
                estimated_count=len(result.estimated_days),
                estimated_years=sorted({d.year for d in result.estimated_days}),
            )
        return result
