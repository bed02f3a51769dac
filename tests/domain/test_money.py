"""domain.money: exact amounts, banker's rounding, refusals and display format."""

from __future__ import annotations

from decimal import Decimal

import pytest

from domain.money import (
    CURRENCY_SYMBOLS,
    MINOR_UNIT,
    ZERO,
    MoneyError,
    format_amount,
    has_at_most_two_places,
    to_money,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0.005", "0.00", id="half-to-even-down-0.005"),
        pytest.param("0.015", "0.02", id="half-to-even-up-0.015"),
        pytest.param("0.025", "0.02", id="half-to-even-down-0.025"),
        pytest.param("1.125", "1.12", id="half-to-even-down-1.125"),
        pytest.param("1.135", "1.14", id="half-to-even-up-1.135"),
        pytest.param("1.1251", "1.13", id="above-half-rounds-up"),
        pytest.param("1.1249", "1.12", id="below-half-rounds-down"),
        pytest.param("-0.015", "-0.02", id="negative-half-to-even"),
        pytest.param("-1.125", "-1.12", id="negative-half-to-even-down"),
        pytest.param("1234.5", "1234.50", id="pads-to-two-places"),
        pytest.param("1e3", "1000.00", id="exponent-string"),
        pytest.param("0", "0.00", id="zero-string"),
        pytest.param(" 7.1 ", "7.10", id="surrounding-whitespace"),
        pytest.param(0, "0.00", id="int-zero"),
        pytest.param(42, "42.00", id="int"),
        pytest.param(-3, "-3.00", id="negative-int"),
        pytest.param(Decimal("19.999"), "20.00", id="decimal-rounds-up"),
        pytest.param(Decimal("2.675"), "2.68", id="decimal-2.675-half-even-up"),
        pytest.param(Decimal("2.665"), "2.66", id="decimal-2.665-half-even-down"),
        pytest.param(Decimal("12345678901234.56"), "12345678901234.56", id="fifteen-digits"),
    ],
)
def test_to_money_quantises_half_even(value: Decimal | int | str, expected: str) -> None:
    result = to_money(value)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)
    # Quantised to the minor unit exactly, not just numerically equal.
    assert str(result) == expected
    assert result.as_tuple().exponent == MINOR_UNIT.as_tuple().exponent


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0.1, id="float-0.1"),
        pytest.param(1.0, id="float-1.0"),
        pytest.param(0.0, id="float-zero"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param(float("inf"), id="float-inf"),
    ],
)
def test_to_money_refuses_floats(value: float) -> None:
    with pytest.raises(MoneyError, match="float"):
        to_money(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("abc", "not an amount", id="letters"),
        pytest.param("", "not an amount", id="empty"),
        pytest.param("1,000.00", "not an amount", id="thousands-separator"),
        pytest.param("¥10", "not an amount", id="currency-symbol"),
        pytest.param("NaN", "not a finite amount", id="nan"),
        pytest.param("sNaN", "not a finite amount", id="signalling-nan"),
        pytest.param("Infinity", "not a finite amount", id="infinity"),
        pytest.param("-Infinity", "not a finite amount", id="minus-infinity"),
        pytest.param(Decimal("NaN"), "not a finite amount", id="decimal-nan"),
        pytest.param(Decimal("Infinity"), "not a finite amount", id="decimal-infinity"),
    ],
)
def test_to_money_refuses_non_amounts(value: Decimal | str, message: str) -> None:
    with pytest.raises(MoneyError, match=message):
        to_money(value)


def test_money_error_is_a_value_error() -> None:
    assert issubclass(MoneyError, ValueError)
    assert Decimal("0.00") == ZERO
    assert str(ZERO) == "0.00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(Decimal("1"), True, id="integer"),
        pytest.param(Decimal("1.2"), True, id="one-place"),
        pytest.param(Decimal("1.23"), True, id="two-places"),
        pytest.param(Decimal("1.230"), False, id="three-places-trailing-zero"),
        pytest.param(Decimal("1.234"), False, id="three-places"),
        pytest.param(Decimal("1E+3"), True, id="positive-exponent"),
        pytest.param(Decimal("NaN"), False, id="nan"),
        pytest.param(Decimal("Infinity"), False, id="infinity"),
    ],
)
def test_has_at_most_two_places(value: Decimal, expected: bool) -> None:
    assert has_at_most_two_places(value) is expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        pytest.param(Decimal("1234.56"), "CNY", "¥1,234.56", id="cny"),
        pytest.param(Decimal("1234.5"), "CNY", "¥1,234.50", id="cny-pads"),
        pytest.param(Decimal("0"), "CNY", "¥0.00", id="cny-zero"),
        pytest.param(Decimal("999.995"), "CNY", "¥1,000.00", id="cny-rounds-into-thousands"),
        pytest.param(Decimal("0.125"), "CNY", "¥0.12", id="cny-half-even"),
        pytest.param(Decimal("1234567.891"), "HKD", "HK$1,234,567.89", id="hkd-millions"),
        pytest.param(Decimal("12"), "USD", "US$12.00", id="usd"),
        pytest.param(Decimal("1000"), "EUR", "€1,000.00", id="eur"),
        pytest.param(Decimal("1234.56"), "GBP", "GBP 1,234.56", id="unknown-code-prefix"),
        pytest.param(Decimal("5"), "SGD", "SGD 5.00", id="unknown-code-small"),
        # Negative amounts keep the sign after the symbol (Python's format puts it on
        # the number): "¥-1,234.50", not the usual "-¥1,234.50". See the report.
        pytest.param(Decimal("-1234.5"), "CNY", "¥-1,234.50", id="negative-sign-after-symbol"),
    ],
)
def test_format_amount(amount: Decimal, currency: str, expected: str) -> None:
    assert format_amount(amount, currency) == expected


@pytest.mark.parametrize("currency", sorted(CURRENCY_SYMBOLS))
def test_format_amount_known_symbols_have_no_code(currency: str) -> None:
    text = format_amount(Decimal("1"), currency)
    assert text == f"{CURRENCY_SYMBOLS[currency]}1.00"
    assert currency not in text


def test_format_amount_refuses_float() -> None:
    with pytest.raises(MoneyError):
        format_amount(12.5, "CNY")  # type: ignore[arg-type]


# --- Edge cases that once slipped through.


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("1e26", id="exponent-string"),
        pytest.param(10**27, id="huge-int"),
    ],
)
def test_to_money_too_large_raises_money_error(value: int | str) -> None:
    with pytest.raises(MoneyError):
        to_money(value)


def test_format_amount_has_no_negative_zero() -> None:
    assert format_amount(Decimal("-0.001"), "CNY") == "¥0.00"
