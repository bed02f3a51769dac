"""What flows in and out of a negotiation round (child workflow ``negotiation-<loan>-<n>``).

Officers act through Temporal updates whose inputs are these models; a validator refuses
a command that does not fit the round's state and says why. No personal data: officers'
ids, amounts, dates and references to proof documents only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.policy import Policy

OptionKind = Literal["spread_arrears", "arrears_instalments", "extend_term", "reduce_payment",
                     "full_restructure"]
NegotiationStatus = Literal["open", "awaiting_approval", "following", "kept", "failed",
                            "cured", "cancelled"]
FailureReason = Literal["refused", "no_agreement", "agreement_broken", "promise_broken"]

WORKFLOW_NEGOTIATION = "Negotiation"
UPDATE_ASSIGN = "assign_negotiator"
UPDATE_ASSESSMENT = "record_assessment"
UPDATE_PROPOSE = "propose_options"
UPDATE_ANSWER = "record_customer_answer"
UPDATE_APPROVE = "approve_agreement"
UPDATE_PROMISE = "record_promise"
SIGNAL_PAYMENT = "payment"
QUERY_NEGOTIATION = "negotiation_state"


def negotiation_id_for(loan_id: str, round_number: int) -> str:
    return f"negotiation-{loan_id}-{round_number}"


class NegotiationModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


Amount = Field(ge=0, max_digits=15, decimal_places=2)


class LoanPositionView(NegotiationModel):
    outstanding_principal: Decimal
    annual_rate: Decimal
    remaining_instalments: int
    current_instalment: Decimal
    next_due_date: date
    arrears_principal: Decimal
    arrears_interest: Decimal
    penalty_interest: Decimal
    fees: Decimal = Decimal("0.00")

    @property
    def arrears_total(self) -> Decimal:
        return self.arrears_principal + self.arrears_interest + self.penalty_interest + self.fees


class IncomeInput(NegotiationModel):
    source: str = Field(min_length=1, max_length=64)
    monthly_amount: Decimal = Amount
    proof_ref: str | None = Field(default=None, max_length=120)
    """Reference to the proof document in the bank's document store, not its content."""


class ExpenseInput(NegotiationModel):
    category: str = Field(min_length=1, max_length=64)
    monthly_amount: Decimal = Amount


class AssetInput(NegotiationModel):
    kind: str = Field(min_length=1, max_length=64)
    value: Decimal = Amount
    liquid: bool = False


class DebtInput(NegotiationModel):
    lender: str = Field(min_length=1, max_length=64)
    monthly_payment: Decimal = Amount
    outstanding: Decimal = Amount


class AssessmentInput(NegotiationModel):
    officer: str = Field(min_length=1, max_length=64)
    incomes: list[IncomeInput] = Field(min_length=1)
    expenses: list[ExpenseInput] = []
    assets: list[AssetInput] = []
    debts: list[DebtInput] = []
    expected_recovery_months: int | None = Field(default=None, ge=0, le=120)


class CapacityView(NegotiationModel):
    monthly_income: Decimal
    monthly_expenses: Decimal
    other_debt_payments: Decimal
    disposable_income: Decimal
    debt_service_ratio: Decimal | None
    max_affordable_instalment: Decimal
    liquid_assets: Decimal
    difficulty: Literal["short_term", "long_term"]
    reasons: list[str]


class OptionSpec(NegotiationModel):
    kind: OptionKind
    params: dict[str, str] = {}
    """spread_arrears: m; arrears_instalments: k; extend_term: k; reduce_payment: target;
    full_restructure: rate, months, waive_penalty ("true"/"false")."""


class ProposeInput(NegotiationModel):
    officer: str = Field(min_length=1, max_length=64)
    options: list[OptionSpec] = Field(default=[], max_length=10)
    """Empty: every option of the bank's process with the policy's default parameters."""
    note: str | None = Field(default=None, max_length=500)


class ScheduleRowView(NegotiationModel):
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    arrears: Decimal
    fees: Decimal
    total: Decimal
    remaining_balance: Decimal


class EffectView(NegotiationModel):
    new_instalment: Decimal
    first_instalment: Decimal
    total_cost: Decimal
    current_plan_cost: Decimal
    extra_cost: Decimal
    months_until_current: int
    fits_capacity: bool | None
    notes: list[str]


class OptionView(NegotiationModel):
    index: int
    kind: OptionKind
    params: dict[str, str]
    within_limits: bool
    limit_violations: list[str]
    effect: EffectView
    schedule: list[ScheduleRowView]
    needs_approval: bool


class BuildOptionsRequest(NegotiationModel):
    loan_id: str
    position: LoanPositionView
    specs: list[OptionSpec]
    capacity: Decimal | None
    policy: Policy
    today: date


class Proposal(NegotiationModel):
    proposal_id: int
    officer: str
    made_at: datetime
    options: list[OptionView]
    note: str | None = None


class AnswerInput(NegotiationModel):
    proposal_id: int
    answer: Literal["accept", "reject", "counter"]
    option_index: int | None = None
    note: str | None = Field(default=None, max_length=500)
    recorded_by: str = Field(min_length=1, max_length=64)


class ApprovalInput(NegotiationModel):
    officer: str = Field(min_length=1, max_length=64)
    approve: bool
    note: str | None = Field(default=None, max_length=500)


class PromiseInput(NegotiationModel):
    officer: str = Field(min_length=1, max_length=64)
    amount: Decimal = Field(gt=0, max_digits=15, decimal_places=2)
    due: date
    channel: str = Field(default="officer", max_length=32)


class AssignInput(NegotiationModel):
    officer: str = Field(min_length=1, max_length=64)


class PaymentNotice(NegotiationModel):
    event_id: str
    amount: Decimal
    value_date: date


class AgreementView(NegotiationModel):
    agreement_id: str
    negotiation_id: str
    loan_id: str
    proposal_id: int
    option: OptionView
    proposed_by: str
    approved_by: str | None
    agreed_at: datetime
    paid_before: Decimal = Decimal("0.00")
    """What the round had received when the plan was agreed; the plan counts payments after."""
    paid_since: Decimal = Decimal("0.00")
    instalments_kept: int = 0
    status: Literal["pending_approval", "following", "kept", "broken"] = "following"


class PromiseView(NegotiationModel):
    amount: Decimal
    due: date
    made_by: str
    made_at: datetime
    paid_before: Decimal
    status: Literal["open", "kept", "broken"] = "open"
    key: str = ""
    recorded_status: str | None = None


class HistoryEntry(NegotiationModel):
    at: datetime
    kind: str
    actor: str
    summary: str


class NegotiationInput(NegotiationModel):
    loan_id: str
    case_ref: str
    round: int
    policy: Policy
    position: LoanPositionView
    arrears: Decimal
    clock_anchor_real: datetime
    clock_anchor_case: datetime
    negotiator: str


class NegotiationState(NegotiationModel):
    negotiation_id: str
    round: int
    status: NegotiationStatus = "open"
    failure_reason: FailureReason | None = None
    negotiator: str
    deadline: datetime
    arrears: Decimal
    paid: Decimal = Decimal("0.00")
    seen_payments: list[str] = []
    capacity: CapacityView | None = None
    proposals: list[Proposal] = []
    agreement: AgreementView | None = None
    promises: list[PromiseView] = []
    history: list[HistoryEntry] = []


class NegotiationResult(NegotiationModel):
    round: int
    status: Literal["kept", "failed", "cured", "cancelled"]
    reason: FailureReason | None = None
    agreement_id: str | None = None
