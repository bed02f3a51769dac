"""The collections policy: every duration, threshold, channel and template a bank may change.

It is data (a TOML file under ``policy/``), validated here into a frozen model. A case
loads it once through an activity and keeps the version it started on, so changing the
file never changes what a running case replays.
"""

from __future__ import annotations

import hashlib
import re
from datetime import time
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.channels import ChannelPolicy
from domain.contact_rules import Channel, ContactRules
from domain.early_warning import FEATURES, ScoreModel
from domain.templates import LOCALES, TemplateError, check_template

StepChannel = Literal["auto", "sms", "email", "phone"]
"""``auto``: the customer's best channel (preference, responsiveness, profile)."""

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClockPolicy(PolicyModel):
    time_scale: int = Field(default=1, ge=1, le=86_400)
    """Case seconds per real second. 1 in production; the demo uses 8640 (a day in 10 s)."""


class CasePolicy(PolicyModel):
    timezone: str = "Asia/Shanghai"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    idle_close_after_days: int = Field(default=35, ge=1, le=3650)
    """A case opened by a payment or closure that never sees arrears ends after this."""
    default_locale: Literal["zh-Hans", "zh-Hant", "en"] = "zh-Hans"
    history_budget: int = Field(default=1500, ge=100, le=40_000)
    """History events a case run may reach before it continues as new, at its next wait
    (none while a negotiation round or legal case runs as its child)."""


def _check_slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError("must be lower-case letters, digits, '-' or '_'")
    return value


class ReminderStep(PolicyModel):
    name: str
    business_days_after_due: int = Field(ge=1, le=250)
    channel: StepChannel = "auto"
    templates: dict[Channel, str] = Field(min_length=1)
    """The channels this step may use, each with its template (for phone: the call script).
    The first usable one is tried first; the others are fallbacks after a hard failure."""
    email_subject: str | None = None
    """Template of the e-mail subject, required when the step may send e-mail."""
    min_arrears: Decimal = Field(default=Decimal("0"), ge=0)
    """Skip the step when the arrears are below this (e.g. a few cents left)."""

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        return _check_slug(value)

    @field_validator("templates")
    @classmethod
    def _template_slugs(cls, value: dict[Channel, str]) -> dict[Channel, str]:
        for name in value.values():
            _check_slug(name)
        return value

    @model_validator(mode="after")
    def _channels(self) -> ReminderStep:
        if self.channel != "auto" and self.channel not in self.templates:
            raise ValueError(f"channel {self.channel!r} has no entry in templates")
        if "email" in self.templates and self.email_subject is None:
            raise ValueError("email_subject is required when the step may send e-mail")
        return self

    def template_names(self) -> list[str]:
        return [*self.templates.values(), *([self.email_subject] if self.email_subject else [])]


class ReminderPolicy(PolicyModel):
    contact_time: time = time(9, 0)
    """Local time (the customer's, else the bank's) at which a scheduled reminder goes out."""
    ladder: list[ReminderStep] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered_unique(self) -> ReminderPolicy:
        names = [step.name for step in self.ladder]
        if len(set(names)) != len(names):
            raise ValueError("ladder step names must be unique")
        days = [step.business_days_after_due for step in self.ladder]
        if days != sorted(days):
            raise ValueError("ladder steps must be in order of business_days_after_due")
        return self


class EarlyStagePolicy(PolicyModel):
    escalate_at_days_past_due: int = Field(default=30, ge=1, le=365)
    """Not cured by then: the case moves to negotiation."""
    delivery_receipt_wait_minutes: int = Field(default=30, ge=0, le=1440)
    """How long after an SMS to wait for the delivery receipt before the ladder goes on."""
    call_outcome_timeout_days: int = Field(default=2, ge=1, le=30)
    """How long a phone task may stay open before the ladder goes on without its outcome."""
    hardship_pause_days: int = Field(default=14, ge=1, le=180)
    """The longest the automatic ladder pauses while a representative works the case."""
    promise_grace_days: int = Field(default=1, ge=0, le=30)
    """A promise to pay is kept if paid by its date plus this many days."""
    representatives: list[str] = Field(min_length=1)
    """Dedicated service representatives for customers in special circumstances."""


class NegotiationPolicy(PolicyModel):
    """The negotiation stage: one-to-one work with the customer on a repayment plan."""

    negotiators: list[str] = Field(min_length=1)
    round_days: int = Field(default=21, ge=1, le=180)
    """A round that reaches no agreement (and no kept promise) by then has failed."""
    new_round_after_days: int = Field(default=7, ge=0, le=180)
    max_rounds: int = Field(default=6, ge=1, le=50)
    promise_max_days: int = Field(default=14, ge=1, le=90)
    """How far ahead a promise to pay may be dated."""
    plan_grace_days: int = Field(default=5, ge=0, le=60)
    """A plan instalment unpaid this many days after its due date breaks the plan."""
    probation_instalments: int = Field(default=6, ge=0, le=120)
    """Plan instalments kept before the case closes as restructured and performing
    (0: follow every instalment of the plan)."""
    approval_threshold: Decimal = Field(default=Decimal("50000"), ge=0)
    """An agreement over this amount (or waiving penalty interest) needs a second
    officer's approval (maker-checker)."""
    max_extension_months: int = Field(default=60, ge=0, le=360)
    max_agreement_months: int = Field(default=60, ge=1, le=360)
    """CBRC credit-card rule Art. 70: an individual instalment agreement runs at most 5 years."""
    max_spread_instalments: int = Field(default=12, ge=1, le=60)
    max_debt_service_ratio: Decimal = Field(default=Decimal("0.50"), gt=0, le=1)
    short_term_max_months: int = Field(default=6, ge=1, le=60)
    """Hardship expected to end within this many months is short-term."""


class LegalPolicy(PolicyModel):
    """Legal action: when it may start, how long each step may take, what it claims."""

    min_days_past_due: int = Field(default=91, ge=1, le=3650)
    """Legal review only when MORE than 90 days past due (the bank's "over three months")..."""
    consecutive_failed_negotiations: int = Field(default=2, ge=1, le=20)
    """...and this many negotiation rounds in a row failed."""
    override_role: str = "legal_supervisor"
    """The only role that may send a case to law early, with a written reason."""
    court: str = Field(min_length=1)
    review_days: int = Field(default=14, ge=1, le=365)
    hearing_wait_days: int = Field(default=60, ge=1, le=730)
    judgment_wait_days: int = Field(default=90, ge=1, le=730)
    enforcement_wait_days: int = Field(default=180, ge=1, le=1825)
    """Each wait, when nothing comes from the legal system, raises a reminder for the legal
    team and waits again."""
    legal_costs: Decimal = Field(default=Decimal("0.00"), ge=0)
    """Court and lawyers' fees added to the claim at filing."""
    enforcement_actions: list[Literal["freeze_accounts", "seize_property", "seize_vehicle",
                                      "garnish_wages"]] = Field(
        default=["freeze_accounts", "garnish_wages"], min_length=1)
    max_settlement_waiver: Decimal = Field(default=Decimal("0.50"), ge=0, le=1)
    """The largest share of penalty interest a settlement may waive."""
    settlement_grace_days: int = Field(default=5, ge=0, le=60)
    """A settlement instalment unpaid this many days after its date breaks the settlement."""


class AftercarePolicy(PolicyModel):
    """After closure: a satisfaction survey, and follow-ups for restructured customers."""

    survey_template: str = "survey_sms"
    follow_up_template: str = "follow_up_sms"
    restructured_follow_up_days: list[int] = Field(default=[30, 90], max_length=12)
    """Days after closure at which a restructured customer is contacted again."""

    @field_validator("restructured_follow_up_days")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if value != sorted(value) or any(day < 1 for day in value):
            raise ValueError("must be positive days in ascending order")
        return value


_PRE_DUE_TEMPLATES: dict[Channel, str] = {"sms": "pre_due_sms", "email": "pre_due_email"}


class EarlyWarningPolicy(PolicyModel):
    """Early warning before delinquency: a daily sweep scores the instalments falling due
    soon with a logistic model (``domain/early_warning.py``) and sends customers at or
    above the threshold a courteous pre-due reminder, within the contact rules."""

    enabled: bool = True
    """False: the daily sweep still runs but scores nothing and sends nothing."""
    run_at: time = time(9, 30)
    """Local time (the bank's time zone) at which the daily sweep runs."""
    lead_days: int = Field(default=5, ge=1, le=30)
    """Instalments due in the next this many days (after today) are scored."""
    threshold: Decimal = Field(default=Decimal("0.20"), gt=0, lt=1)
    """Probability of missing the instalment at or above which the customer is reminded."""
    intercept: Decimal = Decimal("-2.8")
    weights: dict[str, Decimal] = Field(default_factory=lambda: {
        "late_instalments_12m": Decimal("0.45"),
        "max_days_past_due": Decimal("0.012"),
        "months_since_delinquency": Decimal("-0.04"),
        "debt_service_ratio": Decimal("2.0"),
    })
    """Log-odds per unit of each feature (per late instalment, per day past due, per
    month since the last delinquency, per unit of debt-service ratio)."""
    late_instalments_cap: int = Field(default=12, ge=1, le=120)
    max_days_past_due_cap: int = Field(default=120, ge=1, le=3650)
    months_since_delinquency_cap: int = Field(default=24, ge=1, le=600)
    """Also the value used for a customer who was never delinquent."""
    assumed_debt_service_ratio: Decimal = Field(default=Decimal("0.35"), ge=0, le=5)
    """Used when the customer's monthly income is unknown (the factor says so)."""
    debt_service_ratio_cap: Decimal = Field(default=Decimal("2"), gt=0, le=10)
    templates: dict[Channel, str] = Field(default_factory=lambda: _PRE_DUE_TEMPLATES.copy(),
                                          min_length=1)
    """The channels a pre-due reminder may use, each with its template, in fallback order."""
    email_subject: str | None = "pre_due_email_subject"

    @field_validator("weights")
    @classmethod
    def _known_features(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        unknown = sorted(set(value) - set(FEATURES))
        if unknown:
            raise ValueError(f"unknown feature(s) {unknown}; the model has {list(FEATURES)}")
        missing = [name for name in FEATURES if name not in value]
        if missing:
            raise ValueError(f"missing weight(s) for {missing}")
        return value

    @field_validator("templates")
    @classmethod
    def _template_slugs(cls, value: dict[Channel, str]) -> dict[Channel, str]:
        if "phone" in value:
            raise ValueError("a pre-due reminder is a message: sms and/or email, no calls")
        for name in value.values():
            _check_slug(name)
        return value

    @model_validator(mode="after")
    def _subject(self) -> EarlyWarningPolicy:
        if "email" in self.templates and self.email_subject is None:
            raise ValueError("email_subject is required when the reminder may send e-mail")
        return self

    def template_names(self) -> list[str]:
        return [*self.templates.values(), *([self.email_subject] if self.email_subject else [])]

    def model(self) -> ScoreModel:
        return ScoreModel(
            intercept=self.intercept, weights=dict(self.weights), threshold=self.threshold,
            late_instalments_cap=self.late_instalments_cap,
            max_days_past_due_cap=self.max_days_past_due_cap,
            months_since_delinquency_cap=self.months_since_delinquency_cap,
            assumed_debt_service_ratio=self.assumed_debt_service_ratio,
            debt_service_ratio_cap=self.debt_service_ratio_cap)


class ContactRulesPolicy(PolicyModel):
    """Customer-protection limits applied before every contact (CBA 2026 guideline)."""

    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    max_unanswered_calls_per_day: int = Field(default=6, ge=1, le=50)
    max_contacts_per_period: int = Field(default=7, ge=1, le=100)
    period_days: int = Field(default=7, ge=1, le=90)

    def rules(self) -> ContactRules:
        return ContactRules(
            quiet_start=self.quiet_start, quiet_end=self.quiet_end,
            max_unanswered_calls_per_day=self.max_unanswered_calls_per_day,
            max_contacts_per_period=self.max_contacts_per_period, period_days=self.period_days)


class ChannelsPolicy(PolicyModel):
    use_age_rule: bool = True
    """The bank's rule (younger customers SMS/e-mail, older ones phone). Switch it off where
    age is a prohibited basis for collection practices (e.g. US Regulation B)."""
    older_customer_age: int = Field(default=55, ge=18, le=120)
    younger_order: list[Channel] = Field(default=["sms", "email", "phone"], min_length=1)
    older_order: list[Channel] = Field(default=["phone", "sms", "email"], min_length=1)
    default_order: list[Channel] = Field(default=["sms", "email", "phone"], min_length=1)

    def policy(self) -> ChannelPolicy:
        return ChannelPolicy(use_age_rule=self.use_age_rule,
                             older_customer_age=self.older_customer_age,
                             younger_order=tuple(self.younger_order),
                             older_order=tuple(self.older_order),
                             default_order=tuple(self.default_order))


class BucketRule(PolicyModel):
    name: str
    min_days: int = Field(ge=0)
    max_days: int | None = None


class PenaltyPolicy(PolicyModel):
    uplift: Decimal = Field(default=Decimal("0.50"), ge=Decimal("0"), le=Decimal("1"))
    """Penalty rate = contract rate x (1 + uplift); PBoC allows +30% to +50%."""


class BankContacts(PolicyModel):
    name: str
    phone: str
    pay_url: str
    dispute_url: str
    calculator_url: str
    faq_url: str
    planning_url: str
    unsubscribe_url: str


class Policy(PolicyModel):
    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    clock: ClockPolicy = ClockPolicy()
    case: CasePolicy = CasePolicy()
    reminders: ReminderPolicy
    early_stage: EarlyStagePolicy
    negotiation: NegotiationPolicy
    legal: LegalPolicy
    aftercare: AftercarePolicy = AftercarePolicy()
    early_warning: EarlyWarningPolicy | None = None
    """None: no early warning (and what a policy recorded before it existed reads as)."""
    contact_rules: ContactRulesPolicy = ContactRulesPolicy()
    channels: ChannelsPolicy = ChannelsPolicy()
    buckets: list[BucketRule] = Field(min_length=1)
    penalty: PenaltyPolicy = PenaltyPolicy()
    bank: BankContacts
    templates: dict[str, dict[str, str]]

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        for name, by_locale in self.templates.items():
            missing = [loc for loc in LOCALES if loc not in by_locale]
            if missing:
                raise ValueError(f"templates.{name}: missing locale(s) {missing}")
            extra = [loc for loc in by_locale if loc not in LOCALES]
            if extra:
                raise ValueError(f"templates.{name}: unknown locale(s) {extra}")
            for locale, text in by_locale.items():
                try:
                    check_template(text)
                except TemplateError as exc:
                    raise ValueError(f"templates.{name}.{locale}: {exc}") from exc
        for index, step in enumerate(self.reminders.ladder):
            for name in step.template_names():
                if name not in self.templates:
                    raise ValueError(
                        f"reminders.ladder.{index}.templates: no template named {name!r}")
        for field in ("survey_template", "follow_up_template"):
            name = getattr(self.aftercare, field)
            if name not in self.templates:
                raise ValueError(f"aftercare.{field}: no template named {name!r}")
        for name in (self.early_warning.template_names() if self.early_warning else []):
            if name not in self.templates:
                raise ValueError(f"early_warning.templates: no template named {name!r}")
        expected = 0
        for index, bucket in enumerate(self.buckets):
            if bucket.min_days != expected:
                raise ValueError(f"buckets.{index}.min_days: expected {expected} "
                                 "(buckets must be contiguous from 0)")
            if bucket.max_days is None:
                if index != len(self.buckets) - 1:
                    raise ValueError(f"buckets.{index}.max_days: only the last bucket is open")
                break
            if bucket.max_days < bucket.min_days:
                raise ValueError(f"buckets.{index}.max_days: below min_days")
            expected = bucket.max_days + 1
        else:
            raise ValueError("buckets: the last bucket must be open-ended (no max_days)")
        return self

    def bucket_for(self, days_past_due: int) -> str:
        for bucket in self.buckets:
            if days_past_due >= bucket.min_days and (
                bucket.max_days is None or days_past_due <= bucket.max_days
            ):
                return bucket.name
        raise AssertionError("buckets are validated contiguous and open-ended")

    def next_bucket_at(self, days_past_due: int) -> int | None:
        """Days past due at which the case moves to the next bucket; None in the last."""
        for bucket in self.buckets:
            if bucket.max_days is not None and days_past_due <= bucket.max_days:
                return bucket.max_days + 1
        return None

    def seconds_per_case_day(self) -> float:
        return 86_400 / self.clock.time_scale


_SHARED: dict[str, Policy] = {}
_SHARED_KEPT = 32


def shared_policy(policy: Policy) -> Policy:
    """One in-memory instance per distinct policy, for every case a worker holds.

    Every open case carries its policy (~24 KB as objects); thousands of cached cases on
    the same version would each hold an equal copy. Policies are frozen, so handing out
    the same instance changes no decision (replay stays identical); only memory drops.
    """
    key = hashlib.sha256(policy.model_dump_json().encode()).hexdigest()
    found = _SHARED.get(key)
    if found is not None:
        return found
    if len(_SHARED) >= _SHARED_KEPT:
        _SHARED.pop(next(iter(_SHARED)))
    _SHARED[key] = policy
    return policy
