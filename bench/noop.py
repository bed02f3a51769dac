"""The raw limit's workflow: it waits, takes signals, and does nothing else.

Signal-with-start of this workflow is the fastest a case can be opened on a given Temporal
server; a worker holding thousands of them waiting is the least memory a cached workflow
can take. The service is measured against both.
"""

from __future__ import annotations

from temporalio import workflow


@workflow.defn(name="BenchNoop")
class NoopWorkflow:
    def __init__(self) -> None:
        self._done = False

    @workflow.signal(name="tick")
    def tick(self, _: str) -> None:
        pass

    @workflow.signal(name="stop")
    def stop(self) -> None:
        self._done = True

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)
