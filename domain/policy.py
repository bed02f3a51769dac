"""The collections policy: every duration, threshold, channel and template a bank may change.

It is data (a TOML file under ``policy/``), validated here into a frozen model. A case
loads it once through an activity and keeps the version it started on, so changing the
file never changes what a running case replays.
"""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from domain.templates import LOCALES, TemplateError, check_template

Channel = Literal["sms"]
"""Channels the reminder ladder can use. Email and phone tasks come with the early stage."""

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


class ReminderStep(PolicyModel):
    name: str
    business_days_after_due: int = Field(ge=1, le=250)
    channel: Channel
    template: str

    @field_validator("name", "template")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("must be lower-case letters, digits, '-' or '_'")
        return value


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


class Policy(PolicyModel):
    version: str = Field(min_length=1, max_length=64)
    description: str = ""
    clock: ClockPolicy = ClockPolicy()
    case: CasePolicy = CasePolicy()
    reminders: ReminderPolicy
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
            if step.template not in self.templates:
                raise ValueError(
                    f"reminders.ladder.{index}.template: no template named {step.template!r}")
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

    def seconds_per_case_day(self) -> float:
        return 86_400 / self.clock.time_scale
