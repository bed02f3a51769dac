"""How a stage child (negotiation round, legal case) tells its case that it has ended.

The case may have continued as new since it started the child, so the run waiting now
holds no handle on the child: the result travels as a signal to the case's workflow id,
which reaches whichever run is current. A child started by a case that never continues
mid-stage is also awaited through its handle; the case takes whichever comes first.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from domain.case import SIGNAL_STAGE_RESULT, StageResult

PATCH_REPORT_TO_CASE = "report-result-to-case"
"""Children that ended before this change returned their result only (no signal)."""


async def report_to_case(result: StageResult) -> None:
    parent = workflow.info().parent
    if parent is None or not workflow.patched(PATCH_REPORT_TO_CASE):
        return
    try:
        await workflow.get_external_workflow_handle(parent.workflow_id).signal(
            SIGNAL_STAGE_RESULT, result)
    except FailureError:
        # The case has closed (a loan closure cancelled this child): nobody is waiting.
        workflow.logger.info("case %s has closed; result not delivered", parent.workflow_id)
