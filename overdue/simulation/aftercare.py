"""The aftercare workflow as the simulation runs it: the real one, then it stays open.

Aftercare is a child the closing case abandons. On the Java time-skipping server, a child
completing after its parent closed stops time skipping for good (the caveat in
``tests/conftest.py`` about abandoned children); in a simulation every cure would do that.
This subclass does all the real aftercare work (survey, follow-ups) and then waits, so it
never completes while the simulation runs. Registered under the same workflow type, in
place of ``AftercareWorkflow``, only by the simulator's worker.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.aftercare import WORKFLOW_AFTERCARE, AftercareInput
    from workflows.aftercare import AftercareWorkflow


@workflow.defn(name=WORKFLOW_AFTERCARE)
class OpenEndedAftercareWorkflow(AftercareWorkflow):
    @workflow.run
    async def run(self, care: AftercareInput) -> list[str]:
        done = await super().run(care)
        await workflow.wait_condition(lambda: False)
        return done
