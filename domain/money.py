"""Exact money. Amounts are ``Decimal`` quantised to the minor unit; floats are refused."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

MINOR_UNIT = Decimal("0.01")
ZERO = Decimal("0.00")


class MoneyError(ValueError):
    """An amount that cannot be held exactly."""


def to_money(value: Decimal | int | str) -> Decimal:
    """Quantise to the minor unit with banker's rounding (Fineract's default).

    Floats are refused outright: a float has already lost the cent.
    """
    if isinstance(value, float):
        raise MoneyError("money must not be a float; pass a Decimal, int or string")
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    try:
        quantised = amount.quantize(MINOR_UNIT, rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        raise MoneyError(f"amount too large to hold to the cent: {value!r}") from exc
    # -0.004 rounds to -0.00; a customer must never read "¥-0.00".
    return quantised if quantised != 0 else abs(quantised)


def has_at_most_two_places(value: Decimal) -> bool:
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and exponent >= -2


CURRENCY_SYMBOLS = {"CNY": "¥", "HKD": "HK$", "USD": "US$", "EUR": "€"}


def format_amount(amount: Decimal, currency: str) -> str:
    """``¥1,234.56`` style, the same in every locale the bank writes in."""
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    return f"{symbol}{to_money(amount):,.2f}"
