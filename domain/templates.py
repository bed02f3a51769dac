"""Customer message templates: ``{field}`` placeholders from a closed list."""

from __future__ import annotations

import string
from collections.abc import Mapping

LOCALES = ("zh-Hans", "zh-Hant", "en")

TEMPLATE_FIELDS = frozenset(
    {
        "customer_name",
        "loan_ref",
        "overdue_amount",
        "amount_due",
        "due_date",
        "days_past_due",
        "penalty_rate",
        "bank_name",
        "bank_phone",
        "pay_url",
        "dispute_url",
        "calculator_url",
        "faq_url",
        "planning_url",
        "unsubscribe_url",
        "survey_url",
    }
)


class TemplateError(ValueError):
    pass


def placeholders(template: str) -> set[str]:
    names: set[str] = set()
    try:
        for _, field, spec, conversion in string.Formatter().parse(template):
            if field is None:
                continue
            # Only bare names: "{x.attr}" or "{x[0]}" would let a template reach into
            # Python objects through str.format.
            if not field.isidentifier() or spec or conversion:
                raise TemplateError(
                    f"placeholder {{{field}}} must be a plain name without format spec")
            names.add(field)
    except ValueError as exc:
        raise TemplateError(f"malformed template: {exc}") from exc
    return names


def check_template(template: str) -> None:
    unknown = placeholders(template) - TEMPLATE_FIELDS
    if unknown:
        raise TemplateError(
            f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(TEMPLATE_FIELDS)}")


def render(template: str, fields: Mapping[str, str]) -> str:
    missing = placeholders(template) - set(fields)
    if missing:
        raise TemplateError(f"no value for placeholder(s) {sorted(missing)}")
    return template.format_map(dict(fields))


def pick_locale(requested: str | None, default: str = "zh-Hans") -> str:
    """Map what core banking sends (zh-CN, zh_TW, en-GB...) to a template locale."""
    if not requested:
        return default
    tag = requested.replace("_", "-").lower()
    if tag in ("zh-hant", "zh-tw", "zh-hk", "zh-mo") or tag.startswith("zh-hant"):
        return "zh-Hant"
    if tag.startswith("zh"):
        return "zh-Hans"
    if tag.startswith("en"):
        return "en"
    return default
