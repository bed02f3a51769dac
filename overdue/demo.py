"""Demo core-banking events for `make run`: loans that missed yesterday's instalment, and
performing loans whose next instalment falls due in three days (for the early warning)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

# (name, locale, phone, e-mail, birth year, stated channel preference): a young SMS
# customer, an e-mail preference, an older customer (phone first under the bank's profile
# rule), an undeliverable number (the step falls back to e-mail) and a plain case.
DEMO_CUSTOMERS: list[tuple[str, str, str, str | None, int | None, str | None]] = [
    ("王小明", "zh-CN", "+8613800138001", "xiaoming.wang@example.cn", 1996, None),
    ("陳大文", "zh-HK", "+85291234567", "tai.man@example.hk", None, "email"),
    ("Alice Lee", "en-GB", "+8613800138003", "alice.lee@example.com", 1952, None),
    ("李娜", "zh-CN", "+8613800139999", "li.na@example.cn", 1988, None),
    ("張美玲", "zh-TW", "+8613800138005", None, None, None),
]


def _snapshots(index: int, loan_id: str, customer_id: str, instalment: str,
               principal: str) -> dict[str, Any]:
    """The loan and customer snapshots of demo customer ``index`` (cycling)."""
    name, locale, phone, email, birth_year, preferred = DEMO_CUSTOMERS[
        index % len(DEMO_CUSTOMERS)]
    return {
        "loan": {"loan_id": loan_id, "product": "personal-instalment", "branch": "WH-001",
                 "currency": "CNY", "principal_outstanding": principal,
                 "annual_rate": "0.0435", "instalment_amount": instalment,
                 "remaining_instalments": 24},
        "customer": {"customer_id": customer_id, "name": name, "phone": phone,
                     "locale": locale, "email": email, "birth_year": birth_year,
                     "preferred_channel": preferred},
    }


def demo_events(count: int, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    due = (now.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
    run = uuid.uuid4().hex[:6]
    events = []
    for index in range(count):
        loan_id = f"DEMO{run}{index:03d}"
        amount = f"{1500 + 250 * index}.{(index * 37) % 100:02d}"
        events.append({
            "type": "instalment.missed",
            "event_id": f"evt-{loan_id}-miss-1",
            "occurred_at": now.isoformat(),
            **_snapshots(index, loan_id, f"C{run}{index:03d}", amount, "48000.00"),
            "instalment": {"number": 12, "due_date": due.isoformat(), "amount_due": amount},
        })
    return events


# (late instalments in 12 months, deepest days past due, months since the last
# delinquency, monthly income): a clean record, a shaky one and a risky one; with the
# shipped weights they score about 5 %, 12 % and 60 % against the 20 % threshold.
DEMO_RECORDS: list[tuple[int, int, int | None, str | None]] = [
    (0, 0, None, None),
    (1, 12, 10, "10000.00"),
    (4, 62, 2, "8000.00"),
]


def due_soon_events(count: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """``instalment.due_soon`` for ``count`` performing loans, due in three days."""
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    due = today + timedelta(days=3)
    run = uuid.uuid4().hex[:6]
    events = []
    for index in range(count):
        late, worst, months_ago, income = DEMO_RECORDS[index % len(DEMO_RECORDS)]
        loan_id = f"DEMO{run}W{index:02d}"
        amount = f"{3000 + 125 * index}.00"
        record: dict[str, Any] = {"late_instalments_12m": late, "max_days_past_due": worst,
                                  "monthly_income": income}
        if months_ago is not None:
            record["last_delinquency_date"] = (today - timedelta(days=30 * months_ago)
                                               ).isoformat()
        events.append({
            "type": "instalment.due_soon",
            "event_id": f"evt-{loan_id}-due-{due.isoformat()}",
            "occurred_at": now.isoformat(),
            **_snapshots(index, loan_id, f"C{run}W{index:02d}", amount, "72000.00"),
            "instalment": {"number": 13, "due_date": due.isoformat(), "amount_due": amount},
            "repayment": {k: v for k, v in record.items() if v is not None},
        })
    return events


def payment_for(event: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    loan_id = event["loan"]["loan_id"]
    return {
        "type": "payment.received", "event_id": f"evt-{loan_id}-pay-1",
        "occurred_at": now.isoformat(), "loan_id": loan_id,
        "amount": event["instalment"]["amount_due"],
        "value_date": now.astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat(),
    }
