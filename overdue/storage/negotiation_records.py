"""Writes of the negotiation stage: rounds, their events, agreements. Idempotent by key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from activities.contracts import NegotiationEventRecord, NegotiationRecord, PromiseRecord
from domain.negotiation import AgreementView
from overdue.storage.models import Agreement, Negotiation, NegotiationEvent, PromiseToPay
from overdue.storage.repository import insert_for_dialect, utcnow


async def upsert_negotiation(session: AsyncSession, record: NegotiationRecord) -> None:
    now = utcnow()
    values = dict(loan_id=record.loan_id, case_ref=record.case_ref, round=record.round,
                  negotiator=record.negotiator, status=record.status,
                  failure_reason=record.failure_reason,
                  ended_at=now if record.ended else None)
    stmt = insert_for_dialect(session, Negotiation).values(
        negotiation_id=record.negotiation_id, arrears_at_start=record.arrears, started_at=now,
        **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["negotiation_id"],
                                                     set_=values))


async def insert_event(session: AsyncSession, event: NegotiationEventRecord) -> None:
    stmt = insert_for_dialect(session, NegotiationEvent).values(
        event_key=f"{event.negotiation_id}:{event.sequence}",
        negotiation_id=event.negotiation_id, loan_id=event.loan_id, sequence=event.sequence,
        kind=event.kind, actor=event.actor, at=event.at,
        detail=event.model_dump(mode="json")["detail"])
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["event_key"]))


async def upsert_agreement(session: AsyncSession, agreement: AgreementView) -> None:
    option = agreement.option
    settled = agreement.status in ("kept", "broken")
    values = dict(status=agreement.status, approved_by=agreement.approved_by,
                  settled_at=utcnow() if settled else None)
    stmt = insert_for_dialect(session, Agreement).values(
        agreement_id=agreement.agreement_id, negotiation_id=agreement.negotiation_id,
        loan_id=agreement.loan_id,
        option_kind=option.kind, params=dict(option.params),
        new_instalment=option.effect.new_instalment, total_cost=option.effect.total_cost,
        instalments=len(option.schedule),
        schedule={"rows": [row.model_dump(mode="json") for row in option.schedule]},
        proposed_by=agreement.proposed_by, agreed_at=agreement.agreed_at, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["agreement_id"],
                                                     set_=values))


async def upsert_promise(session: AsyncSession, record: PromiseRecord) -> None:
    now = utcnow()
    values = dict(status=record.status, received=record.received,
                  settled_at=now if record.status != "open" else None)
    stmt = insert_for_dialect(session, PromiseToPay).values(
        promise_key=record.promise_key, loan_id=record.loan_id, source=record.source,
        made_by=record.made_by, amount=record.amount, due_date=record.due_date, made_at=now,
        **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["promise_key"],
                                                     set_=values))
