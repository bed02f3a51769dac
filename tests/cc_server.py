"""Real servers for the contact-centre tests, and a webhook receiver for any sandbox.

``run_contact_centre`` starts the contact-centre sandbox (:mod:`sandbox.contact_centre`) with
uvicorn in its own process on a free local port and yields its base URL::

    from overdue.clients.contact_centre import ContactCentreClient, ContactCentreSettings
    from tests.cc_server import run_contact_centre

    async def test_something(tmp_path):
        async with run_contact_centre(tmp_path) as url:
            async with ContactCentreClient.open(ContactCentreSettings(url=url)) as cc:
                await cc.create_task(...)

Tasks are stored in ``tmp_path / "cc-sandbox.jsonl"`` (``store_path=`` overrides it), so
running the helper twice with the same ``tmp_path`` is a restart; the server's output goes
to ``tmp_path / "cc-sandbox.log"``. The API key is :data:`CC_API_KEY` (the default of
``ContactCentreSettings``) unless ``api_key=`` is given.

``run_callback_receiver`` serves a tiny webhook receiver with uvicorn *inside* the test's
event loop and yields a :class:`CallbackReceiver`: point a sandbox's ``callback_url`` at
``receiver.url``, script its answers (``answers=[503, 503]`` then 200s), and await
``receiver.wait_for(n)`` to get the raw bodies and headers it was sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, Response

from tests.servers import run_http_sandbox

CC_API_KEY = "sandbox-cc-key"


@asynccontextmanager
async def run_contact_centre(tmp_path: Path, *, store_path: Path | None = None,
                             api_key: str = CC_API_KEY,
                             startup_timeout: float = 20.0) -> AsyncIterator[str]:
    """Run ``python -m sandbox.contact_centre`` in a subprocess; yield ``http://127.0.0.1:PORT``.

    The process is terminated (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    async with run_http_sandbox("sandbox.contact_centre", tmp_path, "cc-sandbox",
                                name="contact-centre sandbox", store_path=store_path,
                                api_key=api_key, startup_timeout=startup_timeout) as url:
        yield url


@dataclass(frozen=True, slots=True)
class ReceivedCallback:
    body: bytes
    headers: dict[str, str]  # lower-case names
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(slots=True)
class CallbackReceiver:
    url: str
    answers: list[int] = field(default_factory=list)  # next statuses to answer, then 200
    received: list[ReceivedCallback] = field(default_factory=list)  # every POST, in order
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def _record(self, item: ReceivedCallback) -> None:
        async with self._changed:
            self.received.append(item)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[ReceivedCallback]:
        """The first ``count`` POSTs received, waiting up to ``timeout`` seconds for them."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.received) >= count)
            return self.received[:count]

    def acknowledged(self) -> list[ReceivedCallback]:
        return [item for item in self.received if 200 <= item.status < 300]


@asynccontextmanager
async def run_callback_receiver(*, answers: Iterable[int] = (),
                                path: str = "/hook") -> AsyncIterator[CallbackReceiver]:
    """Serve ``POST {url}`` in this event loop; answer ``answers`` in turn, then 200."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    receiver = CallbackReceiver(url=f"http://127.0.0.1:{port}{path}", answers=list(answers))
    app = FastAPI()

    @app.post(path)
    async def hook(request: Request) -> Response:
        status = receiver.answers.pop(0) if receiver.answers else 200
        await receiver._record(ReceivedCallback(
            body=await request.body(),
            headers={k.lower(): v for k, v in request.headers.items()}, status=status))
        return Response(status_code=status)

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            ws="none", http="h11")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("callback receiver stopped while starting")
            await asyncio.sleep(0.01)
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()
