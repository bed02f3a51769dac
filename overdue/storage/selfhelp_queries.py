"""What the repayment calculator needs about one loan: its case's arrears and the contract rate.

Read-only; used by ``overdue calc LOAN_ID``. Ids, dates and amounts only, no personal data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, select
from sqlalchemy.ext.asyncio import AsyncSession

from overdue.storage.models import CollectionCase, Loan


@dataclass(frozen=True)
class CalculatorInputs:
    loan_id: str
    case_ref: str
    stage: str
    outcome: str | None
    """None while the case is open."""
    arrears: Decimal
    oldest_unpaid_due_date: date | None
    annual_rate: Decimal | None
    """The contract rate as a fraction; None if the loan's snapshot is missing."""
    currency: str | None

    @property
    def is_open(self) -> bool:
        return self.outcome is None


async def calculator_inputs(session: AsyncSession, loan_id: str) -> CalculatorInputs | None:
    """The loan's open case (the most recently updated one), else its latest case, else None.

    The loan snapshot is joined when it exists; a case without one has no rate or currency.
    """
    open_first = case((CollectionCase.outcome.is_(None), 0), else_=1)
    stmt = (
        select(CollectionCase, Loan)
        .outerjoin(Loan, Loan.loan_id == CollectionCase.loan_id)
        .where(CollectionCase.loan_id == loan_id)
        .order_by(open_first, CollectionCase.updated_at.desc(),
                  CollectionCase.opened_at.desc(), CollectionCase.case_ref.desc())
        .limit(1)
    )
    row = (await session.execute(stmt)).first()
    if row is None:
        return None
    found: CollectionCase = row[0]
    loan: Loan | None = row[1]
    return CalculatorInputs(
        loan_id=found.loan_id, case_ref=found.case_ref, stage=found.stage,
        outcome=found.outcome, arrears=found.arrears,
        oldest_unpaid_due_date=found.oldest_unpaid_due_date,
        annual_rate=loan.annual_rate if loan is not None else None,
        currency=loan.currency if loan is not None else None,
    )
