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

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from overdue.clients.email import SmtpSettings
from tests.servers import run_sandbox_process


@asynccontextmanager
async def run_smtp_sink(tmp_path: Path, *, store_path: Path | None = None,
                        startup_timeout: float = 20.0,
                        ) -> AsyncIterator[tuple[SmtpSettings, str]]:
    """Run ``python -m sandbox.smtp_sink``; yield its ``SmtpSettings`` and HTTP base URL.

    The process is terminated (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    store = store_path if store_path is not None else tmp_path / "smtp-sink.jsonl"

    def args(ports: tuple[int, ...]) -> list[str]:
        http_port, smtp_port = ports
        return ["--smtp-port", str(smtp_port), "--http-port", str(http_port),
                "--store", str(store)]

    async with run_sandbox_process("sandbox.smtp_sink", args, name="SMTP sink",
                                   log_path=tmp_path / "smtp-sink.log", ports=2,
                                   startup_timeout=startup_timeout) as (http_port, smtp_port):
        yield (SmtpSettings(host="127.0.0.1", port=smtp_port, timeout_seconds=5.0),
               f"http://127.0.0.1:{http_port}")
