"""Changed versions of the case workflow, to prove what the replay check protects.

``GuardedChange`` adds a step behind ``workflow.patched``: cases that closed before the
change replay the old path. ``UnguardedChange`` makes the same change without the guard:
replaying an old history must fail. (Kept apart from the test module because the workflow
sandbox imports the module a workflow class lives in.)
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.case import WORKFLOW_TYPE, CaseInput, CaseOutcome, Outcome
    from workflows.loan_delinquency import LoanDelinquencyWorkflow


@workflow.defn(name=WORKFLOW_TYPE)
class GuardedChange(LoanDelinquencyWorkflow):
    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        return await super().run(case)

    async def _finish(self, outcome: Outcome) -> CaseOutcome | None:
        if workflow.patched("closing-pause"):
            await workflow.sleep(timedelta(seconds=1), summary="new: pause before closing")
        return await super()._finish(outcome)


@workflow.defn(name=WORKFLOW_TYPE)
class UnguardedChange(LoanDelinquencyWorkflow):
    @workflow.run
    async def run(self, case: CaseInput) -> CaseOutcome:
        return await super().run(case)

    async def _finish(self, outcome: Outcome) -> CaseOutcome | None:
        await workflow.sleep(timedelta(seconds=1), summary="new: pause before closing")
        return await super()._finish(outcome)
