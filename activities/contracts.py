"""Inputs and outputs of the activities the loan workflow calls. Pure models, no I/O."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.policy import BankContacts


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadPolicyRequest(ContractModel):
    loan_id: str


class SendReminderRequest(ContractModel):
    loan_id: str
    case_ref: str
    step: str
    idempotency_key: str
    template_name: str
    templates: dict[str, str]
    """The step's template in every locale, from the policy version the case runs on."""
    bank: BankContacts
    penalty_uplift: Decimal
    default_locale: str
    overdue_amount: Decimal
    due_date: date
    days_past_due: int
    scheduled_for: datetime


class ContactOutcome(ContractModel):
    attempt_id: int
    status: Literal["sent", "failed", "suppressed"]
    channel: str
    replayed: bool = False
    reason: str | None = None


class CaseRecord(ContractModel):
    case_ref: str
    loan_id: str
    workflow_id: str
    stage: str
    outcome: str | None
    arrears: Decimal
    days_past_due: int
    bucket: str | None
    policy_version: str | None
    closed: bool
