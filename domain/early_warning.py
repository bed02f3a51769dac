"""Early warning before delinquency: a transparent logistic score of an upcoming instalment.

The model is deliberately simple so that an officer, an auditor or the customer can follow
it. Four features describe the customer's repayment record and burden:

==========================  ==========================================================
``late_instalments_12m``    instalments paid late or missed in the last 12 months
``max_days_past_due``       the most days past due the loan ever reached (capped)
``months_since_delinquency``  months since the last delinquency (capped; never
                            delinquent counts as the cap, i.e. "long ago")
``debt_service_ratio``      instalment / monthly income (an assumed ratio when the
                            income is unknown, and the factor says so)
==========================  ==========================================================

The score is the log-odds ``z = intercept + sum(weight_i * value_i)`` and the probability
of missing the instalment is ``p = 1 / (1 + exp(-z))``. Each factor's contribution is its
``weight * value``, listed by size, so "why was this customer reminded?" has a plain
answer. Weights, intercept, caps and threshold are data (``[early_warning]`` in the
policy), never code.

Arithmetic is ``Decimal`` throughout (``Decimal.exp`` is exactly specified), so a score is
the same on every machine and inside a workflow replay.

Also here: the model's discrimination, AUC, by the Mann-Whitney statistic (the chance
that a random customer who missed scores above a random one who paid, ties counting
one half).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FeatureName = Literal["late_instalments_12m", "max_days_past_due", "months_since_delinquency",
                      "debt_service_ratio"]
FEATURES: tuple[FeatureName, ...] = ("late_instalments_12m", "max_days_past_due",
                                     "months_since_delinquency", "debt_service_ratio")
"""The model's features, in the order they are documented and stored."""

WORKFLOW_SWEEP = "EarlyWarningSweep"
WORKFLOW_PRE_DUE = "PreDueReminder"
SCHEDULE_ID = "early-warning-daily"


def pre_due_id_for(loan_id: str, due_date: date) -> str:
    """One pre-due reminder workflow per loan and due date."""
    return f"pre-due-{loan_id}-{due_date.isoformat()}"


PROBABILITY_PLACES = Decimal("0.000001")
CONTRIBUTION_PLACES = Decimal("0.0001")


class RiskFeatures(BaseModel):
    """What is known about a loan's customer before the instalment falls due."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    late_instalments_12m: int = Field(ge=0)
    max_days_past_due: int = Field(ge=0)
    months_since_delinquency: int | None = Field(default=None, ge=0)
    """None: never delinquent."""
    debt_service_ratio: Decimal | None = Field(default=None, ge=0)
    """None: the monthly income is unknown."""


@dataclass(frozen=True)
class ScoreModel:
    """The logistic model's parameters (from the policy's ``[early_warning]``)."""

    intercept: Decimal
    weights: Mapping[str, Decimal]
    threshold: Decimal
    """Probability at or above which a customer gets a pre-due reminder."""
    late_instalments_cap: int = 12
    max_days_past_due_cap: int = 120
    months_since_delinquency_cap: int = 24
    assumed_debt_service_ratio: Decimal = Decimal("0.35")
    debt_service_ratio_cap: Decimal = Decimal("2")


class Factor(BaseModel):
    """One line of "why": the feature, the value the model used, its weight and effect."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str
    value: Decimal
    weight: Decimal
    contribution: Decimal
    """weight * value, added to the log-odds (positive: riskier)."""
    note: str = ""


class RiskScore(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    intercept: Decimal
    log_odds: Decimal
    probability: Decimal
    threshold: Decimal
    flagged: bool
    factors: list[Factor]
    """Largest effect first (by absolute contribution; ties in feature order)."""


def _values(features: RiskFeatures, model: ScoreModel) -> dict[str, tuple[Decimal, str]]:
    late = features.late_instalments_12m
    dpd = features.max_days_past_due
    months = features.months_since_delinquency
    dsr = features.debt_service_ratio
    return {
        "late_instalments_12m": (
            Decimal(min(late, model.late_instalments_cap)),
            f"capped at {model.late_instalments_cap}" if late > model.late_instalments_cap
            else ""),
        "max_days_past_due": (
            Decimal(min(dpd, model.max_days_past_due_cap)),
            f"capped at {model.max_days_past_due_cap}" if dpd > model.max_days_past_due_cap
            else ""),
        "months_since_delinquency": (
            Decimal(model.months_since_delinquency_cap if months is None
                    else min(months, model.months_since_delinquency_cap)),
            "never delinquent" if months is None else
            f"capped at {model.months_since_delinquency_cap}"
            if months > model.months_since_delinquency_cap else ""),
        "debt_service_ratio": (
            model.assumed_debt_service_ratio if dsr is None
            else min(dsr, model.debt_service_ratio_cap),
            "income unknown: assumed ratio" if dsr is None else
            f"capped at {model.debt_service_ratio_cap}"
            if dsr > model.debt_service_ratio_cap else ""),
    }


def logistic(z: Decimal) -> Decimal:
    """1 / (1 + e^-z), to six places."""
    with localcontext() as ctx:
        ctx.prec = 28
        if z < -60:
            return Decimal("0").quantize(PROBABILITY_PLACES)
        if z > 60:
            return Decimal("1").quantize(PROBABILITY_PLACES)
        return (Decimal(1) / (Decimal(1) + (-z).exp())).quantize(PROBABILITY_PLACES)


def score(features: RiskFeatures, model: ScoreModel) -> RiskScore:
    factors: list[Factor] = []
    for name, (value, note) in _values(features, model).items():
        weight = model.weights.get(name, Decimal("0"))
        factors.append(Factor(feature=name, value=value, weight=weight,
                              contribution=(weight * value).quantize(CONTRIBUTION_PLACES),
                              note=note))
    log_odds = model.intercept + sum((f.contribution for f in factors), Decimal("0"))
    probability = logistic(log_odds)
    order: dict[str, int] = {name: index for index, name in enumerate(FEATURES)}
    factors.sort(key=lambda f: (-abs(f.contribution), order.get(f.feature, len(order))))
    return RiskScore(intercept=model.intercept, log_odds=log_odds, probability=probability,
                     threshold=model.threshold, flagged=probability >= model.threshold,
                     factors=factors)


def auc(scores: Sequence[Decimal | float | int], outcomes: Sequence[bool]) -> Fraction:
    """Area under the ROC curve by the Mann-Whitney U statistic, exactly.

    ``outcomes[i]`` is True when loan ``i`` missed its instalment (a positive). Ties are
    given their average rank, i.e. a tied positive/negative pair counts one half.
    """
    if len(scores) != len(outcomes):
        raise ValueError("scores and outcomes differ in length")
    positives = sum(1 for outcome in outcomes if outcome)
    negatives = len(outcomes) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs at least one positive and one negative outcome")
    ordered = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = Fraction(0)
    start = 0
    while start < len(ordered):
        end = start
        while end + 1 < len(ordered) and scores[ordered[end + 1]] == scores[ordered[start]]:
            end += 1
        average_rank = Fraction(start + 1 + end + 1, 2)
        rank_sum += average_rank * sum(1 for i in ordered[start:end + 1] if outcomes[i])
        start = end + 1
    u = rank_sum - Fraction(positives * (positives + 1), 2)
    return u / (positives * negatives)




def months_between(earlier: date, later: date) -> int:
    """Whole calendar months from ``earlier`` to ``later`` (0 when not yet a month; never
    negative)."""
    months = (later.year - earlier.year) * 12 + (later.month - earlier.month)
    if later.day < earlier.day:
        months -= 1
    return max(months, 0)


def features_from_record(*, as_of: date, late_instalments_12m: int, max_days_past_due: int,
                         last_delinquency: date | None, instalment: Decimal,
                         monthly_income: Decimal | None) -> RiskFeatures:
    """The model's features from a loan's repayment record and the customer's income."""
    dsr = None
    if monthly_income is not None and monthly_income > 0:
        dsr = (instalment / monthly_income).quantize(Decimal("0.0001"))
    return RiskFeatures(
        late_instalments_12m=max(late_instalments_12m, 0),
        max_days_past_due=max(max_days_past_due, 0),
        months_since_delinquency=(None if last_delinquency is None
                                  else months_between(last_delinquency, as_of)),
        debt_service_ratio=dsr)


__all__ = ["FEATURES", "SCHEDULE_ID", "WORKFLOW_PRE_DUE", "WORKFLOW_SWEEP", "Factor",
           "FeatureName", "RiskFeatures", "RiskScore", "ScoreModel", "auc",
           "features_from_record", "logistic", "months_between", "pre_due_id_for", "score"]
