"""The Temporal worker: every workflow and activity of a collections case.

Run with ``overdue worker`` (or ``python worker.py``). Scale by running more of these
against the same task queue; Temporal spreads the cases.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import structlog
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.aftercare import AftercareActivities
from activities.calendar import CalendarActivities
from activities.cases import CaseActivities
from activities.contacts import CallbackUrls, ContactActivities
from activities.early_warning import EarlyWarningActivities
from activities.legal import LegalActivities
from activities.negotiation import NegotiationActivities
from activities.policy import PolicyActivities
from overdue.business_days import BusinessCalendar
from overdue.clients.contact_centre import ContactCentreClient
from overdue.clients.email import EmailClient
from overdue.clients.legal import LegalSystemClient
from overdue.clients.sms import SmsGatewayClient
from overdue.early_warning import ensure_early_warning_schedule
from overdue.logs import configure_logging
from overdue.policy_file import load_policy
from overdue.settings import Settings, get_settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.temporal import connect, metrics_runtime
from workflows.aftercare import AftercareWorkflow
from workflows.early_warning import EarlyWarningSweepWorkflow, PreDueReminderWorkflow
from workflows.legal_case import LegalCaseWorkflow
from workflows.loan_delinquency import LoanDelinquencyWorkflow
from workflows.negotiation import NegotiationWorkflow
from workflows.runner import workflow_runner

log = structlog.get_logger(__name__)

WORKFLOWS: Sequence[type] = (LoanDelinquencyWorkflow, NegotiationWorkflow, LegalCaseWorkflow,
                             AftercareWorkflow, EarlyWarningSweepWorkflow, PreDueReminderWorkflow)


@asynccontextmanager
async def build_activities(settings: Settings, client: Client | None = None
                           ) -> AsyncIterator[list[Any]]:
    """The activity callables with their clients; closed when the worker stops."""
    async with AsyncExitStack() as stack:
        engine = create_engine(settings.database)
        stack.push_async_callback(engine.dispose)
        sessions = create_sessionmaker(engine)
        sms = await stack.enter_async_context(SmsGatewayClient.open(settings.sms))
        contact_centre = await stack.enter_async_context(
            ContactCentreClient.open(settings.contact_centre))
        legal_system = await stack.enter_async_context(LegalSystemClient.open(settings.legal))
        calendar = BusinessCalendar.load(settings.policy.calendar_overrides)
        policy = PolicyActivities(settings.policy.path)
        public = settings.intake.public_url.rstrip("/")
        contacts = ContactActivities(
            sessions, sms, EmailClient(settings.smtp), contact_centre,
            settings.contacts.recipient_key_secret.get_secret_value().encode(),
            CallbackUrls(sms_receipts=f"{public}/v1/webhooks/sms-receipts",
                         contact_centre=f"{public}/v1/webhooks/contact-centre"))
        cases = CaseActivities(sessions)
        negotiation = NegotiationActivities(sessions, calendar)
        legal = LegalActivities(sessions, legal_system, f"{public}/v1/webhooks/legal")
        aftercare = AftercareActivities(
            sessions, sms, EmailClient(settings.smtp),
            settings.contacts.recipient_key_secret.get_secret_value().encode(), public)
        early_warning = EarlyWarningActivities(sessions, client)
        yield [
            early_warning.load_due_instalments,
            early_warning.record_early_warnings,
            early_warning.start_pre_due_reminders,
            early_warning.record_pre_due_reminder,
            aftercare.send_survey,
            aftercare.send_follow_up,
            legal.request_legal_review,
            legal.file_suit,
            legal.request_enforcement,
            legal.raise_legal_reminder,
            legal.record_legal_case,
            negotiation.load_loan_position,
            negotiation.build_options,
            negotiation.record_negotiation,
            negotiation.record_negotiation_event,
            negotiation.save_agreement,
            negotiation.record_promise,
            policy.load_policy,
            CalendarActivities(calendar).contact_instant,
            contacts.plan_contact,
            contacts.send_sms_reminder,
            contacts.send_email_reminder,
            contacts.create_call_task,
            contacts.assign_representative,
            contacts.close_assignment,
            cases.record_case,
            cases.record_bucket_change,
        ]


@asynccontextmanager
async def running_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    async with build_activities(settings, client) as activities:
        worker = Worker(
            client,
            task_queue=settings.temporal.task_queue,
            workflows=list(WORKFLOWS),
            activities=activities,
            max_cached_workflows=settings.temporal.max_cached_workflows,
            max_concurrent_activities=settings.temporal.max_concurrent_activities,
            workflow_runner=workflow_runner(settings.temporal.share_workflow_modules),
        )
        async with worker:
            yield worker


async def run_worker(settings: Settings) -> None:
    # Refuse to start on a broken policy: better a clear error now than failing cases later.
    policy = load_policy(settings.policy.path)
    runtime = (metrics_runtime(settings.metrics.bind_address)
               if settings.metrics.bind_address else None)
    client = await connect(settings.temporal, runtime=runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        schedule = await ensure_early_warning_schedule(client, policy,
                                                       settings.temporal.task_queue)
        log.info("early-warning schedule " + schedule, run_at=str(
            policy.early_warning.run_at) if policy.early_warning else None)
    except RPCError as exc:
        # Not fatal: the cases need the worker more than the sweep needs its schedule.
        log.warning("early-warning schedule not set", error=str(exc))
    async with running_worker(client, settings), health_server(
            client, settings.metrics.worker_health_address):
        log.info("worker started", task_queue=settings.temporal.task_queue,
                 policy_version=policy.version, temporal=settings.temporal.address,
                 metrics=settings.metrics.bind_address)
        await stop.wait()
        log.info("worker stopping")


@asynccontextmanager
async def health_server(client: Client, address: str | None) -> AsyncIterator[None]:
    """``GET /healthz`` (the process runs) and ``GET /readyz`` (Temporal answers), for
    orchestrators; a worker has no other HTTP surface."""
    if not address:
        yield
        return
    host, _, port = address.rpartition(":")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await asyncio.wait_for(reader.readline(), 5)).decode(
                "latin-1", errors="replace")
            path = request_line.split(" ")[1] if request_line.count(" ") >= 2 else ""
            status, body = "404 Not Found", b'{"status": "not found"}'
            if path == "/healthz":
                status, body = "200 OK", b'{"status": "ok"}'
            elif path == "/readyz":
                try:
                    await asyncio.wait_for(client.service_client.check_health(), 5)
                    status, body = "200 OK", b'{"status": "ready"}'
                except Exception:
                    status, body = "503 Service Unavailable", b'{"status": "unready"}'
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                         .encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host or "127.0.0.1", int(port))
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
