"""Aftercare after a case closes: the satisfaction survey, then follow-ups for customers
whose loan was restructured. Its own workflow (``aftercare-<case ref>``), abandoned by the
closing case so that it outlives it."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.contracts import FollowUpRequest, SurveyRequest
    from domain.aftercare import WORKFLOW_AFTERCARE, AftercareInput

RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5))


@workflow.defn(name=WORKFLOW_AFTERCARE)
class AftercareWorkflow:
    @workflow.run
    async def run(self, care: AftercareInput) -> list[str]:
        policy = care.policy
        done: list[str] = []
        survey = await workflow.execute_activity(
            "send_survey",
            SurveyRequest(loan_id=care.loan_id, case_ref=care.case_ref, outcome=care.outcome,
                          template=policy.aftercare.survey_template,
                          templates=policy.templates[policy.aftercare.survey_template],
                          bank=policy.bank, default_locale=policy.case.default_locale),
            result_type=str, start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRY,
            summary="satisfaction survey")
        done.append(f"survey: {survey}")
        if care.outcome != "restructured":
            return done
        for number, day in enumerate(policy.aftercare.restructured_follow_up_days, start=1):
            await workflow.sleep((self._at(care, day) - workflow.now()),
                                 summary=f"follow-up {number}, day {day} after closure")
            result = await workflow.execute_activity(
                "send_follow_up",
                FollowUpRequest(loan_id=care.loan_id, case_ref=care.case_ref, number=number,
                                template=policy.aftercare.follow_up_template,
                                templates=policy.templates[policy.aftercare.follow_up_template],
                                bank=policy.bank, default_locale=policy.case.default_locale),
                result_type=str, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RETRY, summary=f"restructured customer: follow-up {number}")
            done.append(f"follow-up {number}: {result}")
        return done

    @staticmethod
    def _at(care: AftercareInput, day: int) -> datetime:
        """Real time of ``day`` case days after closure (the demo's clock runs faster)."""
        return care.closed_at_real + timedelta(days=day) / care.policy.clock.time_scale
