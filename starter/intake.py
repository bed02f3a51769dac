"""Turns core-banking events into signals to the loan's workflow.

Order of work, so nothing is lost or done twice:
1. validate (a bad event is refused with 422 and leaves no trace);
2. record the event id and the customer/loan snapshot in one transaction;
3. signal-with-start ``loan-<loan_id>`` (the workflow ignores an event id it has seen);
4. mark the event delivered (concurrent events share the transaction) and answer.
A re-delivered event whose record says *delivered* has no effect; one still *received*
(step 3 failed last time) is signalled again.

``instalment.due_soon`` opens no case: its snapshot and repayment record are stored and the
event marked delivered in the one transaction (status ``recorded``), for the early-warning
sweep to score.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from domain.case import (
    SIGNAL_CORE_BANKING_EVENT,
    WORKFLOW_TYPE,
    CaseInput,
    workflow_id_for,
)
from domain.events import AnyEvent, CaseBoundEvent, InstalmentDueSoon, loan_id_of
from overdue.storage.intake_records import Admission, admit_event, mark_events_delivered
from overdue.storage.repository import payload_digest
from workflows import search_attributes as sa

log = structlog.get_logger(__name__)

IngestStatus = Literal["accepted", "recorded", "duplicate", "conflict", "loan_closed"]


@dataclass(frozen=True)
class IngestResult:
    event_id: str
    workflow_id: str | None
    """The loan's case workflow; ``None`` for an event that opens no case (due soon)."""
    status: IngestStatus


_ANSWERED_AT_ONCE: dict[Admission, tuple[IngestStatus, str, str]] = {
    "conflict": ("conflict", "warning", "event id reused with different content"),
    "delivered": ("duplicate", "info", "duplicate event ignored"),
    # Core banking closed this loan and its case ended so: the event is kept (nothing is
    # lost) but chases nobody; a new case is not opened.
    "loan_closed": ("loan_closed", "warning", "event for a closed loan kept, not delivered"),
    "recorded": ("recorded", "info", "instalment due soon recorded for early warning"),
}
"""What recording found that needs no signal: the answer, and how it is logged."""


class DeliveryMarks:
    """Marks events delivered, many to a transaction.

    Under load many signal-with-starts complete at once; one transaction marking them all
    costs the database about what one mark did alone. Each caller still waits until its
    own mark is committed (or fails with the database's error), so an answer means what it
    did when every event had its own transaction.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._waiting: list[tuple[str, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def mark(self, event_id: str) -> None:
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer.done() or self._writer.get_loop() is not loop:
            # Marks left waiting on an event loop that is gone cannot be answered: their
            # events stay 'received', and a re-delivery signals them again.
            self._waiting = [(event, fut) for event, fut in self._waiting
                             if fut.get_loop() is loop]
            self._writer = loop.create_task(self._write())
        committed = loop.create_future()
        self._waiting.append((event_id, committed))
        await committed

    async def _write(self) -> None:
        try:
            # Marks that arrive while a transaction runs go together in the next one.
            while self._waiting:
                batch, self._waiting = self._waiting, []
                try:
                    async with self._sessions() as session:
                        await mark_events_delivered(session, [event_id for event_id, _ in batch])
                except Exception as exc:
                    for _, committed in batch:
                        if not committed.done():
                            committed.set_exception(exc)
                else:
                    for _, committed in batch:
                        if not committed.done():
                            committed.set_result(None)
        finally:
            self._writer = None


class IntakeService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client,
                 task_queue: str) -> None:
        self._sessions = sessions
        self._client = client
        self._task_queue = task_queue
        self._delivery_marks = DeliveryMarks(sessions)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    async def ingest(self, event: AnyEvent, raw: bytes | None = None) -> IngestResult:
        loan_id = loan_id_of(event)
        workflow_id = workflow_id_for(loan_id)
        digest = payload_digest(raw if raw is not None else
                                event.model_dump_json(exclude_none=True).encode())
        bound = log.bind(event_id=event.event_id, loan_id=loan_id, event_type=event.type)
        case_workflow = None if isinstance(event, InstalmentDueSoon) else workflow_id
        async with self._sessions() as session:
            admission = await admit_event(session, event, workflow_id, digest, loan_id)
        if admission in _ANSWERED_AT_ONCE:
            status, level, message = _ANSWERED_AT_ONCE[admission]
            getattr(bound, level)(message)
            return IngestResult(event.event_id, case_workflow, status)
        assert isinstance(event, CaseBoundEvent)

        await self._signal_with_start(workflow_id, loan_id, event)
        await self._delivery_marks.mark(event.event_id)
        bound.info("event delivered", workflow_id=workflow_id,
                   redelivery=admission == "pending")
        return IngestResult(event.event_id, workflow_id, "accepted")

    async def _signal_with_start(self, workflow_id: str, loan_id: str,
                                 event: CaseBoundEvent) -> None:
        await self._client.start_workflow(
            WORKFLOW_TYPE,
            CaseInput(loan_id=loan_id),
            id=workflow_id,
            task_queue=self._task_queue,
            start_signal=SIGNAL_CORE_BANKING_EVENT,
            start_signal_args=[event.case_event()],
            search_attributes=TypedSearchAttributes([
                SearchAttributePair(sa.LOAN_ID, loan_id),
                SearchAttributePair(sa.CASE_STAGE, "opened"),
            ]),
            static_summary=f"Collections case for loan {loan_id}",
        )
