"""The SMTP sink (:mod:`sandbox.smtp_sink`) as a real server in its own process.

::

    from overdue.clients.email import EmailClient
    from tests.smtp_server import run_smtp_sink

    async def test_something(tmp_path):
        async with run_smtp_sink(tmp_path) as (smtp, url):
            await EmailClient(smtp).send(to="li.lei@example.com", subject="s", text="t",
                                         html=None, idempotency_key="k1")
            # GET {url}/v1/messages lists it

Messages are stored in ``tmp_path / "smtp-sink.jsonl"`` (``store_path=`` overrides it),
so running the helper twice with the same ``tmp_path`` is a restart that keeps the
deduplication. The server's output goes to ``tmp_path / "smtp-sink.log"``. Use
``POST {url}/_sandbox/faults`` and ``DELETE {url}/_sandbox/messages`` to inject faults and
reset between tests; see the sandbox module docstring for the API.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from overdue.clients.email import SmtpSettings
from tests.servers import free_port

PROJECT_ROOT = Path(__file__).resolve().parent.parent


async def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


async def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float) -> bool:
    """True once /healthz answers; False if the process died first (e.g. a port taken)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return False
            try:
                response = await http.get(f"{url}/healthz")
                if response.status_code == 200 and process.poll() is None:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise TimeoutError(f"SMTP sink at {url} not healthy after {timeout}s")


@asynccontextmanager
async def run_smtp_sink(tmp_path: Path, *, store_path: Path | None = None,
                        startup_timeout: float = 20.0,
                        ) -> AsyncIterator[tuple[SmtpSettings, str]]:
    """Run ``python -m sandbox.smtp_sink``; yield its ``SmtpSettings`` and HTTP base URL.

    The process is terminated (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    store = store_path if store_path is not None else tmp_path / "smtp-sink.jsonl"
    log_path = tmp_path / "smtp-sink.log"
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    for _attempt in range(3):  # a free port may be taken before the server binds it
        smtp_port, http_port = free_port(), free_port()
        if smtp_port == http_port:
            continue
        url = f"http://127.0.0.1:{http_port}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", "sandbox.smtp_sink", "--host", "127.0.0.1",
                 "--smtp-port", str(smtp_port), "--http-port", str(http_port),
                 "--store", str(store)],
                cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            healthy = await _wait_healthy(process, url, startup_timeout)
        except BaseException:
            await _stop(process)
            raise
        if not healthy:
            await _stop(process)
            continue
        try:
            yield SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_seconds=5.0), url
        finally:
            await _stop(process)
        return
    raise RuntimeError(f"SMTP sink did not start; see {log_path}:\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")
