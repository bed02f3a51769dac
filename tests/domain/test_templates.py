"""domain.templates: closed placeholder list, rendering, locale choice, shipped templates."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from domain.templates import (
    LOCALES,
    TEMPLATE_FIELDS,
    TemplateError,
    check_template,
    pick_locale,
    placeholders,
    render,
)

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("", set(), id="empty"),
        pytest.param("no placeholders", set(), id="plain-text"),
        pytest.param("{customer_name}", {"customer_name"}, id="one"),
        pytest.param("{due_date} {due_date}", {"due_date"}, id="repeated-once"),
        pytest.param("{bank_name}: {overdue_amount} by {due_date}",
                     {"bank_name", "overdue_amount", "due_date"}, id="several"),
        pytest.param("{{customer_name}}", set(), id="escaped-braces-are-literal"),
        pytest.param("{{{customer_name}}}", {"customer_name"}, id="escaped-around-field"),
        pytest.param("【{bank_name}】尊敬的{customer_name}", {"bank_name", "customer_name"},
                     id="chinese-text"),
    ],
)
def test_placeholders(template: str, expected: set[str]) -> None:
    assert placeholders(template) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        pytest.param("{overdue_amount:>10}", "without format spec", id="format-spec"),
        pytest.param("{days_past_due:d}", "without format spec", id="format-spec-type"),
        pytest.param("{customer_name!r}", "without format spec", id="conversion"),
        pytest.param("{}", "without format spec", id="empty-field"),
        pytest.param("Dear {customer_name", "malformed template", id="unclosed-brace"),
        pytest.param("Dear customer_name}", "malformed template", id="stray-closing-brace"),
        pytest.param("{", "malformed template", id="lone-open-brace"),
        pytest.param("{customer_name!}", "malformed template", id="empty-conversion"),
    ],
)
def test_placeholders_rejects(template: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        placeholders(template)
    with pytest.raises(TemplateError, match=message):
        check_template(template)


@pytest.mark.parametrize(
    ("template", "unknown"),
    [
        pytest.param("Hi {first_name}", "first_name", id="unknown-field"),
        pytest.param("{customer_name} {balance}", "balance", id="one-known-one-unknown"),
        pytest.param("{Customer_Name}", "Customer_Name", id="case-sensitive"),
    ],
)
def test_check_template_rejects_unknown_field_by_name(template: str, unknown: str) -> None:
    with pytest.raises(TemplateError, match="unknown placeholder") as info:
        check_template(template)
    assert repr(unknown) in str(info.value)


@pytest.mark.parametrize("field", sorted(TEMPLATE_FIELDS))
def test_check_template_accepts_every_allowed_field(field: str) -> None:
    check_template(f"x {{{field}}} y")


def test_check_template_accepts_all_fields_together() -> None:
    check_template(" ".join(f"{{{field}}}" for field in sorted(TEMPLATE_FIELDS)))


@pytest.mark.parametrize(
    ("template", "fields", "expected"),
    [
        pytest.param("Dear {customer_name}", {"customer_name": "Li Lei"}, "Dear Li Lei",
                     id="one"),
        pytest.param("{due_date}/{due_date}", {"due_date": "2026-11-01"},
                     "2026-11-01/2026-11-01", id="repeated"),
        pytest.param("plain", {"customer_name": "unused"}, "plain", id="extra-fields-ignored"),
        pytest.param("{{literal}} {bank_name}", {"bank_name": "B"}, "{literal} B",
                     id="escaped-braces"),
        pytest.param("{customer_name}", {"customer_name": "{bank_name}"}, "{bank_name}",
                     id="values-are-not-re-expanded"),
    ],
)
def test_render(template: str, fields: dict[str, str], expected: str) -> None:
    assert render(template, fields) == expected


@pytest.mark.parametrize(
    ("template", "fields", "missing"),
    [
        pytest.param("Dear {customer_name}", {}, "customer_name", id="only-field"),
        pytest.param("{bank_name} {pay_url}", {"bank_name": "B"}, "pay_url", id="one-of-two"),
    ],
)
def test_render_rejects_missing_value(
    template: str, fields: dict[str, str], missing: str
) -> None:
    with pytest.raises(TemplateError, match="no value for placeholder") as info:
        render(template, fields)
    assert repr(missing) in str(info.value)


def test_render_rejects_malformed_template() -> None:
    with pytest.raises(TemplateError, match="malformed template"):
        render("{customer_name", {"customer_name": "x"})


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        pytest.param("zh-CN", "zh-Hans", id="zh-CN"),
        pytest.param("zh_CN", "zh-Hans", id="zh_CN-underscore"),
        pytest.param("zh", "zh-Hans", id="bare-zh"),
        pytest.param("zh-SG", "zh-Hans", id="zh-SG"),
        pytest.param("zh-Hans", "zh-Hans", id="zh-Hans"),
        pytest.param("zh-Hans-HK", "zh-Hans", id="zh-Hans-HK-explicit-script-wins"),
        pytest.param("zh-TW", "zh-Hant", id="zh-TW"),
        pytest.param("zh_TW", "zh-Hant", id="zh_TW-underscore"),
        pytest.param("zh-HK", "zh-Hant", id="zh-HK"),
        pytest.param("zh-MO", "zh-Hant", id="zh-MO"),
        pytest.param("zh-Hant", "zh-Hant", id="zh-Hant"),
        pytest.param("zh-Hant-TW", "zh-Hant", id="zh-Hant-TW"),
        pytest.param("ZH-tw", "zh-Hant", id="case-insensitive"),
        pytest.param("en", "en", id="en"),
        pytest.param("en-GB", "en", id="en-GB"),
        pytest.param("en_US", "en", id="en_US"),
        pytest.param("fr-FR", "zh-Hans", id="fr-FR-default"),
        pytest.param("ja", "zh-Hans", id="ja-default"),
        pytest.param(None, "zh-Hans", id="none-default"),
        pytest.param("", "zh-Hans", id="empty-default"),
    ],
)
def test_pick_locale(requested: str | None, expected: str) -> None:
    assert pick_locale(requested) == expected
    assert expected in LOCALES


@pytest.mark.parametrize(
    ("requested", "default", "expected"),
    [
        pytest.param("fr-FR", "en", "en", id="unknown-uses-given-default"),
        pytest.param(None, "zh-Hant", "zh-Hant", id="none-uses-given-default"),
        pytest.param("", "en", "en", id="empty-uses-given-default"),
        pytest.param("zh-CN", "en", "zh-Hans", id="known-ignores-default"),
    ],
)
def test_pick_locale_custom_default(requested: str | None, default: str, expected: str) -> None:
    assert pick_locale(requested, default) == expected


# --- The shipped templates ----------------------------------------------------------------

FULL_FIELDS = {
    "customer_name": "CUSTNAME",
    "loan_ref": "7788",
    "overdue_amount": "¥1,234.56",
    "due_date": "2026-11-01",
    "days_past_due": "17",
    "penalty_rate": "50%",
    "bank_name": "BANKNAME",
    "bank_phone": "95555",
    "pay_url": "https://bank.example/pay",
    "dispute_url": "https://bank.example/dispute",
    "calculator_url": "https://bank.example/help/calculator",
    "faq_url": "https://bank.example/help/faq",
}
OPT_OUT_WORD = {"zh-Hans": "TD", "zh-Hant": "TD", "en": "STOP"}


def test_full_field_set_covers_every_allowed_field() -> None:
    assert set(FULL_FIELDS) == TEMPLATE_FIELDS


def _shipped_templates() -> list[tuple[str, str, str, str]]:
    cases = []
    for policy_file in ("default.toml", "demo.toml"):
        data = tomllib.loads((POLICY_DIR / policy_file).read_text("utf-8"))
        for name, by_locale in data["templates"].items():
            for locale in LOCALES:
                cases.append((policy_file, name, locale, by_locale.get(locale)))
    return cases


SHIPPED = _shipped_templates()


def test_shipped_policies_have_templates() -> None:
    assert {(f, n) for f, n, _, _ in SHIPPED} >= {
        ("default.toml", "first_reminder"), ("demo.toml", "first_reminder")}


@pytest.mark.parametrize(
    ("policy_file", "name", "locale", "text"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}-{case[2]}") for case in SHIPPED],
)
def test_shipped_template_renders_with_essentials(
    policy_file: str, name: str, locale: str, text: str | None
) -> None:
    assert text is not None, f"{policy_file}: {name} has no {locale} text"
    check_template(text)
    body = render(text, FULL_FIELDS)
    assert "{" not in body and "}" not in body
    for field in ("overdue_amount", "due_date", "bank_phone", "pay_url", "dispute_url"):
        assert FULL_FIELDS[field] in body, f"{field} missing from {name}/{locale}"
    assert OPT_OUT_WORD[locale] in body


@pytest.mark.parametrize("template", [
    pytest.param("{customer_name.__class__}", id="attribute-access"),
    pytest.param("{customer_name[0]}", id="index-access"),
    pytest.param("{0}", id="positional"),
])
def test_only_bare_names_are_placeholders(template: str) -> None:
    """str.format would otherwise reach into Python objects from a template."""
    with pytest.raises(TemplateError, match="must be a plain name"):
        check_template(template)
    with pytest.raises(TemplateError, match="must be a plain name"):
        render(template, {"customer_name": "x", "customer_name.__class__": "", "0": ""})
