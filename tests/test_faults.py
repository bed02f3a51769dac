"""Fault injection with real processes and servers. Each test opens a portfolio of cases
on the dev server (a case day lasts one second), injects one kind of fault, cures the
cases, and checks the same invariants: every case reaches its outcome with every payment
counted, no customer message goes out twice (the sandboxes count), no core-banking event
is lost, no workflow is duplicated.

Faults: the worker SIGKILLed mid-cases and restarted; the Temporal server SIGKILLed and
restarted on its database file; the SMS gateway and SMTP relay losing answers after doing
the work, answering late (client timeouts), refusing (4xx) or failing (5xx/4xx SMTP
tempfail); the database cut off behind a proxy for several seconds. The legal API's
faults are injected in tests/test_long_cases.py, where a case reaches litigation.
"""

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
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import make_url, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from domain.case import QUERY_STATE, CaseOutcome, CaseView, workflow_id_for
from overdue.settings import Settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.models import CoreBankingEventRecord
from starter.intake import IntakeService
from tests.conftest import (
    CONVERTER,
    Outside,
    case_worker,
    intake_for,
    make_settings,
    policy_variant,
)
from tests.factories import missed_event, new_loan_id, payment_event
from tests.servers import free_port
from workflows import search_attributes as sa

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


def worker_env(settings: Settings, database_url: str, address: str, outside: Outside
               ) -> dict[str, str]:
    return {**os.environ,
            "OVERDUE_DATABASE__URL": database_url,
            "OVERDUE_TEMPORAL__ADDRESS": address,
            "OVERDUE_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
            "OVERDUE_SMS__URL": outside.sms_url,
            "OVERDUE_SMTP__HOST": outside.smtp.host, "OVERDUE_SMTP__PORT": str(outside.smtp.port),
            "OVERDUE_CONTACT_CENTRE__URL": outside.cc_url,
            "OVERDUE_POLICY__PATH": str(settings.policy.path),
            "OVERDUE_METRICS__BIND_ADDRESS": "", "OVERDUE_METRICS__WORKER_HEALTH_ADDRESS": "",
            "OVERDUE_LOG_FORMAT": "json"}


async def test_worker_killed_mid_cases_then_restarted(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    if "postgresql" in database_url:
        pytest.skip("one database is enough for a process-level fault test")
    # A case day lasts one second: the ladder runs within seconds.
    settings = make_settings(database_url=database_url, outside=outside,
                             task_queue=f"tq-{uuid.uuid4()}",
                             policy_path=policy_variant(tmp_path, time_scale=86_400))
    env = worker_env(settings, database_url,
                     dev_env.client.service_client.config.target_host, outside)
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


# --- shared: a portfolio, core banking's re-delivery, the invariants ----------------------

FIGURES: dict[str, dict[str, int]] = {}
"""What each fault test injected and saw; printed at the end of the session (-s)."""


def bank_yesterday() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)


async def deliver(intake: IntakeService, event: Any, *, within: float = 60) -> int:
    """Core banking's delivery: re-sent until accepted (or a duplicate); failed tries."""
    deadline = asyncio.get_running_loop().time() + within
    failures = 0
    while True:
        try:
            result = await intake.ingest(event)
        except Exception:  # Temporal or the database down: core banking re-delivers
            failures += 1
            assert asyncio.get_running_loop().time() < deadline, "never accepted"
            await asyncio.sleep(0.5)
            continue
        assert result.status in ("accepted", "duplicate"), result
        return failures


async def outcomes_of(client: Client, loans: list[str], timeout: float = 120
                      ) -> list[CaseOutcome]:
    async def outcome(loan: str) -> CaseOutcome:
        try:
            return await client.get_workflow_handle(workflow_id_for(loan),
                                                    result_type=CaseOutcome).result()
        except WorkflowFailureError as exc:  # say which case failed, and where
            cause = exc.cause
            raise AssertionError(f"case {loan} failed: {cause!r} "
                                 f"{getattr(cause, 'cause', None)!r}\n"
                                 f"{getattr(cause, 'failure', None)}") from exc

    return list(await asyncio.wait_for(asyncio.gather(*(outcome(loan) for loan in loans)),
                                       timeout=timeout))


async def check_invariants(client: Client, outside: Outside,
                           sessions: async_sessionmaker[AsyncSession], loans: list[str],
                           outcomes: list[CaseOutcome], paid: Decimal, events_each: int
                           ) -> dict[str, int]:
    """Every case cured with every payment; no message twice; no event lost; one workflow
    per loan. Returns the counts for the closing figures."""
    assert [o.outcome for o in outcomes] == ["cured"] * len(loans)
    assert all(o.paid_total == paid for o in outcomes), [o.paid_total for o in outcomes]
    views = [await client.get_workflow_handle(workflow_id_for(loan)).query(
        QUERY_STATE, result_type=CaseView) for loan in loans]
    async with httpx.AsyncClient() as http:
        sms = (await http.get(f"{outside.sms_url}/v1/messages")).json()
        mails = (await http.get(f"{outside.smtp_http}/v1/messages")).json()
    sms = [m for m in sms if str(m["reference"]).split(":")[0] in loans]
    mails = [m for m in mails if str(m["reference"]).split(":")[0] in loans]
    keys = Counter(m["idempotency_key"] for m in sms)
    assert not keys or max(keys.values()) == 1, "an SMS went out twice"
    for loan, view in zip(loans, views, strict=True):
        # What the customer received is what the case counts as sent, no more.
        for channel, received in (("sms", sms), ("email", mails)):
            counted = [c for c in view.contacts if c.channel == channel
                       and c.status in ("sent", "delivered")]
            # (aftercare's survey after the cure is its own workflow's message)
            got = [m for m in received if str(m["reference"]).startswith(f"{loan}:")
                   and not str(m.get("idempotency_key", "")).endswith(":survey")]
            assert len(got) == len(counted), f"{loan} {channel}: {len(got)} != {len(counted)}"
    async with sessions() as session:
        rows = (await session.execute(select(CoreBankingEventRecord).where(
            CoreBankingEventRecord.loan_id.in_(loans)))).scalars().all()
    assert len(rows) == events_each * len(loans), "an event was lost (or stored twice)"
    assert {r.status for r in rows} == {"delivered"}
    for loan in loans:
        runs = []
        for _ in range(50):  # visibility is eventually consistent
            runs = [w async for w in client.list_workflows(f'LoanId = "{loan}"')
                    if w.status != WorkflowExecutionStatus.CONTINUED_AS_NEW]
            if runs:
                break
            await asyncio.sleep(0.1)
        assert len(runs) == 1, f"{loan}: {len(runs)} workflows"
    return {"cases": len(loans), "cured": len(outcomes), "sms": len(sms),
            "emails": len(mails), "duplicate_messages": 0, "events": len(rows),
            "lost_events": 0}


async def set_faults(url: str, plan: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(f"{url}/_sandbox/faults", json=plan)
        assert response.status_code == 200, response.text


async def stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as http:
        body: dict[str, int] = (await http.get(f"{url}/v1/stats")).json()
        return body


def fast_settings(database_url: str, outside: Outside, tmp_path: Path,
                  replace: dict[str, str] | None = None) -> Settings:
    # At one case day per real second a timer that fires a few hundred milliseconds late
    # lands hours later in case time, often inside quiet hours again; a rung deferred that
    # way a dozen times gives up. These tests are about faults, not contact rules.
    no_quiet_hours = {"quiet_end = 08:00:00": "quiet_end = 22:00:00"}
    return make_settings(database_url=database_url, outside=outside,
                         task_queue=f"tq-{uuid.uuid4()}",
                         policy_path=policy_variant(tmp_path, time_scale=86_400,
                                                    replace={**no_quiet_hours,
                                                             **(replace or {})}))


# --- the outside world failing ------------------------------------------------------------


async def test_gateways_lose_answers_and_time_out(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """The SMS gateway sends, then answers after the client gave up (timeout); the SMTP
    relay stores the message, then answers 451 (the answer is lost). Retries must not
    send twice."""
    if "postgresql" in database_url:
        pytest.skip("one database is enough for a fault test")
    settings = fast_settings(database_url, outside, tmp_path)
    settings.sms = settings.sms.model_copy(update={"timeout_seconds": 1.0})
    loans = [new_loan_id() for _ in range(CASES)]
    sms_before, smtp_before = await stats(outside.sms_url), await stats(outside.smtp_http)
    await set_faults(outside.sms_url, {"fail_next": 4, "status": None, "delay_seconds": 2.5})
    await set_faults(outside.smtp_http, {"fail_next": 3, "code": 451, "after_accept": True})
    try:
        async with case_worker(dev_env.client, settings):
            intake = intake_for(dev_env.client, sessions, settings)
            for loan in loans:
                await deliver(intake, missed_event(loan, bank_yesterday(), "210.00",
                                                   datetime.now(UTC)))
            await asyncio.sleep(8)  # SMS on business day 1, e-mail on day 3
            for loan in loans:
                await deliver(intake, payment_event(loan, "210.00", datetime.now(UTC)))
            outcomes = await outcomes_of(dev_env.client, loans)
            figures = await check_invariants(dev_env.client, outside, sessions, loans,
                                             outcomes, Decimal("210.00"), 2)
    finally:
        await set_faults(outside.sms_url, {"fail_next": 0})
        await set_faults(outside.smtp_http, {"fail_next": 0})
    sms_after, smtp_after = await stats(outside.sms_url), await stats(outside.smtp_http)
    # The lost answers and late answers were retried, and absorbed as replays.
    # (a retry may itself meet a slow answer, so 4 faults make at least 2 replays)
    assert sms_after["replayed"] - sms_before["replayed"] >= 2
    assert smtp_after["replayed"] - smtp_before["replayed"] >= 1
    assert figures["emails"] >= 1
    FIGURES["gateways lose answers / time out"] = {
        **figures, "faults": 7,
        "replays_absorbed": (sms_after["replayed"] - sms_before["replayed"]
                             + smtp_after["replayed"] - smtp_before["replayed"])}


async def test_gateways_refuse_and_fail(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """The SMS gateway refuses (400: permanent, the step falls back to e-mail), then sends
    but loses its answer (503: retried, absorbed); the SMTP relay tempfails (451, nothing
    stored: retried). Every case still cures."""
    if "postgresql" in database_url:
        pytest.skip("one database is enough for a fault test")
    settings = fast_settings(database_url, outside, tmp_path)
    loans = [new_loan_id() for _ in range(CASES)]
    await set_faults(outside.sms_url, {"fail_next": 2, "status": 400})
    await set_faults(outside.smtp_http, {"fail_next": 2, "code": 451})
    try:
        async with case_worker(dev_env.client, settings):
            intake = intake_for(dev_env.client, sessions, settings)
            for loan in loans:
                await deliver(intake, missed_event(loan, bank_yesterday(), "99.00",
                                                   datetime.now(UTC)))

            async def refused_twice() -> bool:
                views = [await dev_env.client.get_workflow_handle(workflow_id_for(loan))
                         .query(QUERY_STATE, result_type=CaseView) for loan in loans]
                return sum(1 for v in views for c in v.contacts
                           if c.channel == "sms" and c.status == "failed") >= 2

            for _ in range(100):
                if await refused_twice():
                    break
                await asyncio.sleep(0.1)
            await set_faults(outside.sms_url, {"fail_next": 2, "status": 503,
                                               "after_accept": True})
            await asyncio.sleep(8)
            for loan in loans:
                await deliver(intake, payment_event(loan, "99.00", datetime.now(UTC)))
            outcomes = await outcomes_of(dev_env.client, loans)
            figures = await check_invariants(dev_env.client, outside, sessions, loans,
                                             outcomes, Decimal("99.00"), 2)
            views = [await dev_env.client.get_workflow_handle(workflow_id_for(loan))
                     .query(QUERY_STATE, result_type=CaseView) for loan in loans]
    finally:
        await set_faults(outside.sms_url, {"fail_next": 0})
        await set_faults(outside.smtp_http, {"fail_next": 0})
    refused = [v for v in views if any(c.channel == "sms" and c.status == "failed"
                                       for c in v.contacts)]
    assert len(refused) == 2
    for view in refused:  # the refused step reached the customer by e-mail instead
        [failed] = [c for c in view.contacts if c.channel == "sms" and c.status == "failed"]
        assert any(c.step == failed.step and c.channel == "email" and c.status == "sent"
                   for c in view.contacts)
    FIGURES["gateways refuse (400), lose answers (503), tempfail (451)"] = {
        **figures, "faults": 6}


# --- the Temporal server and the database going away -------------------------------------


@contextmanager
def temporal_server(db_file: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``temporal server start-dev`` on a database file: what survives a restart is on disk."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(BIN / "temporal"), "server", "start-dev", "--db-filename", str(db_file),
             "--ip", "127.0.0.1", "--port", str(port), "--headless",
             "--http-port", str(free_port()), "--metrics-port", str(free_port()),
             "--log-level", "error", *sa.dev_server_flags()],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


async def connect_when_up(address: str, within: float = 30) -> Client:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await Client.connect(address, data_converter=CONVERTER)
        except RuntimeError:
            assert asyncio.get_running_loop().time() < deadline, "Temporal did not start"
            await asyncio.sleep(0.3)


async def test_temporal_server_killed_and_restarted(
        database_url: str, outside: Outside, sessions: async_sessionmaker[AsyncSession],
        tmp_path: Path) -> None:
    """The Temporal server is SIGKILLed mid-cases; core banking keeps sending (refused,
    re-delivered); the server restarts on its database file and every case goes on."""
    if "postgresql" in database_url:
        pytest.skip("one database is enough for a process-level fault test")
    port = free_port()
    address = f"127.0.0.1:{port}"
    settings = fast_settings(database_url, outside, tmp_path)
    env = worker_env(settings, database_url, address, outside)
    db_file, log = tmp_path / "temporal.db", tmp_path / "temporal.log"
    loans = [new_loan_id() for _ in range(CASES)]
    with temporal_server(db_file, port, log) as server:
        client = await connect_when_up(address)
        intake = intake_for(client, sessions, settings)
        with worker_process(env, tmp_path / "worker.log"):
            for loan in loans:
                await deliver(intake, missed_event(loan, bank_yesterday(), "150.00",
                                                   datetime.now(UTC)))
            await asyncio.sleep(3)  # first reminders are going out
            server.send_signal(signal.SIGKILL)
            server.wait(10)
            # Core banking sends part payments while Temporal is down: refused, kept.
            sent = [payment_event(loan, "50.00", datetime.now(UTC)) for loan in loans]
            refused = 0
            for event in sent:
                try:
                    await intake.ingest(event)
                except Exception:
                    refused += 1
            assert refused == len(loans)
            with temporal_server(db_file, port, log):
                client = await connect_when_up(address)
                intake = intake_for(client, sessions, settings)
                for event in sent:  # re-delivered once the server is back
                    await deliver(intake, event)
                await asyncio.sleep(2)
                for loan in loans:
                    await deliver(intake, payment_event(loan, "100.00", datetime.now(UTC)))
                outcomes = await outcomes_of(client, loans)
                figures = await check_invariants(client, outside, sessions, loans, outcomes,
                                                 Decimal("150.00"), 3)
    FIGURES["Temporal server SIGKILL + restart"] = {**figures, "faults": 1,
                                                    "events_refused_then_redelivered": refused}


class CuttableProxy:
    """A TCP proxy to the database that can cut every connection and refuse new ones."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._up = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()

    def cut(self) -> None:
        self._up = False
        for writer in list(self._writers):
            writer.close()

    def restore(self) -> None:
        self._up = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        if not self._up:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()
                self._writers.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_database_unavailable_for_a_while(
        dev_env: WorkflowEnvironment, database_url: str, outside: Outside,
        sessions: async_sessionmaker[AsyncSession], tmp_path: Path) -> None:
    """Every connection to PostgreSQL is cut and refused for 6 seconds mid-cases: the
    activities that need it fail and are retried, core banking's events are refused and
    re-delivered, and every case ends as if nothing happened."""
    if "postgresql" not in database_url:
        pytest.skip("the database is cut at the network; SQLite is a file in the process")
    url = make_url(database_url)
    async with CuttableProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        via_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(
            hide_password=False)
        settings = fast_settings(via_proxy, outside, tmp_path)
        proxied = create_sessionmaker(create_engine(settings.database))
        loans = [new_loan_id() for _ in range(CASES)]
        async with case_worker(dev_env.client, settings):
            intake = intake_for(dev_env.client, proxied, settings)
            for loan in loans:
                await deliver(intake, missed_event(loan, bank_yesterday(), "75.00",
                                                   datetime.now(UTC)))
            await asyncio.sleep(2)
            proxy.cut()
            refused = 0
            sent = [payment_event(loan, "25.00", datetime.now(UTC)) for loan in loans]
            for event in sent:
                try:
                    await intake.ingest(event)
                except Exception:
                    refused += 1
            await asyncio.sleep(6)
            proxy.restore()
            for event in sent:
                await deliver(intake, event)
            await asyncio.sleep(2)
            for loan in loans:
                await deliver(intake, payment_event(loan, "50.00", datetime.now(UTC)))
            outcomes = await outcomes_of(dev_env.client, loans)
            figures = await check_invariants(dev_env.client, outside, sessions, loans,
                                             outcomes, Decimal("75.00"), 3)
    assert refused == len(loans)
    FIGURES["database cut for 6 s"] = {**figures, "faults": 1,
                                       "events_refused_then_redelivered": refused}


@pytest.fixture(scope="module", autouse=True)
def print_figures() -> Iterator[None]:
    yield
    for name, figures in FIGURES.items():
        print(f"\nfault figures: {name}: {figures}")
