"""A fixed synthetic portfolio for the KPI tests (domain and database end to end).

Range: 2026-01-01 .. 2026-03-31, time zone UTC, the default buckets (M0 0, M1 1-30,
M2 31-60, M3 61-90, M3+ 91+). Days past due at a month end = month end - oldest unpaid
due date:

| case | missed due | opened | negotiation | legal | closed | 12-31 | 01-31 | 02-28 | 03-31 |
|---|---|---|---|---|---|---|---|---|---|
| A | 12-20, 01-20, 02-20 | 12-21 | 01-19 | 03-25 | open | 11 M1 | 42 M2 | 70 M3 | 101 M3+ |
| B | 12-10 | 12-11 | - | - | 01-15 cured | 21 M1 | cured | | |
| C | 01-05 | 01-06 | - | - | 01-10 cured | (not open) | cured | | |
| D | 11-25, 01-25 (1) | 11-26 | 12-26 | - | open | 36 M2 | 67 M3 | 34 M2 | 65 M3 |
| E | 09-01 | 09-02 | 10-01 | 12-05 | 02-15 written_off | 121 M3+ | 152 M3+ | lost | |
| F | 10-01 | 10-02 | 10-31 | 01-10 | 03-20 recovered | 91 M3+ | 122 M3+ | 150 M3+ | resolved |
| G | (none: opened by a payment) | 02-01 | - | - | 03-05 no_arrears | | | | |

(1) paid on 02-10 up to the instalment due 01-25.

Arithmetic of the day counts: A 12-20 -> 12-31 = 11, +31 (Jan) = 42, +28 (Feb) = 70,
+31 (Mar) = 101. B 12-10 -> 12-31 = 21. D 11-25 -> 12-31 = 5 + 31 = 36, +31 = 67; D's
payment on 02-10 moves its oldest unpaid due date to 01-25: 01-25 -> 02-28 = 6 + 28 = 34,
+31 = 65. E 09-01 -> 12-31 = 29 + 31 + 30 + 31 = 121, +31 = 152. F 10-01 -> 12-31 =
30 + 30 + 31 = 91, +31 = 122, +28 = 150.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from domain.kpis import (
    BucketChangeFact,
    CaseFact,
    ContactFact,
    EventFact,
    KpiRecords,
    LegalFact,
    PromiseFact,
)

START, END = date(2026, 1, 1), date(2026, 3, 31)


def at(day: str, hour: int = 10) -> datetime:
    y, m, d = (int(x) for x in day.split("-"))
    return datetime(y, m, d, hour, tzinfo=UTC)


def d(day: str) -> date:
    return date.fromisoformat(day)


CASES = (
    CaseFact("A:evt-a1", "A", at("2025-12-21"), None, None, d("2025-12-20"), at("2026-03-30"),
             at("2026-01-19"), at("2026-03-25")),
    CaseFact("B:evt-b1", "B", at("2025-12-11"), at("2026-01-15", 12), "cured", None,
             at("2026-01-15", 12)),
    CaseFact("C:evt-c1", "C", at("2026-01-06"), at("2026-01-10", 12), "cured", None,
             at("2026-01-10", 12)),
    CaseFact("D:evt-d1", "D", at("2025-11-26"), None, None, d("2026-01-25"), at("2026-03-31"),
             at("2025-12-26")),
    CaseFact("E:evt-e1", "E", at("2025-09-02"), at("2026-02-15"), "written_off",
             d("2025-09-01"), at("2026-02-15"), at("2025-10-01"), at("2025-12-05")),
    CaseFact("F:evt-f1", "F", at("2025-10-02"), at("2026-03-20"), "recovered", d("2025-10-01"),
             at("2026-03-20"), at("2025-10-31"), at("2026-01-10")),
    CaseFact("G:evt-g1", "G", at("2026-02-01"), at("2026-03-05"), "no_arrears", None,
             at("2026-03-05")),
)

M, P = "instalment.missed", "payment.received"
EVENTS = (
    EventFact("evt-a1", "A", M, at("2025-12-21", 9), d("2025-12-20")),
    EventFact("evt-a2", "A", M, at("2026-01-21", 9), d("2026-01-20")),
    EventFact("evt-a3", "A", M, at("2026-02-21", 9), d("2026-02-20")),
    EventFact("evt-b1", "B", M, at("2025-12-11", 9), d("2025-12-10")),
    EventFact("evt-b2", "B", P, at("2026-01-15", 11)),
    EventFact("evt-c1", "C", M, at("2026-01-06", 9), d("2026-01-05")),
    EventFact("evt-c2", "C", P, at("2026-01-10", 11)),
    EventFact("evt-d1", "D", M, at("2025-11-26", 9), d("2025-11-25")),
    EventFact("evt-d2", "D", M, at("2026-01-26", 9), d("2026-01-25")),
    EventFact("evt-d3", "D", P, at("2026-02-10", 11)),
    EventFact("evt-e1", "E", M, at("2025-09-02", 9), d("2025-09-01")),
    EventFact("evt-f1", "F", M, at("2025-10-02", 9), d("2025-10-01")),
    EventFact("evt-g1", "G", P, at("2026-02-01", 9)),
)

CONTACTS = (
    ContactFact("B", "sms", at("2025-12-12"), "sent"),
    ContactFact("B", "email", at("2025-12-15"), "delivered"),
    ContactFact("B", "phone", at("2026-01-02"), "sent", False, "no_answer"),
    ContactFact("B", "phone", at("2026-01-05"), "sent", True, "promise_to_pay"),
    ContactFact("C", "sms", at("2026-01-07"), "delivered"),
    ContactFact("C", "sms", at("2026-01-08"), "suppressed"),
    ContactFact("A", "phone", at("2026-01-10"), "sent", None, "wrong_number"),
    ContactFact("A", "sms", at("2026-02-01"), "failed"),
    ContactFact("A", "phone", at("2026-02-05"), "sent", True, "refused"),
    ContactFact("A", "phone", at("2026-03-05"), "sent"),
    ContactFact("D", "phone", at("2026-01-20"), "pending"),
)

PROMISES = (
    PromiseFact("B", "call", at("2026-01-05"), d("2026-01-12"), "broken"),
    PromiseFact("D", "call", at("2025-12-20"), d("2026-01-03"), "kept"),
    PromiseFact("A", "officer", at("2026-02-10"), d("2026-02-20"), "kept"),
    PromiseFact("A", "officer", at("2026-03-01"), d("2026-04-05"), "kept"),
    PromiseFact("F", "officer", at("2026-02-01"), d("2026-02-15"), "open"),
)

LEGAL = (
    LegalFact("legal-F-1", "F", at("2026-01-10"), Decimal("10000.00"), Decimal("2500.00")),
    LegalFact("legal-A-1", "A", at("2026-03-25"), Decimal("5000.00"), Decimal("0.00")),
    LegalFact("legal-E-1", "E", at("2025-12-05"), Decimal("8000.00"), Decimal("8000.00")),
)

RECORDS = KpiRecords(cases=CASES, events=EVENTS, contacts=CONTACTS, promises=PROMISES,
                     legal=LEGAL)


# A case apart from the portfolio, for the log of bucket changes (``bucket_changes``).
# Case H missed 11-20, 12-20 and 01-20; a payment on 12-28 paid the 11-20 instalment and one
# on 01-25 the 12-20 one. collection_cases keeps only the last oldest unpaid due date
# (01-20), so without the log both moves are put at the last payment (01-25).
# Its log (what the case workflow writes, PATCH_LOG_BUCKET_CHANGES):
#   1  11-21  M1   oldest 11-20  (1 day past due: the case learns of the miss)
#   2  12-21  M2   oldest 11-20  (31 days: 11-20 -> 12-21)
#   3  12-28  M1   oldest 12-20  (8 days: the first payment)
#   4  01-20  M2   oldest 12-20  (31 days: 12-20 -> 01-20)
#   5  01-25  M1   oldest 01-20  (5 days: the second payment)
H_CASE = CaseFact("H:evt-h1", "H", at("2025-11-21"), None, None, date(2026, 1, 20),
                  at("2026-01-25", 12))
H_EVENTS = (
    EventFact("evt-h1", "H", "instalment.missed", at("2025-11-21", 9), date(2025, 11, 20)),
    EventFact("evt-h2", "H", "instalment.missed", at("2025-12-21", 9), date(2025, 12, 20)),
    EventFact("evt-h4", "H", "payment.received", at("2025-12-28", 11)),
    EventFact("evt-h3", "H", "instalment.missed", at("2026-01-21", 9), date(2026, 1, 20)),
    EventFact("evt-h5", "H", "payment.received", at("2026-01-25", 11)),
)
H_LOG = tuple(
    BucketChangeFact("H:evt-h1", n, date.fromisoformat(on), bucket, date.fromisoformat(oldest))
    for n, on, bucket, oldest in [
        (1, "2025-11-21", "M1", "2025-11-20"), (2, "2025-12-21", "M2", "2025-11-20"),
        (3, "2025-12-28", "M1", "2025-12-20"), (4, "2026-01-20", "M2", "2025-12-20"),
        (5, "2026-01-25", "M1", "2026-01-20")])
H_LOGGED = KpiRecords(cases=(H_CASE,), events=H_EVENTS, bucket_changes=H_LOG)
H_UNLOGGED = KpiRecords(cases=(H_CASE,), events=H_EVENTS)
