"""domain.templates: closed placeholder list, rendering, locale choice, shipped templates."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.policy import Policy
from domain.templates import (
    LOCALES,
    TEMPLATE_FIELDS,
    TemplateError,
    check_template,
    pick_locale,
    placeholders,
    render,
)
from overdue.policy_file import load_policy

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

# Distinctive values: none occurs in a template's own text or inside another value, so
# finding one in a rendered text proves that its placeholder was there.
FULL_FIELDS = {
    "customer_name": "CUSTNAME",
    "loan_ref": "7788",
    "overdue_amount": "¥1,234.56",
    "amount_due": "¥2,468.02",
    "due_date": "2026-11-01",
    "days_past_due": "17",
    "penalty_rate": "50%",
    "bank_name": "BANKNAME",
    "bank_phone": "95555",
    "pay_url": "https://pay.test/now",
    "dispute_url": "https://dispute.test/form",
    "calculator_url": "https://selfhelp.test/calculator",
    "faq_url": "https://selfhelp.test/faq",
    "planning_url": "https://selfhelp.test/planning",
    "unsubscribe_url": "https://prefs.test/unsubscribe",
    "survey_url": "https://survey.test/abc",
}
OPT_OUT_WORD = {"zh-Hans": "TD", "zh-Hant": "TD", "en": "STOP"}
OPT_OUT_WORDS = ("TD", "STOP", "退订", "退訂", "unsubscribe", "opt out", "opt-out")
# The consequence for the credit record, in each locale's words. The zh e-mail names the
# PBoC credit reference database (金融信用信息基础数据库) rather than saying 征信.
CREDIT_TERMS = {
    "zh-Hans": ("征信",),
    "zh-Hant": ("徵信",),
    "en": ("credit",),
}
POLICY_FILES = ("default.toml", "demo.toml")
POLICIES: dict[str, Policy] = {f: load_policy(POLICY_DIR / f) for f in POLICY_FILES}


def _roles(policy: Policy) -> dict[str, set[str]]:
    """Each template's use, from the ladder: SMS, e-mail body/subject, call script."""
    roles: dict[str, set[str]] = {"sms": set(), "email": set(), "subject": set(),
                                  "phone": set(), "aftercare": {
                                      policy.aftercare.survey_template,
                                      policy.aftercare.follow_up_template}}
    for step in policy.reminders.ladder:
        for channel, name in step.templates.items():
            roles[channel].add(name)
        if step.email_subject is not None:
            roles["subject"].add(step.email_subject)
    roles["pre_due"] = set(policy.early_warning.template_names() if policy.early_warning
                           else [])
    return roles


def _cases(*roles: str) -> list[object]:
    return [
        pytest.param(policy_file, name, locale, id=f"{policy_file}-{name}-{locale}")
        for policy_file, policy in POLICIES.items()
        for name in sorted(set().union(*(_roles(policy)[role] for role in roles)))
        for locale in LOCALES
    ]


def _rendered(policy_file: str, name: str, locale: str) -> str:
    return render(POLICIES[policy_file].templates[name][locale], FULL_FIELDS)


def test_full_field_set_covers_every_allowed_field() -> None:
    assert set(FULL_FIELDS) == TEMPLATE_FIELDS


def test_field_values_are_distinctive() -> None:
    values = list(FULL_FIELDS.values())
    for value in values:
        assert [v for v in values if value in v] == [value], f"{value!r} is inside another"
    for policy in POLICIES.values():
        for name, by_locale in policy.templates.items():
            for locale, text in by_locale.items():
                for field, value in FULL_FIELDS.items():
                    assert value not in text, f"{field} value {value!r} in {name}/{locale}"


@pytest.mark.parametrize("policy_file", POLICY_FILES)
def test_every_shipped_template_has_one_use(policy_file: str) -> None:
    policy = POLICIES[policy_file]
    roles = _roles(policy)
    assert roles == {
        "sms": {"reminder_sms", "second_reminder_sms"},
        "email": {"reminder_email"},
        "subject": {"reminder_email_subject"},
        "phone": {"call_script"},
        "aftercare": {"survey_sms", "follow_up_sms"},
        "pre_due": {"pre_due_sms", "pre_due_email", "pre_due_email_subject"},
    }
    used = [name for names in roles.values() for name in names]
    assert len(used) == len(set(used)), "a template serves two uses"
    assert set(used) == set(policy.templates), "a template the ladder never uses"


@pytest.mark.parametrize(
    ("policy_file", "name", "locale"), _cases("sms", "email", "subject", "phone"))
def test_shipped_template_renders_with_the_full_field_set(
    policy_file: str, name: str, locale: str
) -> None:
    text = POLICIES[policy_file].templates[name].get(locale)
    assert text is not None, f"{policy_file}: {name} has no {locale} text"
    check_template(text)
    body = render(text, FULL_FIELDS)
    assert "{" not in body and "}" not in body
    used = placeholders(text)
    assert {"overdue_amount", "bank_name"} <= used
    for field in used:
        assert FULL_FIELDS[field] in body


@pytest.mark.parametrize("policy_file", POLICY_FILES)
def test_translations_use_the_same_placeholders(policy_file: str) -> None:
    """A translation that drops a placeholder drops information (an amount, a URL)."""
    for name, by_locale in POLICIES[policy_file].templates.items():
        per_locale = {locale: placeholders(text) for locale, text in by_locale.items()}
        assert per_locale["zh-Hant"] == per_locale["zh-Hans"], name
        assert per_locale["en"] == per_locale["zh-Hans"], name


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("sms", "email"))
def test_reminder_states_the_essentials(policy_file: str, name: str, locale: str) -> None:
    body = _rendered(policy_file, name, locale)
    for field in ("overdue_amount", "due_date", "bank_phone", "pay_url", "dispute_url",
                  "calculator_url"):
        assert FULL_FIELDS[field] in body, f"{field} missing from {name}/{locale}"


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("sms", "email", "phone"))
def test_reminder_states_the_consequences(policy_file: str, name: str, locale: str) -> None:
    body = _rendered(policy_file, name, locale)
    assert FULL_FIELDS["penalty_rate"] in body, f"penalty rate missing from {name}/{locale}"
    assert any(term in body for term in CREDIT_TERMS[locale]), (
        f"no credit-record consequence ({CREDIT_TERMS[locale]}) in {name}/{locale}")


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("sms"))
def test_sms_offers_opt_out(policy_file: str, name: str, locale: str) -> None:
    body = _rendered(policy_file, name, locale)
    assert OPT_OUT_WORD[locale] in body, f"no {OPT_OUT_WORD[locale]!r} in {name}/{locale}"


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("email"))
def test_email_body_has_unsubscribe_and_self_help(
    policy_file: str, name: str, locale: str
) -> None:
    body = _rendered(policy_file, name, locale)
    for field in ("unsubscribe_url", "faq_url", "planning_url"):
        assert FULL_FIELDS[field] in body, f"{field} missing from {name}/{locale}"


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("subject"))
def test_email_subject_states_the_amount_on_one_line(
    policy_file: str, name: str, locale: str
) -> None:
    subject = _rendered(policy_file, name, locale)
    assert FULL_FIELDS["overdue_amount"] in subject
    assert "\n" not in subject and "\r" not in subject


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("phone"))
def test_call_script_states_the_debt_without_opt_out(
    policy_file: str, name: str, locale: str
) -> None:
    script = _rendered(policy_file, name, locale)
    assert FULL_FIELDS["overdue_amount"] in script
    assert FULL_FIELDS["due_date"] in script
    for word in OPT_OUT_WORDS:
        assert word.casefold() not in script.casefold(), f"{word!r} in {name}/{locale}"


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


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("aftercare"))
def test_aftercare_messages_carry_their_link_and_an_opt_out(policy_file: str, name: str,
                                                            locale: str) -> None:
    body = _rendered(policy_file, name, locale)
    assert FULL_FIELDS["customer_name"] in body and FULL_FIELDS["bank_phone"] in body
    assert OPT_OUT_WORD[locale] in body
    link = "survey_url" if name == "survey_sms" else "planning_url"
    assert FULL_FIELDS[link] in body


PRE_DUE_THREATS = {
    "zh-Hans": ("罚息", "征信", "逾期", "诉讼", "法律"),
    "zh-Hant": ("罰息", "徵信", "逾期", "訴訟", "法律"),
    "en": ("penalty", "credit record", "overdue", "legal", "court"),
}


@pytest.mark.parametrize(("policy_file", "name", "locale"), _cases("pre_due"))
def test_pre_due_reminder_is_courteous_with_self_help(policy_file: str, name: str,
                                                      locale: str) -> None:
    """Before the due date nothing is owed: no consequences, no arrears, only help."""
    body = _rendered(policy_file, name, locale)
    assert "{" not in body and "}" not in body
    for field in ("overdue_amount", "days_past_due", "penalty_rate", "dispute_url"):
        assert FULL_FIELDS[field] not in body, f"{field} in {name}/{locale}"
    for word in PRE_DUE_THREATS[locale]:
        assert word.casefold() not in body.casefold(), f"{word!r} in {name}/{locale}"
    assert FULL_FIELDS["due_date"] in body and FULL_FIELDS["loan_ref"] in body
    if name.endswith("_subject"):
        assert "\n" not in body
        return
    for field in ("amount_due", "customer_name", "bank_phone", "pay_url", "calculator_url",
                  "faq_url", "planning_url"):
        assert FULL_FIELDS[field] in body, f"{field} missing from {name}/{locale}"
    if name.endswith("_sms"):
        assert OPT_OUT_WORD[locale] in body
    else:
        assert FULL_FIELDS["unsubscribe_url"] in body
