"""Reads for the aftercare report."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from overdue.storage.models import Survey


async def survey_summary(session: AsyncSession) -> list[tuple[str, int, int, str, str]]:
    """Per outcome: surveys sent, answered, average rating, share who felt treated fairly."""
    answered = func.count(Survey.answered_at)
    rows = (await session.execute(
        select(Survey.outcome, func.count(Survey.sent_at), answered, func.avg(Survey.rating),
               func.sum(case((Survey.treated_fairly.is_(True), 1), else_=0)))
        .group_by(Survey.outcome).order_by(Survey.outcome))).all()
    report = []
    for outcome, sent, replied, rating, fair in rows:
        report.append((outcome, int(sent), int(replied),
                       f"{float(rating):.2f}" if rating is not None else "-",
                       f"{100 * int(fair or 0) / replied:.0f}%" if replied else "-"))
    return report
