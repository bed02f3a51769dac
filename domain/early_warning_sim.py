"""A generated portfolio with known outcomes, to measure the early-warning model.

Each loan gets a hidden (latent) risk ``r ~ N(0, 1)``. What the bank can see is a noisy
consequence of it: more late instalments, deeper and more recent past delinquency, a
heavier debt-service ratio. Whether the customer then misses the coming instalment is
drawn from ``P(miss) = 1 / (1 + exp(-(BASE + SLOPE * r)))``, which the model never sees.
The model's weights come from the policy and are not fitted to this generator, so its
AUC here says how well the policy ranks customers by a risk it cannot observe directly.

Deterministic for a given seed (its own ``random.Random``); no I/O, no clock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from domain.early_warning import RiskFeatures

BASE_LOG_ODDS = -2.6
"""About 10% of customers miss the instalment at average latent risk."""
SLOPE = 1.3
"""How strongly the latent risk drives the outcome."""
INCOME_KNOWN_SHARE = 0.85


@dataclass(frozen=True)
class GeneratedLoan:
    loan_number: int
    latent_risk: float
    features: RiskFeatures
    missed: bool


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def generate_loan(rng: random.Random, number: int) -> GeneratedLoan:
    risk = rng.gauss(0.0, 1.0)
    late = min(_poisson(rng, math.exp(-1.1 + 1.0 * risk)), 12)
    # Delinquent at some point in the past: always when late lately, else by risk.
    ever = late > 0 or rng.random() < _sigmoid(-1.8 + 0.9 * risk)
    if ever:
        max_dpd = 1 + int(rng.expovariate(1 / (10 * math.exp(0.6 * risk))))
        months = rng.randint(0, 11) if late > 0 else rng.randint(12, 60)
    else:
        max_dpd, months = 0, None
    dsr: Decimal | None = None
    if rng.random() < INCOME_KNOWN_SHARE:
        ratio = math.exp(rng.gauss(math.log(0.28) + 0.3 * risk, 0.3))
        dsr = Decimal(str(round(ratio, 4)))
    missed = rng.random() < _sigmoid(BASE_LOG_ODDS + SLOPE * risk)
    return GeneratedLoan(
        loan_number=number, latent_risk=risk,
        features=RiskFeatures(late_instalments_12m=late, max_days_past_due=max_dpd,
                              months_since_delinquency=months, debt_service_ratio=dsr),
        missed=missed)


def generate_portfolio(loans: int, seed: int) -> list[GeneratedLoan]:
    if loans < 1:
        raise ValueError("loans must be at least 1")
    rng = random.Random(seed)
    return [generate_loan(rng, number) for number in range(1, loans + 1)]


__all__ = ["GeneratedLoan", "generate_loan", "generate_portfolio"]
