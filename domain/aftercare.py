"""What the aftercare workflow receives. No personal data."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.policy import Policy

WORKFLOW_AFTERCARE = "Aftercare"
SURVEYED_OUTCOMES = frozenset({"cured", "restructured", "settled", "recovered"})
"""Customers who settled with the bank are asked; written-off or transferred loans and
plain closures are not."""


def aftercare_id_for(case_ref: str) -> str:
    return f"aftercare-{case_ref}"


class AftercareInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    loan_id: str
    case_ref: str
    outcome: str
    policy: Policy
    closed_at_real: datetime
