"""Where the intake's time goes: pyinstrument over N events posted to the intake app.

    .venv/bin/pip install pyinstrument   # not a dependency of the project
    .venv/bin/python -m bench.profile_intake 1500

The app runs in this process (no HTTP server), on a fresh SQLite database and an
in-memory dev server; prints events per second and the profile (bench/README.md).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import structlog
from temporalio.testing import WorkflowEnvironment

from overdue.settings import DatabaseSettings, Settings
from overdue.storage.engine import create_engine, create_sessionmaker
from overdue.storage.migrate import upgrade
from overdue.temporal import data_converter
from starter.api import create_app
from starter.intake import IntakeService
from starter.signing import signed_headers
from tests.factories import missed_event
from workflows import search_attributes as sa


async def main(events: int) -> None:
    from pyinstrument import Profiler

    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'profile.db'}"
    await upgrade(url)
    settings = Settings(database=DatabaseSettings(url=url))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        search_attributes=sa.ALL, data_converter=data_converter(settings.codec),
        dev_server_extra_args=["--log-level", "error"])
    app = create_app(settings, IntakeService(create_sessionmaker(create_engine(
        settings.database)), env.client, f"nobody-{uuid.uuid4()}"))
    secret = settings.intake.hmac_secret.get_secret_value().encode()
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    bodies = [missed_event(f"P{uuid.uuid4().hex[:10].upper()}", today, "100.00",
                           datetime.now(UTC)).model_dump_json(exclude_none=True).encode()
              for _ in range(events)]
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://intake") as http:

        async def one(body: bytes) -> None:
            async with gate:
                response = await http.post("/v1/core-banking/events", content=body,
                                           headers=signed_headers(secret, body))
                response.raise_for_status()

        profiler = Profiler(async_mode="enabled")
        profiler.start()
        started = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        seconds = time.perf_counter() - started
        profiler.stop()
    await env.shutdown()
    print(f"{events / seconds:.1f} events/s")
    print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500))
