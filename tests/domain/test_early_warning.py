"""domain.early_warning: the logistic score, its factors, AUC, and the generated portfolio."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from domain.early_warning import (
    FEATURES,
    RiskFeatures,
    ScoreModel,
    auc,
    features_from_record,
    logistic,
    months_between,
    score,
)
from domain.early_warning_sim import generate_portfolio
from overdue.early_warning import evaluate
from overdue.policy_file import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "policy" / "default.toml")
assert POLICY.early_warning is not None
MODEL = POLICY.early_warning.model()
D = Decimal


def test_shipped_model_is_the_documented_one() -> None:
    assert ScoreModel(
        intercept=D("-2.8"),
        weights={"late_instalments_12m": D("0.45"), "max_days_past_due": D("0.012"),
                 "months_since_delinquency": D("-0.04"), "debt_service_ratio": D("2.0")},
        threshold=D("0.20"), late_instalments_cap=12, max_days_past_due_cap=120,
        months_since_delinquency_cap=24, assumed_debt_service_ratio=D("0.35"),
        debt_service_ratio_cap=D("2")) == MODEL


# Hand-computed with the shipped weights: log-odds = -2.8 + sum(weight x value),
# probability = 1 / (1 + e^-log-odds) to six places.
SCORES = [
    pytest.param(
        RiskFeatures(late_instalments_12m=0, max_days_past_due=0, months_since_delinquency=None,
                     debt_service_ratio=D("0.25")),
        D("-3.26"), D("0.036969"), False,
        [("months_since_delinquency", D("24"), D("-0.9600"), "never delinquent"),
         ("debt_service_ratio", D("0.25"), D("0.5000"), ""),
         ("late_instalments_12m", D("0"), D("0.0000"), ""),
         ("max_days_past_due", D("0"), D("0.0000"), "")],
        id="never-late-modest-burden"),
    pytest.param(
        RiskFeatures(late_instalments_12m=3, max_days_past_due=45, months_since_delinquency=2,
                     debt_service_ratio=D("0.6")),
        D("0.21"), D("0.552308"), True,
        [("late_instalments_12m", D("3"), D("1.3500"), ""),
         ("debt_service_ratio", D("0.6"), D("1.2000"), ""),
         ("max_days_past_due", D("45"), D("0.5400"), ""),
         ("months_since_delinquency", D("2"), D("-0.0800"), "")],
        id="recently-late-heavy-burden"),
    pytest.param(
        RiskFeatures(late_instalments_12m=0, max_days_past_due=0, months_since_delinquency=None,
                     debt_service_ratio=None),
        D("-3.06"), D("0.044788"), False,
        [("months_since_delinquency", D("24"), D("-0.9600"), "never delinquent"),
         ("debt_service_ratio", D("0.35"), D("0.7000"), "income unknown: assumed ratio"),
         ("late_instalments_12m", D("0"), D("0.0000"), ""),
         ("max_days_past_due", D("0"), D("0.0000"), "")],
        id="income-unknown-assumed-ratio"),
    pytest.param(
        RiskFeatures(late_instalments_12m=20, max_days_past_due=400, months_since_delinquency=0,
                     debt_service_ratio=D("3.1")),
        D("8.04"), D("0.999678"), True,
        [("late_instalments_12m", D("12"), D("5.4000"), "capped at 12"),
         ("debt_service_ratio", D("2"), D("4.0000"), "capped at 2"),
         ("max_days_past_due", D("120"), D("1.4400"), "capped at 120"),
         ("months_since_delinquency", D("0"), D("0.0000"), "")],
        id="every-feature-capped"),
    pytest.param(
        RiskFeatures(late_instalments_12m=1, max_days_past_due=10, months_since_delinquency=36,
                     debt_service_ratio=D("0.30")),
        D("-2.59"), D("0.069785"), False,
        [("months_since_delinquency", D("24"), D("-0.9600"), "capped at 24"),
         ("debt_service_ratio", D("0.30"), D("0.6000"), ""),
         ("late_instalments_12m", D("1"), D("0.4500"), ""),
         ("max_days_past_due", D("10"), D("0.1200"), "")],
        id="old-delinquency-capped-months"),
]


@pytest.mark.parametrize(("features", "log_odds", "probability", "flagged", "factors"), SCORES)
def test_score_is_the_documented_logistic(
    features: RiskFeatures, log_odds: Decimal, probability: Decimal, flagged: bool,
    factors: list[tuple[str, Decimal, Decimal, str]],
) -> None:
    result = score(features, MODEL)
    assert result.log_odds == log_odds
    assert result.probability == probability
    assert result.flagged is flagged
    assert result.threshold == D("0.20") and result.intercept == D("-2.8")
    assert [(f.feature, f.value, f.contribution, f.note) for f in result.factors] == factors
    # The factors add up to the log-odds: nothing hidden.
    assert result.intercept + sum(f.contribution for f in result.factors) == result.log_odds
    for f in result.factors:
        assert f.contribution == (f.weight * f.value).quantize(D("0.0001"))


def test_factors_are_sorted_by_absolute_effect_then_feature_order() -> None:
    model = ScoreModel(intercept=D("0"), threshold=D("0.5"),
                       weights={name: D("0") for name in FEATURES})
    result = score(RiskFeatures(late_instalments_12m=5, max_days_past_due=5), model)
    assert [f.feature for f in result.factors] == list(FEATURES)


@pytest.mark.parametrize(("threshold", "flagged"), [
    pytest.param(D("0.552308"), True, id="at-threshold-flags"),
    pytest.param(D("0.552309"), False, id="just-above-does-not"),
])
def test_threshold_is_inclusive(threshold: Decimal, flagged: bool) -> None:
    model = ScoreModel(intercept=MODEL.intercept, weights=MODEL.weights, threshold=threshold)
    features = RiskFeatures(late_instalments_12m=3, max_days_past_due=45,
                            months_since_delinquency=2, debt_service_ratio=D("0.6"))
    assert score(features, model).flagged is flagged


@pytest.mark.parametrize(("z", "p"), [
    pytest.param(D("0"), D("0.500000"), id="zero"),
    pytest.param(D("2"), D("0.880797"), id="two"),
    pytest.param(D("-2"), D("0.119203"), id="minus-two"),
    pytest.param(D("100"), D("1.000000"), id="saturates-high"),
    pytest.param(D("-100"), D("0.000000"), id="saturates-low"),
])
def test_logistic(z: Decimal, p: Decimal) -> None:
    assert logistic(z) == p


@pytest.mark.parametrize(("scores", "outcomes", "expected"), [
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
    pytest.param([0.1, 0.4, 0.35, 0.8], [False, False, True, True], Fraction(3, 4),
                 id="textbook-three-quarters"),
    # One positive/negative tie (0.5, 0.5) counts one half: (1 + 0.5 + 1 + 1) / 4.
    pytest.param([0.5, 0.5, 0.2, 0.9], [True, False, False, True], Fraction(7, 8),
                 id="tie-counts-half"),
    pytest.param([1, 2, 3, 4], [False, False, True, True], Fraction(1), id="perfect"),
    pytest.param([1, 2, 3, 4], [True, True, False, False], Fraction(0), id="reversed"),
    pytest.param([7, 7, 7], [True, False, False], Fraction(1, 2), id="all-tied"),
    pytest.param([D("0.2"), D("0.9"), D("0.6")], [False, True, False], Fraction(1),
                 id="decimals"),
    # 3 positives x 2 negatives = 6 pairs: 0.7>0.3, 0.7>0.6, 0.5>0.3, 0.5<0.6, 0.2<both.
    pytest.param([0.7, 0.3, 0.5, 0.6, 0.2], [True, False, True, False, True], Fraction(1, 2),
                 id="mixed-one-half"),
])
def test_auc_by_hand(scores: list[float], outcomes: list[bool], expected: Fraction) -> None:
    assert auc(scores, outcomes) == expected


@pytest.mark.parametrize(("scores", "outcomes", "message"), [
    pytest.param([1, 2], [True, True], "at least one positive and one negative", id="no-neg"),
    pytest.param([1, 2], [False, False], "at least one positive and one negative", id="no-pos"),
    pytest.param([1], [True, False], "differ in length", id="lengths"),
])
def test_auc_refuses_undefined_cases(scores: list[int], outcomes: list[bool],
                                     message: str) -> None:
    with pytest.raises(ValueError, match=message):
        auc(scores, outcomes)


@pytest.mark.parametrize(("earlier", "later", "months"), [
    pytest.param(date(2026, 1, 15), date(2026, 1, 31), 0, id="same-month"),
    pytest.param(date(2026, 1, 15), date(2026, 2, 14), 0, id="a-day-short"),
    pytest.param(date(2026, 1, 15), date(2026, 2, 15), 1, id="one-month"),
    pytest.param(date(2025, 11, 30), date(2026, 11, 30), 12, id="a-year"),
    pytest.param(date(2026, 3, 1), date(2026, 2, 1), 0, id="future-is-zero"),
])
def test_months_between(earlier: date, later: date, months: int) -> None:
    assert months_between(earlier, later) == months


@pytest.mark.parametrize(("income", "last", "dsr", "since"), [
    pytest.param(D("8000.00"), date(2026, 5, 3), D("0.2500"), 6, id="income-and-history"),
    pytest.param(None, None, None, None, id="income-unknown-never-late"),
    pytest.param(D("0.00"), None, None, None, id="zero-income-is-unknown"),
    pytest.param(D("3000.00"), date(2026, 11, 1), D("0.6667"), 0, id="rounded-ratio"),
])
def test_features_from_record(income: Decimal | None, last: date | None, dsr: Decimal | None,
                              since: int | None) -> None:
    features = features_from_record(
        as_of=date(2026, 11, 30), late_instalments_12m=2, max_days_past_due=17,
        last_delinquency=last, instalment=D("2000.00"), monthly_income=income)
    assert features == RiskFeatures(late_instalments_12m=2, max_days_past_due=17,
                                    months_since_delinquency=since, debt_service_ratio=dsr)


def test_generated_portfolio_is_deterministic_and_varied() -> None:
    first, again = generate_portfolio(500, seed=7), generate_portfolio(500, seed=7)
    assert first == again
    assert first != generate_portfolio(500, seed=8)
    missed = sum(loan.missed for loan in first)
    assert 20 < missed < 120  # about one in nine
    assert any(loan.features.debt_service_ratio is None for loan in first)
    assert any(loan.features.months_since_delinquency is None for loan in first)
    assert max(loan.features.late_instalments_12m for loan in first) >= 3


def test_auc_on_the_generated_portfolio_is_well_above_chance() -> None:
    """Acceptance: the shipped model ranks customers who then miss above those who pay."""
    result = evaluate(POLICY, loans=10_000, seed=7)
    assert float(result.auc) == pytest.approx(0.7147, abs=0.0001)
    assert result.auc > Fraction(7, 10)
    # Not above what the hidden risk itself allows.
    assert result.auc < result.oracle_auc
    # The flag concentrates risk: those reminded miss far more often than the others.
    assert result.missed_rate_flagged > 3 * result.missed_rate_not_flagged
