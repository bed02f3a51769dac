"""Fault injection with real processes: the worker is SIGKILLed in the middle of cases and
restarted; every case still reaches its outcome, no message goes out twice, no event is
lost, no workflow is duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from tests.conftest import Outside, intake_for, make_settings, policy_variant
from tests.factories import missed_event, new_loan_id, payment_event

pytestmark = pytest.mark.devserver
BIN = Path(sys.executable).parent
CASES = 8


@contextmanager
def worker_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen([str(BIN / "overdue"), "worker"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_worker_killed_mid_cases_then_restarted(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    if "postgresql" in database_url:
        pytest.skip("one database is enough for a process-level fault test")
    # A case day lasts one second: the ladder runs within seconds.
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, time_scale=86_400))
    env = {**os.environ,
           "OVERDUE_DATABASE__URL": database_url,
           "OVERDUE_TEMPORAL__ADDRESS": dev_env.client.service_client.config.target_host,
           "OVERDUE_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
           "OVERDUE_SMS__URL": outside.sms_url,
           "OVERDUE_SMTP__HOST": outside.smtp.host, "OVERDUE_SMTP__PORT": str(outside.smtp.port),
           "OVERDUE_CONTACT_CENTRE__URL": outside.cc_url,
           "OVERDUE_POLICY__PATH": str(settings.policy.path),
           "OVERDUE_METRICS__BIND_ADDRESS": "", "OVERDUE_METRICS__WORKER_HEALTH_ADDRESS": "",
           "OVERDUE_LOG_FORMAT": "json"}
    intake = intake_for(dev_env.client, sessions, settings)
    now = datetime.now(UTC)
    due = now.astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
    loans = [new_loan_id() for _ in range(CASES)]
    log = tmp_path / "worker.log"

    with worker_process(env, log) as first:
        for loan in loans:
            assert (await intake.ingest(missed_event(loan, due, "210.00", now))).status == \
                "accepted"
        await asyncio.sleep(3)  # reminders are going out
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL
    # Core banking keeps sending while no worker runs: nothing is lost.
    for loan in loans:
        await intake.ingest(payment_event(loan, "10.00", datetime.now(UTC)))
    with worker_process(env, log):
        await asyncio.sleep(4)
        for loan in loans:
            await intake.ingest(payment_event(loan, "200.00", datetime.now(UTC)))
        outcomes = await asyncio.wait_for(asyncio.gather(*(
            dev_env.client.get_workflow_handle(workflow_id_for(loan),
                                               result_type=CaseOutcome).result()
            for loan in loans)), timeout=120)
        views = [await dev_env.client.get_workflow_handle(workflow_id_for(loan)).query(
            QUERY_STATE, result_type=CaseView) for loan in loans]

    assert [o.outcome for o in outcomes] == ["cured"] * CASES
    assert all(o.paid_total == 210 for o in outcomes)  # both payments of every case arrived
    async with httpx.AsyncClient() as http:
        sms = (await http.get(f"{outside.sms_url}/v1/messages")).json()
    keys = Counter(m["idempotency_key"] for m in sms
                   if str(m["idempotency_key"]).split(":")[0] in loans)
    assert keys and max(keys.values()) == 1, "a message went out twice"
    for loan, view in zip(loans, views, strict=True):
        sent = [c.idempotency_key for c in view.contacts if c.channel == "sms"
                and c.status in ("sent", "delivered")]
        assert set(sent) <= set(keys), f"{loan}: an SMS the case counts is not in the gateway"
        # Visibility is eventually consistent: give it a moment to list the case.
        for _ in range(50):
            executions = [w async for w in dev_env.client.list_workflows(
                f'LoanId = "{loan}"')]
            if executions:
                break
            await asyncio.sleep(0.1)
        assert len(executions) == 1, f"{loan}: {len(executions)} workflows"
