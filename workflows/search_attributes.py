"""Custom search attributes ops filter cases by in the Temporal UI.

They are stored in plain text on the server: ids, stages and figures only, never a name,
phone number or other personal data. Every server the project starts registers them.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey

LOAN_ID = SearchAttributeKey.for_keyword("LoanId")
CASE_STAGE = SearchAttributeKey.for_keyword("CaseStage")
DAYS_PAST_DUE = SearchAttributeKey.for_int("DaysPastDue")
ARREARS_AMOUNT = SearchAttributeKey.for_float("ArrearsAmount")
BUCKET = SearchAttributeKey.for_keyword("Bucket")
ASSIGNED_OFFICER = SearchAttributeKey.for_keyword("AssignedOfficer")
BRANCH = SearchAttributeKey.for_keyword("Branch")
PRODUCT = SearchAttributeKey.for_keyword("Product")
OVERDUE_SINCE = SearchAttributeKey.for_int("OverdueSince")
"""The oldest unpaid due date as yyyymmdd: exact days-past-due filters with no daily update
(an Int, as the time-skipping test server cannot return Datetime attributes)."""


def day_number(day: date) -> int:
    """``OverdueSince``'s value for ``day``: 2026-09-01 -> 20260901."""
    return day.year * 10_000 + day.month * 100 + day.day

ALL: tuple[SearchAttributeKey[Any], ...] = (
    LOAN_ID, CASE_STAGE, DAYS_PAST_DUE, ARREARS_AMOUNT, BUCKET, ASSIGNED_OFFICER, BRANCH, PRODUCT,
    OVERDUE_SINCE,
)

_CLI_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
}


def dev_server_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={_CLI_NAMES[key.indexed_value_type]}"]
    return flags
