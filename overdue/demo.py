"""Demo core-banking events for `make run`: loans that missed yesterday's instalment."""

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


def demo_events(count: int, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    due = (now.astimezone(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)).date()
    run = uuid.uuid4().hex[:6]
    events = []
    for index in range(count):
        name, locale, phone, email, birth_year, preferred = DEMO_CUSTOMERS[
            index % len(DEMO_CUSTOMERS)]
        loan_id = f"DEMO{run}{index:03d}"
        amount = f"{1500 + 250 * index}.{(index * 37) % 100:02d}"
        events.append({
            "type": "instalment.missed",
            "event_id": f"evt-{loan_id}-miss-1",
            "occurred_at": now.isoformat(),
            "loan": {
                "loan_id": loan_id, "product": "personal-instalment", "branch": "WH-001",
                "currency": "CNY", "principal_outstanding": "48000.00",
                "annual_rate": "0.0435", "instalment_amount": amount,
                "remaining_instalments": 24,
            },
            "customer": {"customer_id": f"C{run}{index:03d}", "name": name, "phone": phone,
                         "locale": locale, "email": email, "birth_year": birth_year,
                         "preferred_channel": preferred},
            "instalment": {"number": 12, "due_date": due.isoformat(), "amount_due": amount},
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
