"""The legal case-management sandbox as a real server, for tests.

``run_legal_system`` starts :mod:`sandbox.legal_system` with uvicorn in its own process on a
free local port and yields its base URL::

    from overdue.clients.legal import LegalSettings, LegalSystemClient
    from tests.legal_server import run_legal_system

    async def test_something(tmp_path):
        async with run_legal_system(tmp_path) as url:
            async with LegalSystemClient.open(LegalSettings(url=url)) as legal:
                await legal.request_review(...)

Records are stored in ``tmp_path / "legal-sandbox.jsonl"`` (``store_path=`` overrides it),
so running the helper twice with the same ``tmp_path`` is a restart; the server's output
goes to ``tmp_path / "legal-sandbox.log"``. The API key is :data:`LEGAL_API_KEY` (the
default of ``LegalSettings``) unless ``api_key=`` is given. Use
``tests.cc_server.run_callback_receiver`` to receive its callbacks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.servers import run_sandbox_process

LEGAL_API_KEY = "sandbox-legal-key"


@asynccontextmanager
async def run_legal_system(tmp_path: Path, *, store_path: Path | None = None,
                           api_key: str = LEGAL_API_KEY,
                           startup_timeout: float = 20.0) -> AsyncIterator[str]:
    """Run ``python -m sandbox.legal_system`` in a subprocess; yield ``http://127.0.0.1:PORT``.

    The process is terminated (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    store = store_path if store_path is not None else tmp_path / "legal-sandbox.jsonl"

    def args(ports: tuple[int, ...]) -> list[str]:
        return ["--port", str(ports[0]), "--store", str(store), "--api-key", api_key]

    async with run_sandbox_process("sandbox.legal_system", args,
                                   name="legal-system sandbox",
                                   log_path=tmp_path / "legal-sandbox.log",
                                   startup_timeout=startup_timeout) as (port,):
        yield f"http://127.0.0.1:{port}"
