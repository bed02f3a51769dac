"""The worker's health endpoints and its Prometheus metrics, business counters included."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.case import CaseOutcome, workflow_id_for
from overdue.temporal import metrics_runtime
from tests.conftest import CONVERTER, Outside, case_worker, intake_for, make_settings
from tests.factories import missed_event, new_loan_id, payment_event
from tests.servers import free_port
from worker import health_server


async def test_worker_health_and_readiness(fresh_ts_env: WorkflowEnvironment) -> None:
    address = f"127.0.0.1:{free_port()}"
    async with health_server(fresh_ts_env.client, address), httpx.AsyncClient() as http:
        healthz = await http.get(f"http://{address}/healthz")
        readyz = await http.get(f"http://{address}/readyz")
        missing = await http.get(f"http://{address}/metrics")
    assert (healthz.status_code, healthz.json()) == (200, {"status": "ok"})
    assert (readyz.status_code, readyz.json()) == (200, {"status": "ready"})
    assert missing.status_code == 404


async def test_prometheus_exports_sdk_metrics_and_business_counters(
        fresh_ts_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    bind = f"127.0.0.1:{free_port()}"
    client = await Client.connect(fresh_ts_env.client.service_client.config.target_host,
                                  namespace=fresh_ts_env.client.namespace,
                                  data_converter=CONVERTER,
                                  runtime=metrics_runtime(bind))
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}")
    intake = intake_for(fresh_ts_env.client, sessions, settings)
    loan_id = new_loan_id()
    now = await fresh_ts_env.get_current_time()
    async with case_worker(client, settings):
        await intake.ingest(missed_event(loan_id, (now - timedelta(days=1)).date(), "66.00",
                                         now))
        await fresh_ts_env.sleep(timedelta(days=6))
        await intake.ingest(payment_event(loan_id, "66.00", await fresh_ts_env.get_current_time()))
        outcome = await fresh_ts_env.client.get_workflow_handle(
            workflow_id_for(loan_id), result_type=CaseOutcome).result()
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://{bind}/metrics")).text
    assert outcome.outcome == "cured"
    contacts = [line for line in text.splitlines()
                if line.startswith("overdue_contacts_total{")]
    assert any('channel="sms"' in line and 'result="sent"' in line for line in contacts), contacts
    assert "overdue_stage_transitions_total" in text and 'stage="cured"' in text
    assert "temporal_workflow_completed" in text  # the SDK's own metrics, same endpoint
