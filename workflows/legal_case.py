"""A legal case: review, filing, hearing, judgment, enforcement; settlement at any step.

Child workflow ``legal-<loan_id>-<n>`` of the loan's case, started only when the loan is
more than 90 days past due and the last two negotiations failed (policy), or by a legal
supervisor's override. Each step of the legal system arrives as the ``legal_event``
signal and is awaited with the policy's long timeout; when nothing comes, a reminder task
is raised for the legal team and the wait goes on. A settlement accepted at any step
stays the legal steps and is followed like an agreement; a broken one resumes them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy

from workflows.stage_report import report_to_case

with workflow.unsafe.imports_passed_through():
    from zoneinfo import ZoneInfo

    from activities.contracts import (
        EnforcementRequest,
        FilingRequest,
        LegalRecord,
        LegalReminderRequest,
        ReviewRequest,
    )
    from domain.case import StageResult
    from domain.legal import LedgerEntry, claim_as_of, settlement_offer
    from domain.legal_case import (
        QUERY_LEGAL,
        SIGNAL_LEGAL_EVENT,
        SIGNAL_LEGAL_PAYMENT,
        UPDATE_ASSET_LEAD,
        UPDATE_OFFER_SETTLEMENT,
        UPDATE_SETTLEMENT_ANSWER,
        WORKFLOW_LEGAL,
        AssetLead,
        ClaimView,
        EnforcementActionView,
        LedgerItem,
        LegalEvent,
        LegalHistoryEntry,
        LegalInput,
        LegalPayment,
        LegalResult,
        LegalState,
        SettlementAnswer,
        SettlementInput,
        SettlementView,
    )
    from domain.money import format_amount
    from domain.policy import shared_policy
    from overdue.metrics import count_filing, count_recovered

RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                    maximum_interval=timedelta(minutes=5))


class _Settled(Exception):
    """The customer's settlement was kept: the legal case ends here."""


@workflow.defn(name=WORKFLOW_LEGAL)
class LegalCaseWorkflow:
    @workflow.init
    def __init__(self, case: LegalInput) -> None:
        self._in = case.model_copy(update={"policy": shared_policy(case.policy)})
        self._s = LegalState(legal_id=workflow.info().workflow_id)
        self._events: list[LegalEvent] = []

    # --- what the legal system, the customer and officers report ------------------------

    @workflow.signal(name=SIGNAL_LEGAL_EVENT)
    def legal_event(self, event: LegalEvent) -> None:
        s = self._s
        if event.event_id is not None:
            if event.event_id in s.seen_events:
                return
            s.seen_events.append(event.event_id)
        self._events.append(event)
        if event.type == "enforcement_update" and event.action_id is not None:
            for action in s.actions:
                if action.action_id == event.action_id:
                    action.status = event.status or action.status
                    action.recovered = max(action.recovered, event.recovered or Decimal(0))
            self._log(f"enforcement {event.kind}: {event.status}, recovered "
                      f"{self._money(event.recovered or Decimal(0))}")

    @workflow.signal(name=SIGNAL_LEGAL_PAYMENT)
    def payment(self, notice: LegalPayment) -> None:
        s = self._s
        if notice.event_id in s.seen_payments:
            return
        s.seen_payments.append(notice.event_id)
        s.paid += notice.amount
        s.ledger_payments.append(LedgerItem(on=notice.value_date, kind="payment",
                                            amount=notice.amount))

    @workflow.update(name=UPDATE_OFFER_SETTLEMENT)
    def offer_settlement(self, command: SettlementInput) -> SettlementView:
        s = self._s
        claim = self._claim(self._case_date())
        grace_until = (self._case_date() + timedelta(days=command.grace_days)
                       if command.grace_days else None)
        offer = settlement_offer(
            self._domain_claim(self._case_date()),
            waive_penalty_share=command.waive_penalty_share, grace_days=command.grace_days,
            instalments=command.instalments,
            first_due=grace_until or self._case_date() + timedelta(days=1))
        s.settlement = SettlementView(
            offered_by=command.officer, offered_at=self._case_now(),
            settle_amount=offer.settle_amount, waived_penalty=offer.waived_penalty,
            grace_until=offer.grace_until, instalments=list(offer.instalments),
            paid_before=s.paid)
        self._log(f"settlement offered by {command.officer}: "
                  f"{self._money(offer.settle_amount)} (claim {self._money(claim.total)}, "
                  f"penalty waived {self._money(offer.waived_penalty)}), "
                  f"{len(offer.instalments)} payment(s)")
        return s.settlement

    @offer_settlement.validator
    def _validate_offer(self, command: SettlementInput) -> None:
        rules = self._in.policy.legal
        if self._s.step == "done":
            raise ValueError("the legal case has ended")
        if self._s.settlement is not None and self._s.settlement.status == "following":
            raise ValueError("a settlement is already being followed")
        if command.waive_penalty_share > rules.max_settlement_waiver:
            raise ValueError(f"waive_penalty_share above the policy's "
                             f"max_settlement_waiver ({rules.max_settlement_waiver})")

    @workflow.update(name=UPDATE_SETTLEMENT_ANSWER)
    def settlement_answer(self, answer: SettlementAnswer) -> SettlementView:
        settlement = self._s.settlement
        assert settlement is not None
        settlement.status = "following" if answer.accept else "declined"
        settlement.paid_before = self._s.paid
        self._log(f"settlement {'accepted' if answer.accept else 'declined'} "
                  f"(recorded by {answer.recorded_by})")
        return settlement

    @settlement_answer.validator
    def _validate_answer(self, answer: SettlementAnswer) -> None:
        if self._s.settlement is None or self._s.settlement.status != "offered":
            raise ValueError("no settlement offer is waiting for the customer's answer")

    @workflow.update(name=UPDATE_ASSET_LEAD)
    def add_asset_lead(self, lead: AssetLead) -> int:
        self._s.asset_leads.append(lead)
        self._log(f"asset lead for {lead.kind} from {lead.officer}")
        return len(self._s.asset_leads)

    @add_asset_lead.validator
    def _validate_lead(self, lead: AssetLead) -> None:
        if self._s.step == "done":
            raise ValueError("the legal case has ended")

    @workflow.query(name=QUERY_LEGAL)
    def legal_state(self) -> LegalState:
        return self._s

    # --- the case -----------------------------------------------------------------------

    @workflow.run
    async def run(self, case: LegalInput) -> LegalResult:
        me = workflow.info().workflow_id
        try:
            result = await self._legal(case)
        except asyncio.CancelledError:
            await report_to_case(StageResult(
                child_id=me, legal=LegalResult(number=self._in.number, status="cancelled")))
            raise
        await report_to_case(StageResult(child_id=me, legal=result))
        return result

    async def _legal(self, case: LegalInput) -> LegalResult:
        s = self._s
        rules = case.policy.legal
        self._log(f"legal action: {case.trigger}")
        try:
            s.review_id = await workflow.execute_activity(
                "request_legal_review",
                ReviewRequest(legal_id=s.legal_id, loan_id=case.loan_id, arrears=case.arrears,
                              days_past_due=case.days_past_due,
                              failed_negotiations=case.failed_negotiations),
                result_type=str, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RETRY, summary="ask the lawyers to review the case")
            review = await self._await_event("review_decided", rules.review_days, "review")
            s.review_decision, s.review_reasons = review.decision, list(review.reasons)
            self._log(f"review: {review.decision} {'; '.join(review.reasons)}".strip())
            if review.decision == "do_not_proceed":
                return await self._end(LegalResult(number=case.number, status="not_proceeding",
                                                   reasons=list(review.reasons)))
            filing_date = self._case_date()
            s.claim = self._claim(filing_date, with_costs=True)
            s.filing_id = await workflow.execute_activity(
                "file_suit",
                FilingRequest(legal_id=s.legal_id, loan_id=case.loan_id, court=rules.court,
                              claim=s.claim,
                              facts=f"Loan {case.loan_id}: instalments unpaid since "
                                    f"{self._oldest_due().isoformat()}; {case.trigger}.",
                              claims=["repayment of principal and interest",
                                      "penalty interest until repaid", "legal costs"]),
                result_type=str, start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RETRY, summary=f"file suit for {self._money(s.claim.total)}")
            s.step = "filed"
            count_filing()
            self._log(f"suit filed at {rules.court}: {self._money(s.claim.total)}")
            await self._record()
            hearing = await self._await_event("hearing_scheduled", rules.hearing_wait_days,
                                              "hearing date")
            s.hearing_date, s.step = hearing.hearing_date, "hearing"
            await self._record()
            judgment = await self._await_event("judgment", rules.judgment_wait_days,
                                               "judgment")
            s.judgment, s.awarded, s.step = judgment.outcome, judgment.awarded, "judgment"
            self._log(f"judgment {judgment.outcome}, awarded "
                      f"{self._money(judgment.awarded or Decimal(0))}")
            await self._record()
            if judgment.outcome == "against":
                return await self._end(LegalResult(number=case.number, status="lost",
                                                   claim_total=s.claim.total))
            await self._enforce(rules.enforcement_actions, rules.enforcement_wait_days)
            count_recovered(int(s.recovered * 100))
            return await self._end(LegalResult(number=case.number, status="recovered",
                                               recovered=s.recovered,
                                               claim_total=s.claim.total))
        except _Settled:
            return await self._end(LegalResult(
                number=case.number, status="settled",
                recovered=s.paid - (s.settlement.paid_before if s.settlement else Decimal(0)),
                claim_total=s.claim.total if s.claim else None))

    async def _enforce(self, kinds: Sequence[str], wait_days: int) -> None:
        s = self._s
        leads: dict[str, str] = {lead.kind: lead.lead for lead in s.asset_leads}
        wanted = list(dict.fromkeys([*kinds, *leads]))
        assert s.filing_id is not None
        s.actions = await workflow.execute_activity(
            "request_enforcement",
            EnforcementRequest(legal_id=s.legal_id, filing_id=s.filing_id,
                               actions=[(kind, leads.get(kind)) for kind in wanted]),
            result_type=list[EnforcementActionView],
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RETRY,
            summary=f"apply for enforcement: {', '.join(wanted)}")
        s.step = "enforcement"
        self._log(f"enforcement applied for: {', '.join(wanted)}")
        await self._record()
        target = s.awarded or (s.claim.total if s.claim else Decimal(0))
        while not all(a.status in ("completed", "failed") for a in s.actions) \
                and s.recovered < target:
            await self._wait_or_remind(
                lambda: all(a.status in ("completed", "failed") for a in s.actions)
                or s.recovered >= target, wait_days, "enforcement actions")

    # --- waiting, with settlement and reminders -----------------------------------------

    async def _await_event(self, kind: str, days: int, what: str) -> LegalEvent:
        def arrived() -> bool:
            return any(e.type == kind for e in self._events)

        while not arrived():
            await self._wait_or_remind(arrived, days, what)
        event = next(e for e in self._events if e.type == kind)
        self._events.remove(event)
        return event

    async def _wait_or_remind(self, condition: Callable[[], bool], days: int, what: str) -> None:
        """Wait for ``condition``; a followed settlement stays the case; no news in ``days``
        raises a reminder for the legal team."""
        s = self._s
        deadline = self._case_now() + timedelta(days=days)
        while not condition():
            if s.settlement is not None and s.settlement.status == "following":
                await self._follow_settlement()
                continue
            remaining = (deadline - self._case_now()) / self._scale()
            if remaining <= timedelta(0):
                s.reminders += 1
                await workflow.execute_activity(
                    "raise_legal_reminder",
                    LegalReminderRequest(legal_id=s.legal_id, loan_id=self._in.loan_id,
                                         step=what, number=s.reminders),
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY,
                    summary=f"reminder to the legal team: {what} overdue")
                self._log(f"no {what} after {days} days: reminder raised for the legal team")
                deadline = self._case_now() + timedelta(days=days)
                continue
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: condition() or (s.settlement is not None
                                            and s.settlement.status == "following"),
                    timeout=remaining, timeout_summary=f"waiting for {what}")

    async def _follow_settlement(self) -> None:
        """Each settlement payment by its date plus grace; kept ends the case, broken resumes."""
        s = self._s
        settlement = s.settlement
        assert settlement is not None
        grace = self._in.policy.legal.settlement_grace_days
        due_so_far = Decimal("0.00")
        for when, amount in settlement.instalments:
            due_so_far += amount
            check_at = self._start_of_day(when + timedelta(days=grace + 1))

            def paid_enough(target: Decimal = due_so_far) -> bool:
                return s.paid - settlement.paid_before >= target

            remaining = (check_at - self._case_now()) / self._scale()
            if remaining > timedelta(0):
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        paid_enough, timeout=remaining,
                        timeout_summary=f"settlement payment of {self._money(amount)} due "
                                        f"{when.isoformat()}")
            if not paid_enough():
                settlement.status = "broken"
                self._log("settlement broken: legal steps resume")
                await self._record()
                return
        settlement.status = "kept"
        self._log("settlement kept")
        raise _Settled

    async def _end(self, result: LegalResult) -> LegalResult:
        self._s.step = "done"
        self._log(f"legal case ended: {result.status}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record(result.status)
        return result

    async def _record(self, outcome: str | None = None) -> None:
        s = self._s
        await workflow.execute_activity(
            "record_legal_case",
            LegalRecord(legal_id=s.legal_id, loan_id=self._in.loan_id,
                        case_ref=self._in.case_ref, step=s.step, outcome=outcome,
                        trigger=self._in.trigger, filing_id=s.filing_id,
                        claim_total=s.claim.total if s.claim else None,
                        recovered=s.recovered, judgment=s.judgment),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RETRY,
            summary=f"record legal case: {outcome or s.step}")
        workflow.set_current_details("\n\n".join([
            f"**Step:** {s.step}", f"**Trigger:** {self._in.trigger}",
            *( [f"**Claim:** {self._money(s.claim.total)} as of {s.claim.as_of.isoformat()}"]
               if s.claim else []),
            *( [f"**Judgment:** {s.judgment}"] if s.judgment else []),
            f"**Recovered:** {self._money(s.recovered)}",
            *( [f"**Settlement:** {s.settlement.status}, "
                f"{self._money(s.settlement.settle_amount)}"] if s.settlement else []),
        ]))

    # --- money and time -----------------------------------------------------------------

    def _ledger(self, with_costs: bool, as_of: date) -> list[LedgerEntry]:
        entries = [LedgerEntry(on=i.on, kind=i.kind, amount=i.amount, principal=i.principal,
                               interest=i.interest)
                   for i in [*self._in.ledger, *self._s.ledger_payments]]
        if with_costs and self._in.policy.legal.legal_costs:
            entries.append(LedgerEntry(on=as_of, kind="cost",
                                       amount=self._in.policy.legal.legal_costs))
        return entries

    def _domain_claim(self, as_of: date, with_costs: bool = False):  # type: ignore[no-untyped-def]
        return claim_as_of(self._ledger(with_costs, as_of), as_of=as_of,
                           annual_rate=self._in.annual_rate,
                           uplift=self._in.policy.penalty.uplift,
                           accelerated_principal=self._in.accelerated_principal)

    def _claim(self, as_of: date, with_costs: bool = False) -> ClaimView:
        if self._s.claim is not None and not with_costs and as_of == self._s.claim.as_of:
            return self._s.claim
        claim = self._domain_claim(as_of, with_costs)
        return ClaimView(as_of=claim.as_of, principal=claim.principal, interest=claim.interest,
                         penalty_interest=claim.penalty_interest, costs=claim.costs,
                         total=claim.total)

    def _oldest_due(self) -> date:
        return min(i.on for i in self._in.ledger if i.kind == "instalment_due")

    def _log(self, what: str) -> None:
        self._s.history.append(LegalHistoryEntry(at=self._case_now(), what=what))

    def _money(self, amount: Decimal) -> str:
        return format_amount(amount, self._in.policy.case.currency)

    def _scale(self) -> int:
        return self._in.policy.clock.time_scale

    def _case_now(self) -> datetime:
        return self._in.clock_anchor_case + (
            workflow.now() - self._in.clock_anchor_real) * self._scale()

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self._in.policy.case.timezone)

    def _case_date(self) -> date:
        return self._case_now().astimezone(self._zone()).date()

    def _start_of_day(self, day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=self._zone())
