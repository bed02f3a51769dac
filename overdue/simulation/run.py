"""The strategy simulator: the same synthetic portfolio through the real workflows under a
champion and a challenger policy, each on its own time-skipping Temporal server.

For each policy: a fresh migrated SQLite database, the sandboxes of the outside world (SMS
gateway, SMTP sink, contact centre, legal system; each its own process, in memory), the
intake app serving the webhooks (so SMS receipts and call outcomes come back as they do in
production), and the real worker (``worker.running_worker``) with that policy. The
``instalment.missed`` events of the portfolio go through ``IntakeService.ingest``; then the
case clock moves a day at a time (``env.sleep``) and after each day the customers of
``overdue.simulation.behaviour`` act on what they received (contact attempts from the
database, open phone tasks from the contact centre): payments and hardship flags as
core-banking events through the intake, call outcomes completed in the contact-centre
sandbox (its signed callback reaches the case through the webhook). At the end the KPI
records of the simulated days are loaded (``kpi_queries``) and computed
(``domain.kpis``); ``compare`` puts the two side by side.

Two settings of the policy are changed for the run: ``case.history_budget`` is set to its
maximum, so a case never continues as new (the time-skipping server stops skipping for
good when a child abandoned by a closed run completes), and
``early_stage.delivery_receipt_wait_minutes`` to 0. The SMS sandbox posts its delivery
receipts in real time, so one may reach a case while the server is skipping time; a case
waiting for it would cancel its receipt timer just as the skip fires it, and the
time-skipping server strands a run whose workflow task cancels a timer that fired
meanwhile (temporalio/sdk-java#2606, #3088). The simulated customers' numbers are all
deliverable, so no step would have fallen back to e-mail on a failed receipt.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import socket
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from sqlalchemy import func, select
from temporalio import activity
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.events import AnyEvent, HardshipFlagged, InstalmentMissed, PaymentReceived
from domain.kpis import Comparison, Dimension, KpiReport, compare, compute_kpis
from overdue.clients.contact_centre import ContactCentreSettings
from overdue.clients.email import SmtpSettings
from overdue.clients.legal import LegalSettings
from overdue.codec import CodecSettings, data_converter
from overdue.policy_file import load_policy
from overdue.settings import (
    PROJECT_ROOT,
    DatabaseSettings,
    IntakeSettings,
    MetricsSettings,
    PolicySettings,
    Settings,
    SmsGatewaySettings,
    TemporalSettings,
)
from overdue.simulation.aftercare import OpenEndedAftercareWorkflow
from overdue.simulation.behaviour import (
    CallAnswer,
    Customer,
    CustomerState,
    FlagHardship,
    Pay,
    answer_call,
    portfolio,
    step,
)
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.kpi_queries import load_kpi_records, policy_buckets, policy_zone
from overdue.storage.migrate import upgrade
from overdue.storage.models import CollectionCase, ContactAttempt
from starter.api import create_app
from starter.intake import IntakeService
from starter.webhooks import WebhookService
from worker import WORKFLOWS, build_activities
from workflows import search_attributes as sa
from workflows.aftercare import AftercareWorkflow
from workflows.runner import workflow_runner

BIN = Path(sys.executable).parent
CC_KEY = "sandbox-cc-key"
MAX_HISTORY_BUDGET = 40_000
STALL_MINUTES = 10
"""A simulated day of a thousand cases takes the server well under a minute."""
ACTING_MARGIN = timedelta(seconds=1)
SETTLE = timedelta(minutes=1)
"""Case time skipped after the customers act, so the work they started ends before it."""
START_TIME = clock_time(0, 30)
"""Local time of day at which customers act (before the 09:00 contacts)."""

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: the simulator reports each step."""


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    loans: int = 1000
    days: int = 120
    seed: int = 7
    by: Dimension = "channel"
    concurrency: int = 64
    """Events and call outcomes in flight at once."""
    stall_minutes: float = STALL_MINUTES
    """Give up when the server has not got through a simulated day in this long."""
    workdir: Path | None = None
    """Keep the databases and sandbox logs here (default: a temporary directory)."""


@dataclass(slots=True)
class PolicyRun:
    label: str
    policy_path: Path
    version: str
    start: date
    end: date
    report: KpiReport
    outcomes: dict[str, int]
    """Cases by outcome (closed) or ``open:<stage>``."""
    contacts: dict[str, int]
    """Contacts made (sent, delivered or failed) by channel."""
    collected: Decimal
    payments: int
    promises: int
    hardships: int
    calls_answered: int
    seconds: float


@dataclass(slots=True)
class Simulation:
    champion: PolicyRun
    challenger: PolicyRun
    seconds: float
    comparisons: list[Comparison] = field(default_factory=list)


# --- the case clock ---------------------------------------------------------------------

CLOCK_MODULES = ("overdue.storage.repository", "overdue.storage.negotiation_records",
                 "overdue.storage.legal_records", "starter.survey")
"""The modules whose ``utcnow`` time-stamps the service's records."""


class SimulatedClock:
    """The time-skipping server's time for the records the service writes.

    The service stamps its rows (contact attempts, promises, rounds, legal cases) with the
    process's wall clock (``overdue.storage.repository.utcnow``), which on the
    time-skipping server is not the case clock: the KPIs would put every contact on the
    day the simulation ran. While installed, ``utcnow`` answers the activity's start time
    as the server gave it (inside an activity), else the simulated instant the simulator
    last moved to (intake and webhooks, called between days)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def utcnow(self) -> datetime:
        if activity.in_activity():
            return activity.info().started_time.astimezone(UTC)
        return self.now.astimezone(UTC)

    @contextmanager
    def installed(self) -> Iterator[None]:
        modules = [importlib.import_module(name) for name in CLOCK_MODULES]
        saved = [module.__dict__["utcnow"] for module in modules]
        for module in modules:
            setattr(module, "utcnow", self.utcnow)  # noqa: B010 (not a typed attribute)
        try:
            yield
        finally:
            for module, original in zip(modules, saved, strict=True):
                setattr(module, "utcnow", original)  # noqa: B010


# --- the outside world -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def sandbox_process(module: str, args: list[str], health_url: str,
                          log_path: Path) -> AsyncIterator[None]:
    """``python -m module args`` until the block ends, once ``health_url`` answers."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, "--host", "127.0.0.1", *args, cwd=PROJECT_ROOT,
            env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(trust_env=False, timeout=1) as http:
            while True:
                if process.returncode is not None:
                    raise RuntimeError(f"{module} exited; see {log_path}")
                try:
                    if (await http.get(health_url)).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{module} not healthy after 30 s; see {log_path}")
                await asyncio.sleep(0.1)
        yield
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


@dataclass(frozen=True, slots=True)
class Outside:
    sms_url: str
    smtp: SmtpSettings
    cc_url: str
    legal_url: str


@asynccontextmanager
async def outside_world(workdir: Path) -> AsyncIterator[Outside]:
    """The four sandboxes, in memory (no store file), on free ports."""
    sms, cc, legal, smtp_http, smtp_port = (free_port() for _ in range(5))
    async with AsyncExitStack() as stack:
        for module, args, port in (
                ("sandbox.sms_gateway", ["--port", str(sms)], sms),
                ("sandbox.contact_centre", ["--port", str(cc)], cc),
                ("sandbox.legal_system", ["--port", str(legal)], legal),
                ("sandbox.smtp_sink", ["--smtp-port", str(smtp_port),
                                       "--http-port", str(smtp_http)], smtp_http)):
            await stack.enter_async_context(sandbox_process(
                module, args, f"http://127.0.0.1:{port}/healthz",
                workdir / f"{module.rsplit('.', 1)[1]}.log"))
        yield Outside(sms_url=f"http://127.0.0.1:{sms}",
                      smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_seconds=10),
                      cc_url=f"http://127.0.0.1:{cc}", legal_url=f"http://127.0.0.1:{legal}")


@asynccontextmanager
async def serve_webhooks(settings: Settings, client: Client,
                         intake: IntakeService, webhooks: WebhookService) -> AsyncIterator[None]:
    """The intake app (webhooks for receipts and call outcomes) in this event loop."""
    app = create_app(settings, intake, webhooks)
    port = int(settings.intake.public_url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off",
                                           log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def simulation_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """``worker.running_worker`` with every workflow and activity of the service, except
    that aftercare stays open (``overdue.simulation.aftercare``)."""
    workflows = [OpenEndedAftercareWorkflow if w is AftercareWorkflow else w
                 for w in WORKFLOWS]
    async with build_activities(settings, client) as activities:
        worker = Worker(client, task_queue=settings.temporal.task_queue, workflows=workflows,
                        activities=activities,
                        max_cached_workflows=settings.temporal.max_cached_workflows,
                        max_concurrent_activities=settings.temporal.max_concurrent_activities,
                        workflow_runner=workflow_runner(
                            settings.temporal.share_workflow_modules))
        async with worker:
            yield worker


async def register_search_attributes(client: Client) -> None:
    """The time-skipping server has no flag for them: through the operator service."""
    types = {"Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
             "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
             "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE}
    flags = sa.dev_server_flags()
    wanted = dict(flag.split("=") for flag in flags[1::2])
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={name: types[kind] for name, kind in wanted.items()}))


async def skip_time(env: WorkflowEnvironment, duration: timedelta,
                    stall_minutes: float = STALL_MINUTES) -> None:
    """``env.sleep`` without the RPC's default deadline: a day of a thousand cases takes
    the server longer than that (every timer of the day, and the activities they run)."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    try:
        await env.client.test_service.unlock_time_skipping_with_sleep(
            request, timeout=timedelta(minutes=stall_minutes))
    except RPCError as exc:
        if exc.status != RPCStatusCode.DEADLINE_EXCEEDED and "Timeout" not in str(exc):
            raise
        raise RuntimeError(
            f"the time-skipping server did not get through {duration} of case time in "
            f"{stall_minutes:g} minutes: time skipping stalled (see the worker's errors)"
        ) from exc


async def settle(env: WorkflowEnvironment, stall_minutes: float) -> datetime:
    """The server's time once the work started by the customers' acts is done: skip a
    minute of case time, again while the server crawls through it in real time (busy)
    rather than jumping it (idle). Every timer that work started is then later than the
    answer plus whole days, so it fires during a skip, never while the next day's signals
    are in flight."""
    while True:
        began = time.monotonic()
        await skip_time(env, SETTLE, stall_minutes)
        if time.monotonic() - began < SETTLE.total_seconds() / 2:
            return await env.get_current_time()


def run_policy_file(policy_path: Path, workdir: Path) -> Path:
    """A copy of the policy with the largest history budget and no wait for SMS delivery
    receipts (see the module docstring)."""
    text = policy_path.read_text(encoding="utf-8")
    for section, key, value in (("case", "history_budget", MAX_HISTORY_BUDGET),
                                ("early_stage", "delivery_receipt_wait_minutes", 0)):
        text, n = re.subn(rf"(?m)^{key}\s*=\s*\d+\s*$", f"{key} = {value}", text)
        if n == 0:
            text = re.sub(rf"(?m)^\[{section}\]\s*$", f"[{section}]\n{key} = {value}", text,
                          count=1)
    out = workdir / f"policy-{uuid.uuid4().hex[:8]}.toml"
    out.write_text(text, encoding="utf-8")
    load_policy(out)  # still valid
    return out


def _prepare_workdir(policy_path: Path, workdir: Path) -> tuple[Path, Path]:
    """The run's policy copy and an empty place for its SQLite database."""
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "overdue.db"
    for leftover in (db_path, Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
        leftover.unlink(missing_ok=True)
    return run_policy_file(policy_path, workdir), db_path


# --- events ----------------------------------------------------------------------------


def missed_event(customer: Customer, due: date, at: datetime, seed: int) -> InstalmentMissed:
    amount = str(customer.instalment)
    return InstalmentMissed.model_validate({
        "type": "instalment.missed", "event_id": f"sim-{seed}-{customer.index}-missed",
        "occurred_at": at.isoformat(),
        "loan": {"loan_id": customer.loan_id, "product": "personal-instalment",
                 "branch": "SIM-001", "currency": "CNY",
                 "principal_outstanding": str(customer.instalment * 24),
                 "annual_rate": "0.0435", "instalment_amount": amount,
                 "remaining_instalments": 24},
        "customer": {"customer_id": f"C-{customer.loan_id}", "name": "模拟客户",
                     "phone": customer.phone, "locale": customer.locale,
                     "email": customer.email, "birth_year": customer.birth_year,
                     "preferred_channel": (customer.preferred if customer.states_preference
                                           else None)},
        "instalment": {"number": 6, "due_date": due.isoformat(), "amount_due": amount},
    })


# --- one policy ------------------------------------------------------------------------


@dataclass(slots=True)
class _Counts:
    payments: int = 0
    promises: int = 0
    hardships: int = 0
    calls_answered: int = 0
    collected: Decimal = Decimal("0")


async def run_policy(label: str, policy_path: Path, customers: Sequence[Customer],
                     config: SimulationConfig, start: date, workdir: Path,
                     progress: Progress | None = None) -> PolicyRun:
    began = time.monotonic()
    policy = load_policy(policy_path)
    tz = ZoneInfo(policy.case.timezone)
    run_policy_path, db_path = await asyncio.to_thread(_prepare_workdir, policy_path, workdir)
    database_url = f"sqlite+aiosqlite:///{db_path}"
    await upgrade(database_url)
    counts = _Counts()
    report_phase = progress or (lambda *_: None)

    async with AsyncExitStack() as stack:
        outside = await stack.enter_async_context(outside_world(workdir))
        settings = Settings(
            database=DatabaseSettings(url=database_url),
            sms=SmsGatewaySettings(url=outside.sms_url),
            smtp=outside.smtp,
            contact_centre=ContactCentreSettings(url=outside.cc_url),
            legal=LegalSettings(url=outside.legal_url),
            intake=IntakeSettings(public_url=f"http://127.0.0.1:{free_port()}"),
            temporal=TemporalSettings(task_queue=f"sim-{uuid.uuid4().hex[:8]}",
                                      max_cached_workflows=max(2000, 4 * len(customers)),
                                      max_concurrent_activities=200),
            metrics=MetricsSettings(bind_address=None, worker_health_address=None),
            policy=PolicySettings(path=run_policy_path),
        )
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(BIN / "temporal-test-server"),
            data_converter=data_converter(CodecSettings()))
        stack.push_async_callback(env.shutdown)
        await register_search_attributes(env.client)
        engine = create_engine(settings.database)
        stack.push_async_callback(engine.dispose)
        sessions = create_sessionmaker(engine)
        intake = IntakeService(sessions, env.client, settings.temporal.task_queue)
        await stack.enter_async_context(serve_webhooks(
            settings, env.client, intake, WebhookService(sessions, env.client)))
        await stack.enter_async_context(simulation_worker(env.client, settings))
        http = await stack.enter_async_context(httpx.AsyncClient(trust_env=False, timeout=30))
        gate = asyncio.Semaphore(config.concurrency)

        async def bounded(job: Awaitable[Any]) -> Any:
            async with gate:
                return await job

        # Day 0 starts at 00:30 local on ``start``: the instalment fell due the day before.
        origin = datetime.combine(start, START_TIME, tzinfo=tz)
        now = await env.get_current_time()
        if now > origin:
            raise RuntimeError(f"the simulation start {origin} is in the server's past")
        await skip_time(env, origin - now, config.stall_minutes)
        clock = SimulatedClock(origin)
        stack.enter_context(clock.installed())
        due = start - timedelta(days=1)
        report_phase(label, 0, config.days + 1)
        await asyncio.gather(*(bounded(intake.ingest(missed_event(c, due, origin, config.seed)))
                               for c in customers))
        report_phase(label, 1, config.days + 1)

        states = {c.loan_id: CustomerState() for c in customers}
        by_loan = {c.loan_id: c for c in customers}
        seq = Counter[str]()

        def event_id(customer: Customer, kind: str) -> str:
            seq[f"{customer.loan_id}/{kind}"] += 1
            n = seq[f"{customer.loan_id}/{kind}"]
            return f"sim-{config.seed}-{customer.index}-{kind}-{n}"

        async def ingest(events: list[AnyEvent]) -> None:
            # One customer's events of a day, in order: hardship before payment, so a
            # payment that cures the case cannot close it before the hardship arrives
            # (which would then open a new case, or not, as the race goes).
            for event in sorted(events, key=lambda e: isinstance(e, PaymentReceived)):
                result = await intake.ingest(event)
                if result.status == "conflict":
                    raise RuntimeError(f"event {event.event_id} conflicts")

        acted_until = await settle(env, config.stall_minutes)
        for day in range(1, config.days + 1):
            # The customers act a little later each day: a day after the work they started
            # yesterday was done. A case that a signal woke yesterday at 00:30:01.4 waits
            # whole days from then; its timer must fire during the skip, not while today's
            # signals are in flight (the time-skipping server refuses the cancel of a timer
            # that fired during a workflow task and strands the run: sdk-java#2606, #3088).
            target = max(origin + timedelta(days=day),
                         acted_until + timedelta(days=1) + ACTING_MARGIN)
            await skip_time(env, target - await env.get_current_time(), config.stall_minutes)
            at = clock.now = await env.get_current_time()
            closed, sent = await _observe(sessions)
            jobs: list[Awaitable[Any]] = []
            for customer in customers:
                if customer.loan_id in closed:
                    continue
                events: list[AnyEvent] = []
                for action in step(customer, states[customer.loan_id], day,
                                   sent.get(customer.loan_id, {}), config.seed):
                    if isinstance(action, Pay):
                        counts.payments += 1
                        counts.collected += action.amount
                        events.append(PaymentReceived(
                            type="payment.received", event_id=event_id(customer, "pay"),
                            occurred_at=at, loan_id=customer.loan_id, amount=action.amount,
                            value_date=at.astimezone(tz).date()))
                    elif isinstance(action, FlagHardship):
                        counts.hardships += 1
                        events.append(HardshipFlagged(
                            type="hardship.flagged", event_id=event_id(customer, "hardship"),
                            occurred_at=at, loan_id=customer.loan_id,
                            kind=action.kind))
                if events:
                    jobs.append(ingest(events))
            completed: list[str] = []
            for task in sorted(await _open_call_tasks(http, outside.cc_url),
                               key=lambda t: str(t["reference"])):
                loan_id = str(task["reference"]).split(":", 1)[0]
                caller = by_loan.get(loan_id)
                if caller is None:
                    continue
                if task["kind"] == "hardship_follow_up":
                    continue  # the representative's work: the policy's pause ends it
                answer = answer_call(caller, states[loan_id], day, config.seed)
                if answer.outcome != "no_answer":
                    counts.calls_answered += 1
                if answer.outcome == "promise_to_pay":
                    counts.promises += 1
                jobs.append(_complete_call(http, outside.cc_url, str(task["task_id"]), answer,
                                           start))
                completed.append(str(task["task_id"]))
            await asyncio.gather(*(bounded(job) for job in jobs))
            await _callbacks_delivered(http, outside.cc_url, completed)
            acted_until = await settle(env, config.stall_minutes)
            report_phase(label, day + 1, config.days + 1)

        end = start + timedelta(days=config.days - 1)
        async with sessions() as session:
            records = await load_kpi_records(session, start=start, end=end, tz=policy_zone(policy))
            outcomes = Counter[str]()
            for outcome, stage, n in (await session.execute(
                    select(CollectionCase.outcome, CollectionCase.stage, func.count())
                    .group_by(CollectionCase.outcome, CollectionCase.stage))).all():
                outcomes[outcome if outcome else f"open:{stage}"] += int(n)
            contacts = {channel: int(n) for channel, n in (await session.execute(
                select(ContactAttempt.channel, func.count())
                .where(ContactAttempt.status.in_(("sent", "delivered", "failed")))
                .group_by(ContactAttempt.channel))).all()}
        report = compute_kpis(records, start=start, end=end, tz=policy_zone(policy),
                              by=config.by, buckets=policy_buckets(policy))
    return PolicyRun(label=label, policy_path=policy_path, version=policy.version, start=start,
                     end=end, report=report, outcomes=dict(sorted(outcomes.items())),
                     contacts=dict(sorted(contacts.items())), collected=counts.collected,
                     payments=counts.payments, promises=counts.promises,
                     hardships=counts.hardships, calls_answered=counts.calls_answered,
                     seconds=time.monotonic() - began)


async def _observe(sessions: Any) -> tuple[set[str], dict[str, dict[str, int]]]:
    """Closed cases' loans, and per open loan the SMS and e-mails it was sent."""
    async with sessions() as session:
        closed = set((await session.execute(
            select(CollectionCase.loan_id).where(CollectionCase.closed_at.is_not(None))
        )).scalars())
        rows = (await session.execute(
            select(ContactAttempt.loan_id, ContactAttempt.channel, func.count())
            .where(ContactAttempt.status.in_(("sent", "delivered")),
                   ContactAttempt.channel.in_(("sms", "email")))
            .group_by(ContactAttempt.loan_id, ContactAttempt.channel))).all()
    sent: dict[str, dict[str, int]] = defaultdict(dict)
    for loan_id, channel, n in rows:
        sent[loan_id][channel] = int(n)
    return closed, sent


async def _open_call_tasks(http: httpx.AsyncClient, cc_url: str) -> list[dict[str, Any]]:
    response = await http.get(f"{cc_url}/v1/call-tasks", params={"status": "open"})
    response.raise_for_status()
    tasks: list[dict[str, Any]] = response.json()
    return tasks


async def _complete_call(http: httpx.AsyncClient, cc_url: str, task_id: str,
                         answer: CallAnswer, start: date) -> None:
    body: dict[str, Any] = {"outcome": answer.outcome, "agent": "sim-agent"}
    if answer.outcome == "promise_to_pay":
        assert answer.promise_amount is not None and answer.promise_day is not None
        body["promise_amount"] = str(answer.promise_amount)
        body["promise_date"] = (start + timedelta(days=answer.promise_day)).isoformat()
    response = await http.post(f"{cc_url}/v1/call-tasks/{task_id}/complete", json=body)
    if response.status_code != 200:
        raise RuntimeError(f"completing call task {task_id}: {response.status_code} "
                           f"{response.text}")


async def _callbacks_delivered(http: httpx.AsyncClient, cc_url: str, task_ids: list[str],
                               wait_seconds: float = 60) -> None:
    """Wait (real time; the case clock is locked) until the contact centre has delivered
    the outcome callbacks of ``task_ids`` to the webhook."""
    if not task_ids:
        return
    wanted = set(task_ids)
    deadline = time.monotonic() + wait_seconds
    while True:
        response = await http.get(f"{cc_url}/v1/call-tasks", params={"status": "completed"})
        response.raise_for_status()
        pending = [t for t in response.json()
                   if t["task_id"] in wanted and t["callback_status"] == "pending"]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(pending)} call outcomes not delivered after {wait_seconds} s")
        await asyncio.sleep(0.05)


# --- champion and challenger -----------------------------------------------------------


def default_start(tz: ZoneInfo) -> date:
    """The day after tomorrow (bank time): in the future of both servers, even if the
    champion's run crosses midnight."""
    return datetime.now(UTC).astimezone(tz).date() + timedelta(days=2)


async def simulate(champion: Path, challenger: Path, config: SimulationConfig,
                   progress: Progress | None = None) -> Simulation:
    if config.loans < 1 or config.days < 1:
        raise ValueError("at least one loan and one day")
    began = time.monotonic()
    customers = portfolio(config.loans, config.seed)
    start = default_start(ZoneInfo(load_policy(champion).case.timezone))
    with tempfile.TemporaryDirectory(prefix="overdue-sim-") as tmp:
        root = config.workdir or Path(tmp)
        first = await run_policy("champion", champion, customers, config, start,
                                 root / "champion", progress)
        second = await run_policy("challenger", challenger, customers, config, start,
                                  root / "challenger", progress)
    return Simulation(champion=first, challenger=second, seconds=time.monotonic() - began,
                      comparisons=compare(first.report, second.report))
