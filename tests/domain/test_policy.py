"""domain.policy via overdue.policy_file: shipped files, buckets, and field-naming errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from domain.channels import ChannelPolicy
from domain.contact_rules import ContactRules
from domain.policy import Policy
from domain.templates import LOCALES
from overdue.policy_file import PolicyFileError, load_policy

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
DEFAULT = POLICY_DIR / "default.toml"
DEMO = POLICY_DIR / "demo.toml"
DEFAULT_TEXT = DEFAULT.read_text("utf-8")

TEMPLATE_NAMES = {"reminder_sms", "second_reminder_sms", "reminder_email_subject",
                  "reminder_email", "call_script", "survey_sms", "follow_up_sms",
                  "pre_due_sms", "pre_due_email_subject", "pre_due_email"}
DEMO_HELP_URLS = {
    "calculator_url": "http://127.0.0.1:8000/help/calculator",
    "faq_url": "http://127.0.0.1:8000/help/faq",
    "planning_url": "http://127.0.0.1:8000/help/planning",
}


@pytest.fixture(scope="module")
def default_policy() -> Policy:
    return load_policy(DEFAULT)


@pytest.fixture(scope="module")
def demo_policy() -> Policy:
    return load_policy(DEMO)


def _load_text(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(text, "utf-8")
    return load_policy(path)


def _replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once in default.toml"
    result = text.replace(old, new)
    assert result != text
    return result


def test_default_policy_loads(default_policy: Policy) -> None:
    p = default_policy
    assert p.version == "2026.11-2"
    assert (p.legal.min_days_past_due, p.legal.consecutive_failed_negotiations) == (91, 2)
    assert (p.legal.legal_costs, p.legal.max_settlement_waiver) == (
        Decimal("800.00"), Decimal("0.50"))
    assert p.aftercare.restructured_follow_up_days == [30, 90]
    ew = p.early_warning
    assert ew is not None
    assert (ew.enabled, ew.run_at, ew.lead_days, ew.threshold, ew.intercept) == (
        True, time(9, 30), 5, Decimal("0.20"), Decimal("-2.8"))
    assert ew.weights == {"late_instalments_12m": Decimal("0.45"),
                          "max_days_past_due": Decimal("0.012"),
                          "months_since_delinquency": Decimal("-0.04"),
                          "debt_service_ratio": Decimal("2.0")}
    assert (ew.late_instalments_cap, ew.max_days_past_due_cap,
            ew.months_since_delinquency_cap, ew.assumed_debt_service_ratio,
            ew.debt_service_ratio_cap) == (12, 120, 24, Decimal("0.35"), Decimal("2"))
    assert (ew.templates, ew.email_subject) == (
        {"sms": "pre_due_sms", "email": "pre_due_email"}, "pre_due_email_subject")
    # The section's defaults are the shipped values (so leaving a key out is not laxer).
    assert type(ew)() == ew
    assert p.description.startswith("Production policy")
    assert p.clock.time_scale == 1
    assert p.seconds_per_case_day() == 86_400
    assert p.case.timezone == "Asia/Shanghai"
    assert p.case.currency == "CNY"
    assert p.case.idle_close_after_days == 35
    assert p.case.default_locale == "zh-Hans"
    assert p.reminders.contact_time == time(9, 0)
    assert [(s.name, s.business_days_after_due, s.channel, s.templates, s.email_subject,
             s.min_arrears) for s in p.reminders.ladder] == [
        ("first-reminder", 1, "auto",
         {"sms": "reminder_sms", "email": "reminder_email", "phone": "call_script"},
         "reminder_email_subject", Decimal("0")),
        ("email-reminder", 3, "email",
         {"email": "reminder_email", "sms": "reminder_sms"},
         "reminder_email_subject", Decimal("0")),
        ("phone-call", 7, "phone",
         {"phone": "call_script", "sms": "reminder_sms"}, None, Decimal("0")),
        ("second-sms", 15, "sms",
         {"sms": "second_reminder_sms", "email": "reminder_email"},
         "reminder_email_subject", Decimal("1.00")),
    ]
    # The order of `templates` is the fallback order: it must survive loading.
    assert [list(s.templates) for s in p.reminders.ladder] == [
        ["sms", "email", "phone"], ["email", "sms"], ["phone", "sms"], ["sms", "email"]]
    assert [s.template_names() for s in p.reminders.ladder] == [
        ["reminder_sms", "reminder_email", "call_script", "reminder_email_subject"],
        ["reminder_email", "reminder_sms", "reminder_email_subject"],
        ["call_script", "reminder_sms"],
        ["second_reminder_sms", "reminder_email", "reminder_email_subject"],
    ]
    e = p.early_stage
    assert (e.escalate_at_days_past_due, e.delivery_receipt_wait_minutes,
            e.call_outcome_timeout_days, e.hardship_pause_days, e.promise_grace_days,
            e.representatives) == (30, 30, 2, 14, 1, ["rep-zhang", "rep-li", "rep-chen"])
    c = p.contact_rules
    assert (c.quiet_start, c.quiet_end, c.max_unanswered_calls_per_day,
            c.max_contacts_per_period, c.period_days) == (time(22, 0), time(8, 0), 6, 7, 7)
    ch = p.channels
    assert (ch.use_age_rule, ch.older_customer_age, ch.younger_order, ch.older_order,
            ch.default_order) == (True, 55, ["sms", "email", "phone"],
                                  ["phone", "sms", "email"], ["sms", "email", "phone"])
    assert [(b.name, b.min_days, b.max_days) for b in p.buckets] == [
        ("M0", 0, 0), ("M1", 1, 30), ("M2", 31, 60), ("M3", 61, 90), ("M3+", 91, None)]
    assert p.penalty.uplift == Decimal("0.50")
    assert p.bank.model_dump() == {
        "name": "长江商业银行",
        "phone": "95555",
        "pay_url": "https://bank.example/pay",
        "dispute_url": "https://bank.example/dispute",
        "calculator_url": "https://bank.example/help/calculator",
        "faq_url": "https://bank.example/help/faq",
        "planning_url": "https://bank.example/help/planning",
        "unsubscribe_url": "https://bank.example/unsubscribe",
    }
    assert set(p.templates) == TEMPLATE_NAMES
    for name, by_locale in p.templates.items():
        assert set(by_locale) == set(LOCALES), name
    # The e-mail body is a multi-line TOML string: its paragraphs survive loading.
    assert p.templates["reminder_email"]["en"].startswith("Dear {customer_name},\n\nThe ")
    assert p.templates["reminder_email"]["zh-Hans"].count("\n- ") == 3


def test_shipped_contact_rules_and_channels_convert(default_policy: Policy) -> None:
    assert default_policy.contact_rules.rules() == ContactRules(
        quiet_start=time(22, 0), quiet_end=time(8, 0), max_unanswered_calls_per_day=6,
        max_contacts_per_period=7, period_days=7)
    assert default_policy.channels.policy() == ChannelPolicy(
        use_age_rule=True, older_customer_age=55, younger_order=("sms", "email", "phone"),
        older_order=("phone", "sms", "email"), default_order=("sms", "email", "phone"))


def test_contact_rules_and_channels_convert_every_field(tmp_path: Path) -> None:
    """Non-default values, so a field the conversion drops (keeping the default) shows."""
    text = DEFAULT_TEXT
    for old, new in [
        ("quiet_start = 22:00:00", "quiet_start = 21:00:00"),
        ("quiet_end = 08:00:00", "quiet_end = 08:30:00"),
        ("max_unanswered_calls_per_day = 6", "max_unanswered_calls_per_day = 3"),
        ("max_contacts_per_period = 7", "max_contacts_per_period = 5"),
        ("period_days = 7", "period_days = 10"),
        ("use_age_rule = true", "use_age_rule = false"),
        ("older_customer_age = 55", "older_customer_age = 60"),
        ('younger_order = ["sms", "email", "phone"]', 'younger_order = ["email"]'),
        ('older_order = ["phone", "sms", "email"]', 'older_order = ["phone", "email"]'),
        ('default_order = ["sms", "email", "phone"]', 'default_order = ["phone", "sms"]'),
    ]:
        text = _replace_once(text, old, new)
    policy = _load_text(tmp_path, text)
    assert policy.contact_rules.rules() == ContactRules(
        quiet_start=time(21, 0), quiet_end=time(8, 30), max_unanswered_calls_per_day=3,
        max_contacts_per_period=5, period_days=10)
    assert policy.channels.policy() == ChannelPolicy(
        use_age_rule=False, older_customer_age=60, younger_order=("email",),
        older_order=("phone", "email"), default_order=("phone", "sms"))


def test_demo_policy_loads(demo_policy: Policy) -> None:
    assert demo_policy.version == "demo-2026.11-2"
    assert demo_policy.description.startswith("Demo policy")
    assert demo_policy.clock.time_scale == 8640
    assert demo_policy.seconds_per_case_day() == 10.0
    for field, url in DEMO_HELP_URLS.items():
        assert getattr(demo_policy.bank, field) == url


def test_demo_policy_has_the_same_rules_as_default(
    default_policy: Policy, demo_policy: Policy
) -> None:
    """The demo is "the same rules on a compressed clock", self-help on the local intake."""
    ignore = {"version", "description", "clock"}
    default = default_policy.model_dump(exclude=ignore)
    demo = demo_policy.model_dump(exclude=ignore)
    assert demo["bank"] == default["bank"] | DEMO_HELP_URLS
    assert demo == default | {"bank": default["bank"] | DEMO_HELP_URLS}
    # The exceptions really differ (else this test would not notice them being dropped).
    for field in DEMO_HELP_URLS:
        assert demo["bank"][field] != default["bank"][field]
    assert demo_policy.version != default_policy.version
    assert demo_policy.description != default_policy.description
    assert demo_policy.clock != default_policy.clock


def test_policy_is_frozen(default_policy: Policy) -> None:
    with pytest.raises(ValueError, match="frozen"):
        default_policy.version = "changed"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        default_policy.early_stage.escalate_at_days_past_due = 90  # type: ignore[misc]


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        pytest.param(0, "M0", id="0"),
        pytest.param(1, "M1", id="1"),
        pytest.param(30, "M1", id="30"),
        pytest.param(31, "M2", id="31"),
        pytest.param(60, "M2", id="60"),
        pytest.param(61, "M3", id="61"),
        pytest.param(90, "M3", id="90"),
        pytest.param(91, "M3+", id="91"),
        pytest.param(400, "M3+", id="400"),
    ],
)
@pytest.mark.parametrize("which", ["default", "demo"])
def test_bucket_for(
    which: str, days: int, bucket: str, default_policy: Policy, demo_policy: Policy
) -> None:
    policy = default_policy if which == "default" else demo_policy
    assert policy.bucket_for(days) == bucket


@pytest.mark.parametrize(
    ("days", "next_at"),
    [(0, 1), (1, 31), (30, 31), (31, 61), (60, 61), (61, 91), (90, 91), (91, None), (400, None)],
)
def test_next_bucket_at(days: int, next_at: int | None, default_policy: Policy) -> None:
    """The days past due where the bucket next changes: the case's only refresh timer."""
    assert default_policy.next_bucket_at(days) == next_at
    if next_at is not None:
        assert default_policy.bucket_for(next_at) != default_policy.bucket_for(days)
        assert default_policy.bucket_for(next_at - 1) == default_policy.bucket_for(days)


def test_bucket_for_matches_the_bucket_ranges(default_policy: Policy) -> None:
    for days in range(0, 500):
        name = default_policy.bucket_for(days)
        rule = next(b for b in default_policy.buckets if b.name == name)
        assert rule.min_days <= days
        assert rule.max_days is None or days <= rule.max_days


# --- Invalid policy files -------------------------------------------------------------------


def _line_starting(prefix: str) -> str:
    lines = [line for line in DEFAULT_TEXT.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting {prefix!r}, got {len(lines)}"
    return lines[0] + "\n"


def _table_line(header: str, prefix: str) -> str:
    """The one line starting with ``prefix`` in the table ``header`` (e.g. a locale's
    single-line text under ``[templates.reminder_sms]``), with its newline."""
    assert DEFAULT_TEXT.count(header + "\n") == 1, f"{header} must occur exactly once"
    body = DEFAULT_TEXT.split(header + "\n", 1)[1].split("\n[", 1)[0]
    lines = [line for line in body.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting {prefix!r} in {header}: {lines}"
    return lines[0] + "\n"


def _between(start: str, end: str | None) -> str:
    """The text from ``start`` (occurring once) up to the next ``end`` (or the file end)."""
    assert DEFAULT_TEXT.count(start) == 1, f"{start!r} must occur exactly once"
    begin = DEFAULT_TEXT.index(start)
    stop = len(DEFAULT_TEXT) if end is None else DEFAULT_TEXT.index(end, begin + len(start))
    return DEFAULT_TEXT[begin:stop]


STEP0_TEMPLATES = (
    'templates = { sms = "reminder_sms", email = "reminder_email", phone = "call_script" }')
STEP1_TEMPLATES = 'templates = { email = "reminder_email", sms = "reminder_sms" }'
STEP2_TEMPLATES = 'templates = { phone = "call_script", sms = "reminder_sms" }'
LADDER = _between('[[reminders.ladder]]\nname = "first-reminder"', "[early_stage]\n")
SMS_EN = _table_line("[templates.reminder_sms]", "en = ")
EMAIL_EN = _between('en = """Dear {customer_name},', "[templates.call_script]\n")

# (old, new, expected substrings of the error message; None: the edit is valid)
MUTATIONS = [
    # -- top level
    pytest.param('version = "2026.11-2"', 'escalation = true\nversion = "2026.11-2"',
                 ["escalation", "Extra inputs are not permitted"], id="unknown-top-level-key"),
    pytest.param("[clock]\n", "[clock]\nspeed = 2\n", ["clock.speed"],
                 id="unknown-nested-key"),
    pytest.param(_line_starting("version = "), "", ["version", "Field required"],
                 id="missing-version"),
    pytest.param("version = ", "version == ", ["not valid TOML"], id="not-toml"),
    pytest.param('version = "2026.11-2"', 'version = "2026.11-3"', None,
                 id="control-valid-edit-loads"),
    # -- the reminder ladder
    pytest.param('channel = "auto"', 'channel = "fax"', ["reminders.ladder.0.channel"],
                 id="ladder-channel-fax"),
    pytest.param('name = "first-reminder"\n',
                 'name = "first-reminder"\ntemplate = "reminder_sms"\n',
                 ["reminders.ladder.0.template", "Extra inputs are not permitted"],
                 id="ladder-old-single-template-key"),
    pytest.param(STEP0_TEMPLATES, 'templates = { sms = "nope" }',
                 ["reminders.ladder.0.templates", "no template named 'nope'"],
                 id="ladder-template-referenced-but-missing"),
    pytest.param(STEP0_TEMPLATES, 'templates = { sms = "Reminder SMS" }',
                 ["reminders.ladder.0.templates", "must be lower-case"],
                 id="ladder-template-name-not-slug"),
    pytest.param(STEP0_TEMPLATES, 'templates = { fax = "reminder_sms" }',
                 ["reminders.ladder.0.templates.fax"], id="ladder-templates-channel-fax"),
    pytest.param(STEP0_TEMPLATES, "templates = {}",
                 ["reminders.ladder.0.templates", "at least 1 item"],
                 id="ladder-templates-empty"),
    pytest.param(STEP0_TEMPLATES + "\n", "", ["reminders.ladder.0.templates", "Field required"],
                 id="ladder-templates-missing"),
    pytest.param(STEP2_TEMPLATES, 'templates = { sms = "reminder_sms" }',
                 ["reminders.ladder.2", "channel 'phone' has no entry in templates"],
                 id="ladder-fixed-channel-not-in-templates"),
    pytest.param(STEP1_TEMPLATES + '\nemail_subject = "reminder_email_subject"\n',
                 STEP1_TEMPLATES + "\n",
                 ["reminders.ladder.1", "email_subject is required"],
                 id="ladder-email-without-email-subject"),
    pytest.param(STEP2_TEMPLATES + "\n",
                 'templates = { phone = "call_script", email = "reminder_email" }\n',
                 ["reminders.ladder.2", "email_subject"],
                 id="ladder-email-added-without-email-subject"),
    pytest.param('phone = "call_script" }\nemail_subject = "reminder_email_subject"',
                 'phone = "call_script" }\nemail_subject = "reminder_subject"',
                 ["reminders.ladder.0.templates", "no template named 'reminder_subject'"],
                 id="ladder-email-subject-template-missing"),
    pytest.param(STEP0_TEMPLATES, 'templates = { sms = "reminder_sms" }', None,
                 id="control-auto-step-with-one-channel-is-valid"),
    pytest.param('min_arrears = "1.00"', 'min_arrears = "-0.01"',
                 ["reminders.ladder.3.min_arrears"], id="ladder-min-arrears-negative"),
    pytest.param('min_arrears = "1.00"', 'min_arrears = "a few cents"',
                 ["reminders.ladder.3.min_arrears"], id="ladder-min-arrears-not-a-number"),
    pytest.param("business_days_after_due = 1\n", "business_days_after_due = 0\n",
                 ["reminders.ladder.0.business_days_after_due"], id="business-days-zero"),
    pytest.param("business_days_after_due = 15\n", "business_days_after_due = 251\n",
                 ["reminders.ladder.3.business_days_after_due"], id="business-days-too-many"),
    pytest.param('name = "first-reminder"', 'name = "First Reminder"',
                 ["reminders.ladder.0.name"], id="ladder-step-name-not-slug"),
    pytest.param('name = "email-reminder"', 'name = "first-reminder"',
                 ["reminders: ", "ladder step names must be unique"],
                 id="ladder-duplicate-step-names"),
    pytest.param("business_days_after_due = 3\n", "business_days_after_due = 9\n",
                 ["reminders: ", "in order of business_days_after_due"],
                 id="ladder-steps-out-of-order"),
    pytest.param("business_days_after_due = 3\n", "business_days_after_due = 1\n", None,
                 id="ladder-two-steps-same-day-is-valid"),
    pytest.param(LADDER, "", ["reminders.ladder", "Field required"], id="ladder-missing"),
    pytest.param(LADDER, "ladder = []\n\n", ["reminders.ladder", "at least 1 item"],
                 id="ladder-empty"),
    pytest.param("contact_time = 09:00:00", 'contact_time = "nine"',
                 ["reminders.contact_time"], id="contact-time-not-a-time"),
    # -- [early_stage]
    pytest.param(_between("[early_stage]\n", "[contact_rules]\n"), "",
                 ["early_stage: Field required"], id="early-stage-missing"),
    pytest.param("escalate_at_days_past_due = 30", "escalate_at_days_past_due = 0",
                 ["early_stage.escalate_at_days_past_due"], id="early-escalate-zero"),
    pytest.param("escalate_at_days_past_due = 30", "escalate_at_days_past_due = 366",
                 ["early_stage.escalate_at_days_past_due"], id="early-escalate-above-a-year"),
    pytest.param("delivery_receipt_wait_minutes = 30", "delivery_receipt_wait_minutes = -1",
                 ["early_stage.delivery_receipt_wait_minutes"], id="early-receipt-wait-negative"),
    pytest.param("delivery_receipt_wait_minutes = 30", "delivery_receipt_wait_minutes = 1441",
                 ["early_stage.delivery_receipt_wait_minutes"],
                 id="early-receipt-wait-above-a-day"),
    pytest.param("call_outcome_timeout_days = 2", "call_outcome_timeout_days = 0",
                 ["early_stage.call_outcome_timeout_days"], id="early-call-timeout-zero"),
    pytest.param("hardship_pause_days = 14", "hardship_pause_days = 0",
                 ["early_stage.hardship_pause_days"], id="early-hardship-pause-zero"),
    pytest.param("hardship_pause_days = 14", "hardship_pause_days = 181",
                 ["early_stage.hardship_pause_days"], id="early-hardship-pause-too-long"),
    pytest.param("promise_grace_days = 1", "promise_grace_days = -1",
                 ["early_stage.promise_grace_days"], id="early-promise-grace-negative"),
    pytest.param('representatives = ["rep-zhang", "rep-li", "rep-chen"]',
                 "representatives = []",
                 ["early_stage.representatives", "at least 1 item"],
                 id="early-representatives-empty"),
    pytest.param(_line_starting("representatives = "), "",
                 ["early_stage.representatives", "Field required"],
                 id="early-representatives-missing"),
    pytest.param("[early_stage]\n", "[early_stage]\nauto_escalate = true\n",
                 ["early_stage.auto_escalate", "Extra inputs are not permitted"],
                 id="early-unknown-key"),
    # -- [early_warning]
    pytest.param('debt_service_ratio = "2.0"\n', "",
                 ["early_warning.weights", "missing weight", "debt_service_ratio"],
                 id="early-warning-weight-missing"),
    pytest.param('debt_service_ratio = "2.0"\n',
                 'debt_service_ratio = "2.0"\nage = "0.1"\n',
                 ["early_warning.weights", "unknown feature", "age"],
                 id="early-warning-unknown-feature"),
    pytest.param('threshold = "0.20"', 'threshold = "1.5"', ["early_warning.threshold"],
                 id="early-warning-threshold-above-one"),
    pytest.param("lead_days = 5", "lead_days = 0", ["early_warning.lead_days"],
                 id="early-warning-lead-days-zero"),
    pytest.param('templates = { sms = "pre_due_sms", email = "pre_due_email" }',
                 'templates = { sms = "pre_due_sms", phone = "call_script" }',
                 ["early_warning.templates", "no calls"], id="early-warning-phone"),
    pytest.param('templates = { sms = "pre_due_sms", email = "pre_due_email" }',
                 'templates = { sms = "pre_due_nope" }',
                 ["early_warning.templates", "no template named 'pre_due_nope'"],
                 id="early-warning-template-missing"),
    pytest.param('email_subject = "pre_due_email_subject"\n', "",
                 None, id="control-early-warning-email-subject-defaults"),
    pytest.param('intercept = "-2.8"', 'intercept = "minus three"', ["early_warning.intercept"],
                 id="early-warning-intercept-not-a-number"),
    # -- [contact_rules]
    pytest.param("max_unanswered_calls_per_day = 6", "max_unanswered_calls_per_day = 0",
                 ["contact_rules.max_unanswered_calls_per_day"], id="calls-per-day-zero"),
    pytest.param("max_unanswered_calls_per_day = 6", "max_unanswered_calls_per_day = 51",
                 ["contact_rules.max_unanswered_calls_per_day"], id="calls-per-day-too-many"),
    pytest.param("max_contacts_per_period = 7", "max_contacts_per_period = 0",
                 ["contact_rules.max_contacts_per_period"], id="contacts-per-period-zero"),
    pytest.param("period_days = 7", "period_days = 0", ["contact_rules.period_days"],
                 id="period-days-zero"),
    pytest.param("quiet_start = 22:00:00", 'quiet_start = "late"',
                 ["contact_rules.quiet_start"], id="quiet-start-not-a-time"),
    pytest.param("quiet_end = 08:00:00", 'quiet_end = "morning"', ["contact_rules.quiet_end"],
                 id="quiet-end-not-a-time"),
    pytest.param("[contact_rules]\n", "[contact_rules]\nmax_calls = 3\n",
                 ["contact_rules.max_calls", "Extra inputs are not permitted"],
                 id="contact-rules-unknown-key"),
    # -- [channels]
    pytest.param('younger_order = ["sms", "email", "phone"]',
                 'younger_order = ["sms", "fax"]', ["channels.younger_order"],
                 id="younger-order-fax"),
    pytest.param('older_order = ["phone", "sms", "email"]', "older_order = []",
                 ["channels.older_order", "at least 1 item"], id="older-order-empty"),
    pytest.param('default_order = ["sms", "email", "phone"]', 'default_order = "sms"',
                 ["channels.default_order"], id="default-order-not-a-list"),
    pytest.param("older_customer_age = 55", "older_customer_age = 17",
                 ["channels.older_customer_age"], id="older-age-below-adult"),
    pytest.param("use_age_rule = true", 'use_age_rule = "sometimes"',
                 ["channels.use_age_rule"], id="use-age-rule-not-a-bool"),
    # -- [bank]
    pytest.param('phone = "95555"\n', "", ["bank.phone", "Field required"],
                 id="bank-phone-missing"),
    pytest.param(_line_starting("planning_url = "), "", ["bank.planning_url", "Field required"],
                 id="bank-planning-url-missing"),
    pytest.param(_line_starting("unsubscribe_url = "), "",
                 ["bank.unsubscribe_url", "Field required"], id="bank-unsubscribe-url-missing"),
    # -- [templates]
    pytest.param(SMS_EN, "", ["templates.reminder_sms", "['en']"],
                 id="template-missing-locale"),
    pytest.param(SMS_EN, SMS_EN + 'fr = "Bonjour"\n',
                 ["templates.reminder_sms", "unknown locale", "['fr']"],
                 id="template-unknown-locale"),
    pytest.param(EMAIL_EN, "", ["templates.reminder_email", "['en']"],
                 id="multi-line-template-missing-locale"),
    pytest.param("Dear {customer_name}, the", "Dear {first_name}, the",
                 ["templates.reminder_sms.en", "first_name"],
                 id="template-unknown-placeholder"),
    pytest.param("visit {unsubscribe_url}.", "visit {opt_out}.",
                 ["templates.reminder_email.en", "unknown placeholder", "opt_out"],
                 id="template-removed-opt-out-placeholder"),
    pytest.param("ending {loan_ref} is unpaid", "ending {loan_ref:>4} is unpaid",
                 ["templates.reminder_sms.en", "format spec"], id="template-format-spec"),
    pytest.param("Planning: {planning_url}. Reply STOP", "Planning: {planning_url. Reply STOP",
                 ["templates.reminder_sms.en", "malformed template"],
                 id="template-malformed-brace"),
    pytest.param("是{customer_name}本人吗", "是{name}本人吗",
                 ["templates.call_script.zh-Hans", "'name'"],
                 id="call-script-unknown-placeholder"),
    pytest.param(_between("[templates.call_script]\n", None), "",
                 ["reminders.ladder.0.templates", "no template named 'call_script'"],
                 id="template-referenced-by-ladder-missing"),
    pytest.param(_between("[templates.reminder_email_subject]\n", "[templates.reminder_email]\n"),
                 "", ["reminders.ladder.0.templates",
                      "no template named 'reminder_email_subject'"],
                 id="email-subject-template-missing"),
    # -- [[buckets]]
    pytest.param('name = "M0"\nmin_days = 0', 'name = "M0"\nmin_days = 1',
                 ["buckets.0.min_days", "expected 0"], id="first-bucket-not-from-zero"),
    pytest.param('name = "M1"\nmin_days = 1', 'name = "M1"\nmin_days = 2',
                 ["buckets.1.min_days", "expected 1"], id="buckets-not-contiguous-gap"),
    pytest.param('name = "M2"\nmin_days = 31', 'name = "M2"\nmin_days = 30',
                 ["buckets.2.min_days", "expected 31"], id="buckets-overlap"),
    pytest.param('min_days = 31\nmax_days = 60', "min_days = 31\nmax_days = 20",
                 ["buckets.2.max_days", "below min_days"], id="bucket-max-below-min"),
    pytest.param('min_days = 31\nmax_days = 60\n', "min_days = 31\n",
                 ["buckets.2.max_days", "only the last bucket is open"],
                 id="middle-bucket-open"),
    pytest.param('min_days = 91\n', "min_days = 91\nmax_days = 9999\n",
                 ["buckets: the last bucket must be open-ended"], id="last-bucket-closed"),
    pytest.param("min_days = 0", "min_days = -1", ["buckets.0.min_days"],
                 id="negative-min-days"),
    # -- [case], [clock], [penalty]
    pytest.param('timezone = "Asia/Shanghai"', 'timezone = "Asia/Atlantis"',
                 ["case.timezone", "Asia/Atlantis"], id="unknown-timezone"),
    pytest.param('timezone = "Asia/Shanghai"', 'timezone = "../etc/passwd"',
                 ["case.timezone"], id="timezone-path-traversal"),
    pytest.param('timezone = "Asia/Shanghai"', 'timezone = ""', ["case.timezone"],
                 id="timezone-empty"),
    pytest.param('currency = "CNY"', 'currency = "cny"', ["case.currency"],
                 id="currency-lower-case"),
    pytest.param('default_locale = "zh-Hans"', 'default_locale = "fr"',
                 ["case.default_locale"], id="default-locale-unknown"),
    pytest.param("idle_close_after_days = 35", "idle_close_after_days = 0",
                 ["case.idle_close_after_days"], id="idle-close-zero"),
    pytest.param("time_scale = 1\n", "time_scale = 0\n", ["clock.time_scale"],
                 id="time-scale-zero"),
    pytest.param("time_scale = 1\n", "time_scale = 86401\n", ["clock.time_scale"],
                 id="time-scale-above-a-day"),
    pytest.param('uplift = "0.50"', 'uplift = "1.5"', ["penalty.uplift"],
                 id="penalty-uplift-above-one"),
]


@pytest.mark.parametrize(("old", "new", "expected"), MUTATIONS)
def test_invalid_policy_names_the_field(
    tmp_path: Path, old: str, new: str, expected: list[str] | None
) -> None:
    text = _replace_once(DEFAULT_TEXT, old, new)
    path = tmp_path / "policy.toml"
    path.write_text(text, "utf-8")
    if expected is None:
        load_policy(path)
        return
    with pytest.raises(PolicyFileError) as info:
        load_policy(path)
    message = str(info.value)
    assert str(path) in message
    for part in expected:
        assert part in message, f"{part!r} not in:\n{message}"


def test_multi_line_template_slice_is_the_whole_english_text(default_policy: Policy) -> None:
    """The edit above removes exactly the English e-mail body, nothing around it."""
    email_en = default_policy.templates["reminder_email"]["en"]
    sms_en = default_policy.templates["reminder_sms"]["en"]
    assert (f'en = """{email_en}"""\n\n', f'en = "{sms_en}"\n') == (EMAIL_EN, SMS_EN)


@pytest.mark.parametrize(
    ("section", "end"),
    [
        pytest.param("[clock]\n", "[case]\n", id="clock"),
        pytest.param("[case]\n", "[reminders]\n", id="case"),
        pytest.param("[contact_rules]\n", "[channels]\n", id="contact_rules"),
        pytest.param("[channels]\n", "[[buckets]]\n", id="channels"),
        pytest.param("[penalty]\n", "[bank]\n", id="penalty"),
    ],
)
def test_optional_section_defaults_are_the_shipped_values(
    tmp_path: Path, section: str, end: str, default_policy: Policy
) -> None:
    """Leaving an optional section out gives the production values, not something laxer."""
    policy = _load_text(tmp_path, _replace_once(DEFAULT_TEXT, _between(section, end), ""))
    name = section.strip("[]\n")
    assert getattr(policy, name) == getattr(default_policy, name)
    assert policy.model_dump(exclude={name}) == default_policy.model_dump(exclude={name})


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(b"\xff\xfe not utf-8", "not valid TOML", id="not-utf8"),
        pytest.param(b"", "version", id="empty-file"),
        pytest.param(b"[[[", "not valid TOML", id="garbage"),
    ],
)
def test_unreadable_policy_content(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(content)
    with pytest.raises(PolicyFileError, match=expected):
        load_policy(path)


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda tmp: tmp / "absent.toml", id="missing-file"),
        pytest.param(lambda tmp: tmp, id="a-directory"),
    ],
)
def test_unreadable_policy_file(tmp_path: Path, make_path: Callable[[Path], Path]) -> None:
    path = make_path(tmp_path)
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_policy(path)


def test_policy_file_error_is_value_error() -> None:
    assert issubclass(PolicyFileError, ValueError)
