"""``make bench``: the service measured beside the raw speed of the Temporal server under it.

One run on a fresh dev server (SQLite file, as ``make run``) and a fresh SQLite database:

1. raw limit: signal-with-start of a no-op workflow, ``--cases`` times, ``--concurrency``
   at once, straight from a client;
2. the service: as many ``instalment.missed`` events, HMAC-signed, through the intake API
   process (validation, deduplication by event id, snapshot, signal-with-start) to
   started cases, posted by a lean HTTP/1.1 sender (``bench/http_load.py``); steps 1 and 2
   take turns in ``--rounds`` rounds;
3. a 10,000-event month-end file (a part payment per open case) through
   ``overdue events replay``;
4. worker memory: a worker hosting only the no-op workflow takes every no-op workflow
   into its cache; the real worker (``overdue worker``) takes every open case into its
   cache; RSS per cached workflow for both;
5. bounded memory and the cost of an evicted case: the real worker restarted with a
   cache of ``--small-cache``, asked about ``--wake`` cases it does not hold (each query
   replays the case's history): RSS stays near that of the small cache;
6. history events per case-year (``bench/history_per_case_year.py``).

Prints progress on stderr and ends with one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from temporalio.client import Client

from bench import history_per_case_year, http_load
from bench.noop import NoopWorkflow
from domain.case import QUERY_STATE, workflow_id_for
from overdue.settings import get_settings
from overdue.temporal import data_converter
from starter.signing import signed_headers
from tests.factories import missed_event, payment_event
from tests.servers import free_port
from workflows import search_attributes as sa

BIN = Path(sys.executable).parent
STEPS = ("batch", "memory", "wake", "history")
SECRET = "bench-core-banking-secret"  # noqa: S105 (a throwaway intake of the bench)


def note(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def metric(address: str, name: str) -> float:
    """Sum of a Prometheus metric over its label sets (0 when absent)."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://{address}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def wait_for(probe: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.5)


async def settled_cache(metrics: str, want: int, within: float, pid: int) -> tuple[int, int]:
    """Wait until the worker holds ``want`` workflows and its workflow tasks stop; then
    (cached, RSS in KiB)."""
    last, quiet, deadline = -1.0, 0, time.monotonic() + within
    while time.monotonic() < deadline:
        cached = await metric(metrics, "temporal_sticky_cache_size")
        tasks = await metric(metrics, "temporal_workflow_task_execution_latency_count")
        quiet = quiet + 1 if tasks == last and cached >= want else 0
        last = tasks
        if quiet >= 6:  # 3 s without a workflow task
            return int(cached), rss_kb(pid)
        await asyncio.sleep(0.5)
    raise TimeoutError(f"cache did not reach {want} ({cached})")


async def gather_limited(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]
                         ) -> float:
    """Run ``one(i)`` for i < n, ``concurrency`` at once; seconds taken."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> None:
        async with gate:
            await one(i)

    started = time.perf_counter()
    await asyncio.gather(*(guarded(i) for i in range(n)))
    return time.perf_counter() - started


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work: Path = args.work
    port, run = free_port(), uuid.uuid4().hex[:8]
    address = f"127.0.0.1:{port}"
    database = f"sqlite+aiosqlite:///{work / 'overdue.db'}"
    cases_queue, noop_queue = f"bench-cases-{run}", f"bench-noop-{run}"
    intake_port, worker_metrics = free_port(), f"127.0.0.1:{free_port()}"
    env = {**os.environ, "OVERDUE_DATABASE__URL": database,
           "OVERDUE_TEMPORAL__ADDRESS": address, "OVERDUE_TEMPORAL__TASK_QUEUE": cases_queue,
           "OVERDUE_INTAKE__PORT": str(intake_port),
           "OVERDUE_INTAKE__PUBLIC_URL": f"http://127.0.0.1:{intake_port}",
           "OVERDUE_INTAKE__HMAC_SECRET": SECRET, "OVERDUE_LOG_LEVEL": "WARNING",
           "OVERDUE_LOG_FORMAT": "json", "OVERDUE_METRICS__BIND_ADDRESS": worker_metrics,
           "OVERDUE_METRICS__WORKER_HEALTH_ADDRESS": ""}
    result: dict[str, Any] = {"cases": args.cases, "concurrency": args.concurrency}
    note(f"working in {work}")
    await asyncio.to_thread(subprocess.run, [str(BIN / "overdue"), "db", "upgrade"],
                            env=env, check=True, capture_output=True)
    store = [] if args.in_memory else ["--db-filename", str(work / "temporal.db")]
    result["temporal_store"] = "memory" if args.in_memory else "sqlite-file"
    server_args = [str(BIN / "temporal"), "server", "start-dev", *store, "--ip", "127.0.0.1",
                   "--port", str(port), "--headless", "--http-port", str(free_port()),
                   "--metrics-port", str(free_port()), "--log-level", "error",
                   *sa.dev_server_flags()]
    with process(server_args, env, work / "temporal.log"):
        client = await connect_when_up(address)
        cased = await Client.connect(address, data_converter=data_converter(get_settings().codec))

        # 1 and 2, side by side: the raw limit and the service take turns in rounds, so
        # neither gains from going first on a fresh server database (it does, by ~5-10 %).
        today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
        loans = [f"B{run}{i:06d}".upper() for i in range(args.cases)]
        bodies = [missed_event(loan, today, "1200.00", datetime.now(UTC))
                  .model_dump_json(exclude_none=True).encode() for loan in loans]

        async def raw_one(i: int) -> None:
            await client.start_workflow(NoopWorkflow.run, id=f"noop-{run}-{i}",
                                        task_queue=noop_queue, start_signal="tick",
                                        start_signal_args=["0"])

        async def raw_round(first: int, last: int) -> float:
            return await gather_limited(last - first, args.concurrency,
                                        lambda i: raw_one(first + i))

        async def intake_round(first: int, last: int) -> float:
            started = time.perf_counter()
            await http_load.post_all(
                "127.0.0.1", intake_port, "/v1/core-banking/events", bodies[first:last],
                lambda body: signed_headers(SECRET.encode(), body), args.concurrency)
            return time.perf_counter() - started

        raw_seconds = intake_seconds = 0.0
        with process([str(BIN / "overdue"), "intake"], env, work / "intake.log"):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{intake_port}") as http:
                await wait_for(lambda: _up(http), 30, "intake did not start")
            bounds = [args.cases * k // args.rounds for k in range(args.rounds + 1)]
            for k in range(args.rounds):
                first, last = bounds[k], bounds[k + 1]
                note(f"round {k + 1}/{args.rounds}: {last - first} signal-with-starts of a "
                     f"no-op workflow and {last - first} instalment.missed events through "
                     "the intake API")
                if k % 2 == 0:
                    raw_seconds += await raw_round(first, last)
                    intake_seconds += await intake_round(first, last)
                else:
                    intake_seconds += await intake_round(first, last)
                    raw_seconds += await raw_round(first, last)
        result["raw_signal_with_start_per_s"] = round(args.cases / raw_seconds, 1)
        result["intake_events_per_s"] = round(args.cases / intake_seconds, 1)
        result["intake_ratio"] = round(result["intake_events_per_s"]
                                       / result["raw_signal_with_start_per_s"], 3)

        # 3. the month-end file
        if "batch" in args.steps:
            month_end = work / "month-end.jsonl"
            with month_end.open("w") as out:
                for loan in loans[:args.batch]:
                    out.write(payment_event(loan, "1.00", datetime.now(UTC))
                              .model_dump_json(exclude_none=True) + "\n")
            note(f"batch: {args.batch} events through overdue events replay")
            started = time.perf_counter()
            await asyncio.to_thread(
                subprocess.run, [str(BIN / "overdue"), "events", "replay", str(month_end),
                                 "--concurrency", str(args.concurrency)],
                env=env, check=True, capture_output=True)
            result["batch_10k_seconds"] = round(time.perf_counter() - started, 1)
            result["batch_events"] = args.batch

        # 4. memory per cached workflow: no-op, then open case
        if "memory" in args.steps:
            noop_metrics = f"127.0.0.1:{free_port()}"
            note("memory: the no-op worker takes every no-op workflow into its cache")
            with process([sys.executable, "-m", "bench.noop_worker", address, noop_queue,
                          str(args.cases), noop_metrics], env, work / "noop-worker.log") as noop:
                await wait_for(lambda: _metrics_up(noop_metrics), 60, "no-op worker metrics")
                await asyncio.sleep(3)
                empty = rss_kb(noop.pid)
                cached, full = await settled_cache(noop_metrics, args.cases, 900, noop.pid)
            result["noop_rss_kb_per_cached"] = round((full - empty) / cached, 1)
            result["noop_worker_rss_mb"] = round(full / 1024, 1)

            note("memory: the real worker takes every open case into its cache")
            big = {**env, "OVERDUE_TEMPORAL__MAX_CACHED_WORKFLOWS": str(args.cases)}
            with process([str(BIN / "overdue"), "worker"], big, work / "worker.log") as worker:
                await wait_for(lambda: _metrics_up(worker_metrics), 60, "worker metrics")
                await asyncio.sleep(3)
                empty = rss_kb(worker.pid)
                started = time.perf_counter()
                cached, full = await settled_cache(worker_metrics, args.cases, 1800, worker.pid)
                result["cases_settled_seconds"] = round(time.perf_counter() - started, 1)
                # A query of a cached case: no replay.
                cached_ms = await query_times(cased, random.sample(loans, 50))
            result["case_rss_kb_per_cached"] = round((full - empty) / cached, 1)
            result["worker_rss_mb_at_open_cases"] = round(full / 1024, 1)
            result["rss_ratio"] = round(result["case_rss_kb_per_cached"]
                                        / result["noop_rss_kb_per_cached"], 2)
            result["query_cached_case_ms_median"] = round(statistics.median(cached_ms), 1)

        # 5. a small cache: bounded memory; waking an evicted case
        if "wake" in args.steps:
            note(f"evicted cases: worker with a cache of {args.small_cache}, {args.wake} queries")
            small = {**env, "OVERDUE_TEMPORAL__MAX_CACHED_WORKFLOWS": str(args.small_cache)}
            with process([str(BIN / "overdue"), "worker"], small, work / "worker-small.log"
                         ) as worker:
                await wait_for(lambda: _metrics_up(worker_metrics), 60, "worker metrics")
                # A fresh worker holds no case: each query replays one; past the cache size,
                # each also evicts one.
                wake_ms = await query_times(cased, random.sample(loans, min(args.wake,
                                                                            len(loans))))
                result["small_cache_worker_rss_mb"] = round(rss_kb(worker.pid) / 1024, 1)
                result["small_cache_cached"] = int(
                    await metric(worker_metrics, "temporal_sticky_cache_size"))
            result["small_cache"] = args.small_cache
            result["evicted_case_wake_ms_median"] = round(statistics.median(wake_ms), 1)
            result["evicted_case_wake_ms_p95"] = round(
                statistics.quantiles(wake_ms, n=20)[-1], 1)

    # 6. history
    if "history" in args.steps:
        note("history: a case over a simulated year with an event every day")
        history = await history_per_case_year.main()
        result["history_events_per_case_year"] = history["history_events_per_case_year"]
        result["history_events_max_per_run"] = history["history_events_max_per_run"]
        result["history_signal_floor_per_year"] = history["signal_floor_events_per_year"]
        result["history_case_runs"] = history["case_runs"]
    result["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    return result


async def query_times(client: Client, loans: list[str]) -> list[float]:
    times = []
    for loan in loans:
        started = time.perf_counter()
        await client.get_workflow_handle(workflow_id_for(loan)).query(QUERY_STATE)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def connect_when_up(address: str, within: float = 60) -> Client:
    deadline = time.monotonic() + within
    while True:
        try:
            return await Client.connect(address)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)


async def _up(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def _metrics_up(address: str) -> bool:
    try:
        await metric(address, "temporal_sticky_cache_size")
    except httpx.TransportError:
        return False
    return True


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns the raw limit and the intake take (steps 1 and 2)")
    parser.add_argument("--small-cache", type=int, default=1_000)
    parser.add_argument("--wake", type=int, default=1_500)
    parser.add_argument("--steps", default=",".join(STEPS),
                        help="which of the later steps to run, comma-separated (the raw limit "
                             f"and the intake always run): {','.join(STEPS)}")
    parser.add_argument("--throughput-only", action="store_true",
                        help="only the raw limit and the intake (same as --steps '')")
    parser.add_argument("--keep", action="store_true",
                        help="keep the bench's databases and process logs (path on stderr)")
    parser.add_argument("--in-memory", action="store_true",
                        help="the dev server without its database file (faster raw limit)")
    args = parser.parse_args()
    args.batch = min(args.batch, args.cases)
    args.steps = set() if args.throughput_only else {
        step for step in args.steps.split(",") if step}
    if args.steps - set(STEPS):
        parser.error(f"--steps: unknown {sorted(args.steps - set(STEPS))}; "
                     f"known: {','.join(STEPS)}")
    return args


if __name__ == "__main__":
    options = arguments()
    options.work = Path(tempfile.mkdtemp(prefix="overdue-bench-"))
    try:
        figures = asyncio.run(main(options))
    finally:
        if not options.keep:
            shutil.rmtree(options.work, ignore_errors=True)
    print(json.dumps(figures))
