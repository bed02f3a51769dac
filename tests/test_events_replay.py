"""`overdue events replay FILE.jsonl`: a batch of core-banking events, as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.case import workflow_id_for
from overdue.demo import due_soon_events
from overdue.storage.models import CoreBankingEventRecord
from tests.factories import missed_event, new_loan_id, payment_event

pytestmark = pytest.mark.devserver


async def test_replay_feeds_a_file_and_reports_every_line(
        dev_env: WorkflowEnvironment, database_url: str,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    now = datetime.now(UTC)
    loans = [new_loan_id() for _ in range(5)]
    lines = [missed_event(loan, date(2026, 11, 20), "100.00", now).model_dump_json()
             for loan in loans]
    lines.append(payment_event(loans[0], "40.00", now).model_dump_json())
    lines.append(lines[1])  # core banking re-sent one event in the same batch
    lines.append('{"type": "payment.received", "event_id": "x"}')  # broken line
    lines.append(json.dumps(due_soon_events(1)[0]))  # a performing loan: no case
    lines.append("")
    batch = tmp_path / "month-end.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")

    env = {**os.environ, "OVERDUE_DATABASE__URL": database_url,
           "OVERDUE_TEMPORAL__ADDRESS": dev_env.client.service_client.config.target_host,
           "OVERDUE_TEMPORAL__TASK_QUEUE": "replay-no-worker", "OVERDUE_LOG_LEVEL": "WARNING"}
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "overdue"), "events", "replay", str(batch),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=120)
    out, err = stdout.decode(), stderr.decode()

    assert process.returncode == 1, (out, err)  # one line was invalid
    assert ("9 read, 6 accepted, 1 recorded for early warning, 1 duplicate, 0 conflicting, "
            "0 for closed loans (kept), 1 invalid, 0 failed") in out
    assert "line 8: occurred_at: Field required" in err
    assert "month-end.jsonl: 100%" in err  # the progress bar ran to the end
    for loan in loans:
        described = await dev_env.client.get_workflow_handle(workflow_id_for(loan)).describe()
        assert described.workflow_type == "LoanDelinquency"
    async with sessions() as session:
        delivered = await session.scalar(
            select(func.count()).select_from(CoreBankingEventRecord)
            .where(CoreBankingEventRecord.status == "delivered"))
    assert delivered == 7


def test_json_lines_are_exact(tmp_path: Path) -> None:
    """Amounts survive the file round trip as exact decimals."""
    event = missed_event(new_loan_id(), date(2026, 11, 20), "0.10", datetime.now(UTC))
    assert json.loads(event.model_dump_json())["instalment"]["amount_due"] == "0.10"
