"""History events of one case over a simulated year with a core-banking event every day.

    .venv/bin/python -m bench.history_per_case_year

A loan misses an instalment of 10,000.00 and pays 1.00 every day for a year (never
enough), so the case walks the reminder ladder, escalates, runs negotiation rounds that
fail by silence, and waits. Activities are the recorder's stand-ins (their results are all
a history keeps). Prints one JSON line: events per run of the case workflow and of each
child (negotiation rounds, legal case), the largest single run (the figure continue-as-new
bounds), and the total per case-year beside the floor Temporal itself sets: a workflow that
does nothing but receive the same 365 signals.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.negotiation import NegotiationActivities
from bench.noop import NoopWorkflow
from overdue.business_days import BusinessCalendar
from tests.conftest import CONVERTER, register_search_attributes
from tests.factories import missed_event, new_loan_id, payment_event
from tests.histories.record import POLICY, STUBS, start
from workflows.aftercare import AftercareWorkflow
from workflows.legal_case import LegalCaseWorkflow
from workflows.loan_delinquency import LoanDelinquencyWorkflow
from workflows.negotiation import NegotiationWorkflow
from workflows.runner import workflow_runner

DAYS = 365


async def count_events(env: WorkflowEnvironment, workflow_id: str) -> list[int]:
    """Events of every run of ``workflow_id``, oldest run first."""
    counts: list[int] = []
    handle = env.client.get_workflow_handle(workflow_id)
    run_id: str | None = (await handle.describe()).run_id
    seen: set[str] = set()
    while run_id and run_id not in seen:
        seen.add(run_id)
        events = [e async for e in env.client.get_workflow_handle(
            workflow_id, run_id=run_id).fetch_history_events()]
        counts.append(len(events))
        first = events[0].workflow_execution_started_event_attributes
        run_id = first.continued_execution_run_id or None
    return list(reversed(counts))


async def main() -> dict[str, Any]:
    started = time.monotonic()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(Path(sys.executable).parent / "temporal-test-server"),
        data_converter=CONVERTER)
    try:
        await register_search_attributes(env.client)
        business = BusinessCalendar.load(POLICY.parent / "none.toml")
        tq = f"bench-{uuid.uuid4()}"
        async with Worker(env.client, task_queue=tq,
                          workflows=[LoanDelinquencyWorkflow, NegotiationWorkflow,
                                     LegalCaseWorkflow, AftercareWorkflow, NoopWorkflow],
                          activities=[*STUBS, CalendarActivities(business).contact_instant,
                                      NegotiationActivities(None, business).build_options],  # type: ignore[arg-type]
                          workflow_runner=workflow_runner()):
            now = await env.get_current_time()
            loan_id = new_loan_id()
            handle = await start(env.client, tq, loan_id, missed_event(
                loan_id, (now - timedelta(days=1)).date(), "10000.00", now))
            for _ in range(DAYS):
                await env.sleep(timedelta(days=1))
                await handle.signal("core_banking_event", payment_event(
                    loan_id, "1.00", await env.get_current_time()).case_event())
            runs = await count_events(env, handle.id)
            children: dict[str, list[int]] = {}
            for prefix in ("negotiation", "legal"):
                for n in range(1, 20):
                    child_id = f"{prefix}-{loan_id}-{n}"
                    try:
                        children[child_id] = await count_events(env, child_id)
                    except Exception:  # no such round
                        break
            floor = await signal_floor(env.client, tq)
    finally:
        await env.shutdown()
    per_run = [*runs, *(n for counts in children.values() for n in counts)]
    return {"history_events_per_case_year": sum(per_run),
            "history_events_max_per_run": max(per_run),
            "case_events_per_run": runs, "case_runs": len(runs), "case_events": sum(runs),
            "child_events_per_run": children,
            "signal_floor_events_per_year": floor,
            "simulated_days": DAYS, "seconds": round(time.monotonic() - started, 1)}


async def signal_floor(client: Client, task_queue: str) -> int:
    """Events of a do-nothing workflow that receives one signal a day for DAYS days."""
    handle = await client.start_workflow(NoopWorkflow.run, id=f"floor-{uuid.uuid4()}",
                                         task_queue=task_queue)
    for day in range(DAYS):
        await handle.signal(NoopWorkflow.tick, str(day))
        await handle.describe()  # one workflow task per signal, as with a daily event
    await handle.signal(NoopWorkflow.stop)
    await handle.result()
    return len([e async for e in handle.fetch_history_events()])

if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
