"""Real servers for tests, each in its own process.

``run_sms_sandbox`` starts the SMS gateway sandbox (:mod:`sandbox.sms_gateway`) with
uvicorn on a free local port and yields its base URL::

    from overdue.settings import SmsGatewaySettings
    from overdue.clients.sms import SmsGatewayClient
    from tests.servers import run_sms_sandbox

    async def test_something(tmp_path):
        async with run_sms_sandbox(tmp_path) as url:
            async with SmsGatewayClient.open(SmsGatewaySettings(url=url)) as sms:
                await sms.send(to="+8613800138000", body="hi", idempotency_key="k1")

Messages are stored in ``tmp_path / "sms-sandbox.jsonl"`` (``store_path=`` overrides it),
so running the helper twice with the same ``tmp_path`` is a restart that keeps the
idempotency keys. The server's output goes to ``tmp_path / "sms-sandbox.log"``. The API
key is :data:`SANDBOX_API_KEY` (the default of ``SmsGatewaySettings``) unless ``api_key=``
is given. Use ``POST {url}/_sandbox/faults`` and ``DELETE {url}/_sandbox/messages`` to
inject faults and reset between tests; see the sandbox module docstring for the API.

``run_sandbox_process`` is what this helper, ``tests.cc_server.run_contact_centre`` and
``tests.smtp_server.run_smtp_sink`` share: it starts ``python -m <module>`` on free local
ports, waits for its ``/healthz`` and stops it afterwards (``run_http_sandbox`` wraps it
for the two HTTP sandboxes, which take the same options).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_API_KEY = "sandbox-sms-key"


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)


async def _wait_healthy(process: subprocess.Popen[bytes], url: str, timeout: float,
                        name: str) -> bool:
    """True once /healthz answers; False if the process died first (e.g. port taken)."""
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
    raise TimeoutError(f"{name} at {url} not healthy after {timeout}s")


@asynccontextmanager
async def run_sandbox_process(module: str, args: Callable[[tuple[int, ...]], list[str]], *,
                              name: str, log_path: Path, ports: int = 1,
                              startup_timeout: float = 20.0) -> AsyncIterator[tuple[int, ...]]:
    """Run ``python -m <module> --host 127.0.0.1 <args(ports)>`` in a subprocess on ``ports``
    distinct free local ports; yield them once ``GET /healthz`` answers on the first one.

    The server's output is appended to ``log_path``; ``name`` (e.g. ``"SMS sandbox"``) is
    for error messages. If the server dies while starting (a free port may be taken before
    it binds it), it is tried again, three times in all. The process is terminated
    (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    for _attempt in range(3):  # the free port may be taken before the server binds it
        chosen = tuple(free_port() for _ in range(ports))
        if len(set(chosen)) < len(chosen):
            continue
        url = f"http://127.0.0.1:{chosen[0]}"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", module, "--host", "127.0.0.1", *args(chosen)],
                cwd=PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            healthy = await _wait_healthy(process, url, startup_timeout, name)
        except BaseException:
            await _stop(process)
            raise
        if not healthy:
            await _stop(process)
            continue
        try:
            yield chosen
        finally:
            await _stop(process)
        return
    raise RuntimeError(f"{name} did not start; see {log_path}:\n"
                       f"{log_path.read_text(errors='replace')[-4000:]}")


@asynccontextmanager
async def run_http_sandbox(module: str, tmp_path: Path, stem: str, *, name: str,
                           store_path: Path | None, api_key: str,
                           startup_timeout: float) -> AsyncIterator[str]:
    """:func:`run_sandbox_process` for a sandbox run with ``--port --store --api-key``
    (:func:`sandbox.common.http_sandbox_main`); yield ``http://127.0.0.1:PORT``.

    The store is ``tmp_path / "<stem>.jsonl"`` unless ``store_path`` is given; the output
    goes to ``tmp_path / "<stem>.log"``.
    """
    store = store_path if store_path is not None else tmp_path / f"{stem}.jsonl"

    def args(ports: tuple[int, ...]) -> list[str]:
        return ["--port", str(ports[0]), "--store", str(store), "--api-key", api_key]

    async with run_sandbox_process(module, args, name=name, log_path=tmp_path / f"{stem}.log",
                                   startup_timeout=startup_timeout) as (port,):
        yield f"http://127.0.0.1:{port}"


@asynccontextmanager
async def run_sms_sandbox(tmp_path: Path, *, store_path: Path | None = None,
                          api_key: str = SANDBOX_API_KEY,
                          startup_timeout: float = 20.0) -> AsyncIterator[str]:
    """Run ``python -m sandbox.sms_gateway`` in a subprocess; yield ``http://127.0.0.1:PORT``.

    The process is terminated (SIGTERM, then SIGKILL after 10 s) when the block exits.
    """
    async with run_http_sandbox("sandbox.sms_gateway", tmp_path, "sms-sandbox",
                                name="SMS sandbox", store_path=store_path, api_key=api_key,
                                startup_timeout=startup_timeout) as url:
        yield url
