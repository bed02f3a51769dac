"""A worker process that hosts only the no-op workflow: the raw limit's memory.

    python -m bench.noop_worker ADDRESS TASK_QUEUE MAX_CACHED METRICS_ADDRESS

It runs the same workflow sandbox (``workflow_runner()``) as the real worker, so the two
RSS figures differ only by what a case keeps.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.noop import NoopWorkflow
from overdue.temporal import metrics_runtime
from workflows.runner import workflow_runner


async def main(address: str, task_queue: str, max_cached: int, metrics: str) -> None:
    client = await Client.connect(address, runtime=metrics_runtime(metrics))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[NoopWorkflow],
                      max_cached_workflows=max_cached, workflow_runner=workflow_runner()):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
