"""domain.events: the core-banking event schema and the PII-free CaseEvent it forwards."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain.case import CaseEvent
from domain.events import (
    InstalmentMissed,
    LoanClosed,
    PaymentReceived,
    event_adapter,
    loan_id_of,
)

CUSTOMER_NAME = "张三丰"
CUSTOMER_PHONE = "+8613800138000"
CUSTOMER_EMAIL = "zhang.sanfeng@example.com"
CUSTOMER_ID = "CUST-778899"

MISSED: dict[str, Any] = {
    "type": "instalment.missed",
    "event_id": "evt-missed-0001",
    "occurred_at": "2026-11-02T09:00:00+08:00",
    "loan": {
        "loan_id": "LN-2026-0001",
        "product": "personal-loan",
        "branch": "SH-PUDONG",
        "currency": "CNY",
        "principal_outstanding": "120000.00",
        "annual_rate": "0.0435",
        "instalment_amount": "3500.00",
        "remaining_instalments": 36,
    },
    "customer": {
        "customer_id": CUSTOMER_ID,
        "name": CUSTOMER_NAME,
        "phone": CUSTOMER_PHONE,
        "email": CUSTOMER_EMAIL,
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
        "birth_year": 1985,
        "preferred_channel": "sms",
    },
    "instalment": {"number": 7, "due_date": "2026-11-01", "amount_due": "3500.00"},
}

PAYMENT: dict[str, Any] = {
    "type": "payment.received",
    "event_id": "evt-pay-0001",
    "occurred_at": "2026-11-05T02:30:00Z",
    "loan_id": "LN-2026-0001",
    "amount": "1750.50",
    "value_date": "2026-11-05",
    "channel": "mobile-app",
}

CLOSED: dict[str, Any] = {
    "type": "loan.closed",
    "event_id": "evt-close-0001",
    "occurred_at": "2026-12-01T00:00:00+00:00",
    "loan_id": "LN-2026-0001",
    "reason": "repaid",
}

SHANGHAI = timezone(timedelta(hours=8))


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_instalment_missed_parses() -> None:
    event = event_adapter.validate_json(_json(MISSED))
    assert isinstance(event, InstalmentMissed)
    assert event.event_id == "evt-missed-0001"
    assert event.occurred_at == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=8)
    assert event.loan.loan_id == "LN-2026-0001"
    assert event.loan.principal_outstanding == Decimal("120000.00")
    assert event.loan.annual_rate == Decimal("0.0435")
    assert event.customer.name == CUSTOMER_NAME
    assert event.customer.phone == CUSTOMER_PHONE
    assert event.customer.sms_consent is True
    assert event.instalment.number == 7
    assert event.instalment.due_date == date(2026, 11, 1)
    assert event.instalment.amount_due == Decimal("3500.00")
    assert event.loan_id == "LN-2026-0001"
    assert loan_id_of(event) == "LN-2026-0001"


def test_payment_received_parses() -> None:
    event = event_adapter.validate_json(_json(PAYMENT))
    assert isinstance(event, PaymentReceived)
    assert event.loan_id == "LN-2026-0001"
    assert event.amount == Decimal("1750.50")
    assert event.value_date == date(2026, 11, 5)
    assert event.occurred_at == datetime(2026, 11, 5, 2, 30, tzinfo=UTC)
    assert event.channel == "mobile-app"
    assert loan_id_of(event) == "LN-2026-0001"


def test_loan_closed_parses() -> None:
    event = event_adapter.validate_json(_json(CLOSED))
    assert isinstance(event, LoanClosed)
    assert event.reason == "repaid"
    assert event.loan_id == "LN-2026-0001"
    assert loan_id_of(event) == "LN-2026-0001"


def test_customer_defaults() -> None:
    payload = copy.deepcopy(MISSED)
    payload["customer"] = {"customer_id": "C1", "name": "Li", "phone": "+85291234567"}
    event = event_adapter.validate_json(_json(payload))
    assert isinstance(event, InstalmentMissed)
    assert event.customer.locale == "zh-CN"
    assert event.customer.email is None
    assert (event.customer.sms_consent, event.customer.email_consent,
            event.customer.phone_consent) == (True, True, True)


def test_events_are_frozen() -> None:
    event = event_adapter.validate_json(_json(PAYMENT))
    assert isinstance(event, PaymentReceived)
    with pytest.raises(ValidationError, match="frozen"):
        event.amount = Decimal("1")  # type: ignore[misc]


Mutation = Callable[[dict[str, Any]], None]


def _set(*path: str, value: Any) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _drop(*path: str) -> Mutation:
    def mutate(payload: dict[str, Any]) -> None:
        target = payload
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


M = "instalment.missed"
P = "payment.received"
C = "loan.closed"


@pytest.mark.parametrize(
    ("base", "mutate", "loc", "error_type"),
    [
        pytest.param(MISSED, _set("loan", "loan_id", value="LN 0001"),
                     (M, "loan", "loan_id"), "string_pattern_mismatch", id="loan-id-space"),
        pytest.param(MISSED, _set("loan", "loan_id", value="LN/0001"),
                     (M, "loan", "loan_id"), "string_pattern_mismatch", id="loan-id-slash"),
        pytest.param(MISSED, _set("loan", "loan_id", value="贷款1"),
                     (M, "loan", "loan_id"), "string_pattern_mismatch", id="loan-id-non-ascii"),
        pytest.param(MISSED, _set("loan", "loan_id", value=""),
                     (M, "loan", "loan_id"), "string_too_short", id="loan-id-empty"),
        pytest.param(MISSED, _set("loan", "loan_id", value="L" * 65),
                     (M, "loan", "loan_id"), "string_too_long", id="loan-id-too-long"),
        pytest.param(MISSED, _set("instalment", "amount_due", value="3500.005"),
                     (M, "instalment", "amount_due"), "decimal_max_places",
                     id="amount-three-decimals"),
        pytest.param(MISSED, _set("instalment", "amount_due", value="-3500.00"),
                     (M, "instalment", "amount_due"), "greater_than", id="amount-negative"),
        pytest.param(MISSED, _set("instalment", "amount_due", value="0.00"),
                     (M, "instalment", "amount_due"), "greater_than", id="amount-zero"),
        pytest.param(MISSED, _set("instalment", "amount_due", value="NaN"),
                     (M, "instalment", "amount_due"), "finite_number", id="amount-nan"),
        pytest.param(MISSED, _set("instalment", "amount_due", value="abc"),
                     (M, "instalment", "amount_due"), "decimal_parsing", id="amount-text"),
        pytest.param(MISSED, _set("instalment", "number", value=0),
                     (M, "instalment", "number"), "greater_than_equal",
                     id="instalment-number-zero"),
        pytest.param(MISSED, _set("occurred_at", value="2026-11-02T09:00:00"),
                     (M, "occurred_at"), "timezone_aware", id="occurred-at-naive"),
        pytest.param(MISSED, _set("customer", "phone", value="13800138000"),
                     (M, "customer", "phone"), "string_pattern_mismatch", id="phone-no-plus"),
        pytest.param(MISSED, _set("customer", "phone", value="+86 138 0013 8000"),
                     (M, "customer", "phone"), "string_pattern_mismatch", id="phone-spaces"),
        pytest.param(MISSED, _set("customer", "phone", value="+0861380013800"),
                     (M, "customer", "phone"), "string_pattern_mismatch",
                     id="phone-leading-zero-country"),
        pytest.param(MISSED, _set("customer", "phone", value="+1234567890123456"),
                     (M, "customer", "phone"), "string_pattern_mismatch", id="phone-too-long"),
        pytest.param(MISSED, _set("customer", "email", value="not-an-email"),
                     (M, "customer", "email"), "string_pattern_mismatch", id="email-bad"),
        pytest.param(MISSED, _set("customer", "locale", value="Chinese"),
                     (M, "customer", "locale"), "string_pattern_mismatch", id="locale-bad"),
        pytest.param(MISSED, _set("loan", "currency", value="rmb"),
                     (M, "loan", "currency"), "string_pattern_mismatch", id="currency-bad"),
        pytest.param(MISSED, _set("loan", "annual_rate", value="1.5"),
                     (M, "loan", "annual_rate"), "less_than_equal", id="rate-above-one"),
        pytest.param(MISSED, _set("type", value="instalment.paid"),
                     (), "union_tag_invalid", id="unknown-type"),
        pytest.param(MISSED, _drop("type"), (), "union_tag_not_found", id="missing-type"),
        pytest.param(MISSED, _set("risk_score", value=7),
                     (M, "risk_score"), "extra_forbidden", id="extra-top-level-field"),
        pytest.param(MISSED, _set("customer", "id_card", value="310101198501011234"),
                     (M, "customer", "id_card"), "extra_forbidden",
                     id="extra-customer-field"),
        pytest.param(MISSED, _drop("instalment"), (M, "instalment"), "missing",
                     id="missing-instalment"),
        pytest.param(MISSED, _drop("customer"), (M, "customer"), "missing",
                     id="missing-customer"),
        pytest.param(PAYMENT, _set("amount", value="100.123"),
                     (P, "amount"), "decimal_max_places", id="payment-amount-three-decimals"),
        pytest.param(PAYMENT, _set("amount", value="-1.00"),
                     (P, "amount"), "greater_than", id="payment-amount-negative"),
        pytest.param(PAYMENT, _set("amount", value="0"),
                     (P, "amount"), "greater_than", id="payment-amount-zero"),
        pytest.param(PAYMENT, _set("amount", value="12345678901234.50"),
                     (P, "amount"), "decimal_whole_digits", id="payment-amount-too-large"),
        pytest.param(PAYMENT, _set("loan_id", value="LN#1"),
                     (P, "loan_id"), "string_pattern_mismatch", id="payment-loan-id-bad"),
        pytest.param(PAYMENT, _set("event_id", value=""),
                     (P, "event_id"), "string_too_short", id="payment-event-id-empty"),
        pytest.param(PAYMENT, _set("event_id", value="evt 1"),
                     (P, "event_id"), "string_pattern_mismatch", id="payment-event-id-space"),
        pytest.param(PAYMENT, _set("occurred_at", value="2026-11-05T02:30:00"),
                     (P, "occurred_at"), "timezone_aware", id="payment-occurred-at-naive"),
        pytest.param(PAYMENT, _set("value_date", value="2026-02-30"),
                     (P, "value_date"), "date_from_datetime_parsing",
                     id="payment-value-date-impossible"),
        pytest.param(PAYMENT, _set("customer_name", value=CUSTOMER_NAME),
                     (P, "customer_name"), "extra_forbidden", id="payment-extra-field"),
        pytest.param(PAYMENT, _drop("amount"), (P, "amount"), "missing",
                     id="payment-missing-amount"),
        pytest.param(CLOSED, _set("reason", value="paid"),
                     (C, "reason"), "literal_error", id="closed-unknown-reason"),
        pytest.param(CLOSED, _set("occurred_at", value="2026-12-01"),
                     (C, "occurred_at"), "timezone_aware", id="closed-occurred-at-date-only"),
    ],
)
def test_invalid_event(
    base: dict[str, Any], mutate: Mutation, loc: tuple[str, ...], error_type: str
) -> None:
    payload = copy.deepcopy(base)
    mutate(payload)
    with pytest.raises(ValidationError) as info:
        event_adapter.validate_json(_json(payload))
    found = [(tuple(e["loc"]), e["type"]) for e in info.value.errors()]
    assert found == [(loc, error_type)]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("[]", id="array"),
        pytest.param("{", id="truncated"),
        pytest.param('"instalment.missed"', id="string"),
    ],
)
def test_not_an_event_object(text: str) -> None:
    with pytest.raises(ValidationError):
        event_adapter.validate_json(text)


# --- CaseEvent: what goes to the workflow carries no personal data ------------------------

PII = (CUSTOMER_NAME, CUSTOMER_PHONE, CUSTOMER_EMAIL, CUSTOMER_ID, "13800138000",
       "zhang.sanfeng", "1985")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(MISSED, CaseEvent(
            event_id="evt-missed-0001", type="instalment.missed",
            occurred_at=datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI), instalment_number=7,
            due_date=date(2026, 11, 1), amount=Decimal("3500.00"), product="personal-loan",
            branch="SH-PUDONG", currency="CNY"), id="instalment.missed"),
        pytest.param(PAYMENT, CaseEvent(
            event_id="evt-pay-0001", type="payment.received",
            occurred_at=datetime(2026, 11, 5, 2, 30, tzinfo=UTC), amount=Decimal("1750.50"),
            value_date=date(2026, 11, 5)), id="payment.received"),
        pytest.param(CLOSED, CaseEvent(
            event_id="evt-close-0001", type="loan.closed",
            occurred_at=datetime(2026, 12, 1, tzinfo=UTC), closure_reason="repaid"),
            id="loan.closed"),
    ],
)
def test_case_event(payload: dict[str, Any], expected: CaseEvent) -> None:
    event = event_adapter.validate_json(_json(payload))
    case_event = event.case_event()
    assert case_event == expected
    dumped = case_event.model_dump_json()
    for secret in PII:
        assert secret not in dumped, f"{secret!r} leaked into {dumped}"
    for key in ("name", "phone", "email", "customer", "customer_id", "birth_year"):
        assert f'"{key}"' not in dumped
    # Round-trips through JSON, as it does through Temporal history.
    assert CaseEvent.model_validate_json(dumped) == case_event


def test_case_event_schema_has_no_personal_fields() -> None:
    fields = set(CaseEvent.model_fields)
    assert fields.isdisjoint({"name", "phone", "email", "customer", "customer_id",
                              "customer_name", "birth_year", "locale", "timezone"})
