"""What flows in and out of a legal case (child workflow ``legal-<loan_id>-<n>``).

The legal case-management system (lawyers, courts, bailiffs) reports each step back as
the ``legal_event`` signal; officers offer settlements and supply asset leads through
updates. No personal data: references, amounts and dates only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.policy import Policy

WORKFLOW_LEGAL = "LegalCase"
SIGNAL_LEGAL_EVENT = "legal_event"
SIGNAL_LEGAL_PAYMENT = "payment"
UPDATE_OFFER_SETTLEMENT = "offer_settlement"
UPDATE_SETTLEMENT_ANSWER = "settlement_answer"
UPDATE_ASSET_LEAD = "add_asset_lead"
QUERY_LEGAL = "legal_state"

LegalStep = Literal["review", "filed", "hearing", "judgment", "enforcement", "done"]
EnforcementKind = Literal["freeze_accounts", "seize_property", "seize_vehicle", "garnish_wages"]


def legal_id_for(loan_id: str, number: int) -> str:
    return f"legal-{loan_id}-{number}"


class LegalModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LedgerItem(LegalModel):
    on: date
    kind: Literal["instalment_due", "payment", "cost"]
    amount: Decimal
    principal: Decimal = Decimal("0.00")
    interest: Decimal = Decimal("0.00")


class LegalEvent(LegalModel):
    """A step reported by the legal system (lawyers' review, court, bailiffs)."""

    type: Literal["review_decided", "hearing_scheduled", "judgment", "enforcement_update"]
    event_id: str | None = None
    """The legal system's id of the callback: a re-delivered one is ignored."""
    decision: Literal["proceed", "do_not_proceed"] | None = None
    reasons: list[str] = []
    hearing_date: date | None = None
    outcome: Literal["for_bank", "partly", "against"] | None = None
    awarded: Decimal | None = None
    action_id: str | None = None
    kind: EnforcementKind | None = None
    status: Literal["requested", "in_progress", "completed", "failed"] | None = None
    recovered: Decimal | None = None


class ClaimView(LegalModel):
    as_of: date
    principal: Decimal
    interest: Decimal
    penalty_interest: Decimal
    costs: Decimal
    total: Decimal


class SettlementInput(LegalModel):
    officer: str = Field(min_length=1, max_length=64)
    waive_penalty_share: Decimal = Field(default=Decimal("0"), ge=0, le=1)
    grace_days: int = Field(default=0, ge=0, le=180)
    instalments: int = Field(default=1, ge=1, le=60)


class SettlementAnswer(LegalModel):
    accept: bool
    recorded_by: str = Field(min_length=1, max_length=64)


class AssetLead(LegalModel):
    officer: str = Field(min_length=1, max_length=64)
    kind: EnforcementKind
    lead: str = Field(min_length=1, max_length=200)
    """A reference to where the asset is (account bank, registry entry), not a document."""


class SettlementView(LegalModel):
    offered_by: str
    offered_at: datetime
    settle_amount: Decimal
    waived_penalty: Decimal
    grace_until: date | None
    instalments: list[tuple[date, Decimal]]
    status: Literal["offered", "following", "kept", "broken", "declined"] = "offered"
    paid_before: Decimal = Decimal("0.00")


class EnforcementActionView(LegalModel):
    action_id: str
    kind: EnforcementKind
    status: str = "requested"
    recovered: Decimal = Decimal("0.00")
    asset_lead: str | None = None


class LegalHistoryEntry(LegalModel):
    at: datetime
    what: str


class LegalInput(LegalModel):
    loan_id: str
    case_ref: str
    number: int
    policy: Policy
    clock_anchor_real: datetime
    clock_anchor_case: datetime
    ledger: list[LedgerItem]
    annual_rate: Decimal
    accelerated_principal: Decimal
    trigger: str
    """Why the case went to law (the rule met, or an override with its reason and role)."""
    arrears: Decimal
    days_past_due: int
    failed_negotiations: int


class LegalState(LegalModel):
    legal_id: str
    step: LegalStep = "review"
    review_id: str | None = None
    review_decision: str | None = None
    review_reasons: list[str] = []
    filing_id: str | None = None
    claim: ClaimView | None = None
    hearing_date: date | None = None
    judgment: str | None = None
    awarded: Decimal | None = None
    enforcement_id: str | None = None
    actions: list[EnforcementActionView] = []
    asset_leads: list[AssetLead] = []
    settlement: SettlementView | None = None
    paid: Decimal = Decimal("0.00")
    ledger_payments: list[LedgerItem] = []
    seen_payments: list[str] = []
    seen_events: list[str] = []
    reminders: int = 0
    history: list[LegalHistoryEntry] = []

    @property
    def recovered(self) -> Decimal:
        return sum((a.recovered for a in self.actions), Decimal("0.00"))


class LegalPayment(LegalModel):
    event_id: str
    amount: Decimal
    value_date: date


class LegalResult(LegalModel):
    number: int
    status: Literal["settled", "recovered", "not_proceeding", "lost", "cancelled"]
    recovered: Decimal = Decimal("0.00")
    claim_total: Decimal | None = None
    reasons: list[str] = []
