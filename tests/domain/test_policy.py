"""domain.policy via overdue.policy_file: shipped files, buckets, and field-naming errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from decimal import Decimal
from pathlib import Path

import pytest

from domain.policy import Policy
from domain.templates import LOCALES
from overdue.policy_file import PolicyFileError, load_policy

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
DEFAULT = POLICY_DIR / "default.toml"
DEMO = POLICY_DIR / "demo.toml"
DEFAULT_TEXT = DEFAULT.read_text("utf-8")


@pytest.fixture(scope="module")
def default_policy() -> Policy:
    return load_policy(DEFAULT)


@pytest.fixture(scope="module")
def demo_policy() -> Policy:
    return load_policy(DEMO)


def test_default_policy_loads(default_policy: Policy) -> None:
    p = default_policy
    assert p.version == "2026.11-1"
    assert p.clock.time_scale == 1
    assert p.seconds_per_case_day() == 86_400
    assert p.case.timezone == "Asia/Shanghai"
    assert p.case.currency == "CNY"
    assert p.case.idle_close_after_days == 35
    assert p.case.default_locale == "zh-Hans"
    assert p.reminders.contact_time == time(9, 0)
    assert [(s.name, s.business_days_after_due, s.channel, s.template)
            for s in p.reminders.ladder] == [("first-sms", 1, "sms", "first_reminder")]
    assert [(b.name, b.min_days, b.max_days) for b in p.buckets] == [
        ("M0", 0, 0), ("M1", 1, 30), ("M2", 31, 60), ("M3", 61, 90), ("M3+", 91, None)]
    assert p.penalty.uplift == Decimal("0.50")
    assert p.bank.phone == "95555"
    assert set(p.templates) == {"first_reminder"}
    assert set(p.templates["first_reminder"]) == set(LOCALES)


def test_demo_policy_loads(demo_policy: Policy) -> None:
    assert demo_policy.version == "demo-2026.11-1"
    assert demo_policy.clock.time_scale == 8640
    assert demo_policy.seconds_per_case_day() == 10.0


def test_demo_policy_has_the_same_rules_as_default(
    default_policy: Policy, demo_policy: Policy
) -> None:
    """The demo is "the same rules on a compressed clock"."""
    ignore = {"version", "description", "clock"}
    assert demo_policy.model_dump(exclude=ignore) == default_policy.model_dump(exclude=ignore)


def test_policy_is_frozen(default_policy: Policy) -> None:
    with pytest.raises(ValueError, match="frozen"):
        default_policy.version = "changed"  # type: ignore[misc]


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


def test_bucket_for_matches_the_bucket_ranges(default_policy: Policy) -> None:
    for days in range(0, 500):
        name = default_policy.bucket_for(days)
        rule = next(b for b in default_policy.buckets if b.name == name)
        assert rule.min_days <= days
        assert rule.max_days is None or days <= rule.max_days


# --- Invalid policy files -------------------------------------------------------------------

SECOND_STEP = (
    '[[reminders.ladder]]\nname = "{name}"\nbusiness_days_after_due = {days}\n'
    'channel = "sms"\ntemplate = "first_reminder"\n\n[[buckets]]\nname = "M0"'
)


def _line_starting(prefix: str) -> str:
    lines = [line for line in DEFAULT_TEXT.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, f"expected one line starting {prefix!r}, got {len(lines)}"
    return lines[0] + "\n"


# (old, new, expected substrings of the error message)
MUTATIONS = [
    pytest.param('channel = "sms"', 'channel = "fax"', ["reminders.ladder.0.channel"],
                 id="ladder-channel-fax"),
    pytest.param('version = "2026.11-1"', 'escalation = true\nversion = "2026.11-1"',
                 ["escalation", "Extra inputs are not permitted"], id="unknown-top-level-key"),
    pytest.param("[clock]\n", "[clock]\nspeed = 2\n", ["clock.speed"],
                 id="unknown-nested-key"),
    pytest.param(_line_starting("version = "), "", ["version", "Field required"],
                 id="missing-version"),
    pytest.param("business_days_after_due = 1", "business_days_after_due = 0",
                 ["reminders.ladder.0.business_days_after_due"], id="business-days-zero"),
    pytest.param("business_days_after_due = 1", "business_days_after_due = 251",
                 ["reminders.ladder.0.business_days_after_due"], id="business-days-too-many"),
    pytest.param('name = "first-sms"', 'name = "First SMS"', ["reminders.ladder.0.name"],
                 id="ladder-step-name-not-slug"),
    pytest.param('template = "first_reminder"', 'template = "second_reminder"',
                 ["reminders.ladder.0.template", "second_reminder"],
                 id="template-referenced-but-missing"),
    pytest.param('[[buckets]]\nname = "M0"',
                 SECOND_STEP.format(name="first-sms", days=2),
                 ["reminders: ", "ladder step names must be unique"],
                 id="ladder-duplicate-step-names"),
    pytest.param('business_days_after_due = 1\nchannel = "sms"\ntemplate = "first_reminder"\n'
                 '\n[[buckets]]\nname = "M0"',
                 'business_days_after_due = 5\nchannel = "sms"\ntemplate = "first_reminder"\n'
                 '\n' + SECOND_STEP.format(name="second-sms", days=2),
                 ["reminders: ", "in order of business_days_after_due"],
                 id="ladder-steps-out-of-order"),
    pytest.param('[[buckets]]\nname = "M0"',
                 SECOND_STEP.format(name="second-sms", days=1),
                 None, id="ladder-two-steps-same-day-is-valid"),
    pytest.param("contact_time = 09:00:00", 'contact_time = "nine"',
                 ["reminders.contact_time"], id="contact-time-not-a-time"),
    pytest.param(_line_starting("en = "), "", ["templates.first_reminder", "['en']"],
                 id="template-missing-locale"),
    pytest.param(_line_starting("en = "), _line_starting("en = ") + 'fr = "Bonjour"\n',
                 ["templates.first_reminder", "unknown locale", "['fr']"],
                 id="template-unknown-locale"),
    pytest.param("Dear {customer_name}", "Dear {first_name}",
                 ["templates.first_reminder.en", "first_name"],
                 id="template-unknown-placeholder"),
    pytest.param("of {overdue_amount} due", "of {overdue_amount:>12} due",
                 ["templates.first_reminder.en", "format spec"], id="template-format-spec"),
    pytest.param("Reply STOP to opt out", "Reply STOP to opt out {",
                 ["templates.first_reminder.en", "malformed template"],
                 id="template-malformed-brace"),
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
    pytest.param('phone = "95555"\n', "", ["bank.phone", "Field required"],
                 id="bank-phone-missing"),
    pytest.param("version = ", "version == ", ["not valid TOML"], id="not-toml"),
    pytest.param('version = "2026.11-1"', 'version = "2026.11-2"', None,
                 id="control-valid-edit-loads"),
]


@pytest.mark.parametrize(("old", "new", "expected"), MUTATIONS)
def test_invalid_policy_names_the_field(
    tmp_path: Path, old: str, new: str, expected: list[str] | None
) -> None:
    assert DEFAULT_TEXT.count(old) == 1, f"{old!r} must occur exactly once in default.toml"
    text = DEFAULT_TEXT.replace(old, new)
    assert text != DEFAULT_TEXT
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
