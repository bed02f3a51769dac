"""Customer contacts: planning (channel choice + compliance guard) and sending.

Each contact is claimed in the database under its idempotency key (loan + episode + step +
channel) before the outside world is called, and the outside world deduplicates on the
same key (the SMS gateway's Idempotency-Key, the e-mail Message-ID, the contact centre's
Idempotency-Key), so a retry after a lost answer never reaches the customer twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import (
    AssignRepresentativeRequest,
    CloseAssignmentRequest,
    ContactOutcome,
    ContactPlan,
    PlanContactRequest,
    RepresentativeAssigned,
    SendReminderRequest,
)
from domain.channels import ContactProfile, choose_channels
from domain.contact_rules import Channel, ContactCandidate, PastContact, check_contact
from domain.money import format_amount
from domain.templates import TemplateError, pick_locale, render
from overdue.clients.contact_centre import (
    ContactCentreClient,
    ContactCentreRejected,
    ContactCentreUnavailable,
)
from overdue.clients.email import EmailClient, EmailRejected, EmailUnavailable
from overdue.clients.sms import SmsGatewayClient, SmsGatewayUnavailable, SmsRejected
from overdue.metrics import count_contact
from overdue.storage import repository as repo
from overdue.storage.models import ContactAttempt

log = structlog.get_logger(__name__)

SETTLED = ("sent", "delivered", "failed", "suppressed")


@dataclass(frozen=True)
class CallbackUrls:
    """Where the outside world reports back (delivery receipts, call outcomes)."""

    sms_receipts: str | None = None
    contact_centre: str | None = None


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    raise ApplicationError(f"unknown time zone {fallback!r}", type="InvalidTimezone",
                           non_retryable=True)


def _fields(request: SendReminderRequest, target: repo.ContactTarget) -> dict[str, str]:
    bank = request.bank
    return {
        "customer_name": target.customer_name,
        "loan_ref": request.loan_id[-4:],
        "overdue_amount": format_amount(request.overdue_amount, target.currency),
        "amount_due": format_amount(
            request.amount_due if request.amount_due is not None else request.overdue_amount,
            target.currency),
        "due_date": request.due_date.isoformat(),
        "days_past_due": str(request.days_past_due),
        "penalty_rate": _percent(request.penalty_uplift),
        "bank_name": bank.name,
        "bank_phone": bank.phone,
        "pay_url": bank.pay_url,
        "dispute_url": bank.dispute_url,
        "calculator_url": bank.calculator_url,
        "faq_url": bank.faq_url,
        "planning_url": bank.planning_url,
        "unsubscribe_url": bank.unsubscribe_url,
    }


def _render(templates: Mapping[str, str], locale: str, fields: Mapping[str, str],
            name: str) -> str:
    try:
        return render(templates[locale], fields)
    except (KeyError, TemplateError) as exc:
        raise ApplicationError(f"template {name}/{locale}: {exc}", type="TemplateError",
                               non_retryable=True) from exc


def _settled(attempt: ContactAttempt, channel: str) -> ContactOutcome:
    status = "sent" if attempt.status == "delivered" else attempt.status
    return ContactOutcome(attempt_id=attempt.id,
                          status=cast(Literal["sent", "failed", "suppressed"], status),
                          channel=channel, replayed=True, reason=attempt.error,
                          provider_id=attempt.provider_message_id)


class ContactActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sms: SmsGatewayClient,
                 email: EmailClient, contact_centre: ContactCentreClient,
                 recipient_secret: bytes, callbacks: CallbackUrls | None = None) -> None:
        self._sessions = sessions
        self._sms = sms
        self._email = email
        self._cc = contact_centre
        self._secret = recipient_secret
        self._callbacks = callbacks or CallbackUrls()

    # --- planning -----------------------------------------------------------------------

    @activity.defn(name="plan_contact")
    async def plan_contact(self, request: PlanContactRequest) -> ContactPlan:
        """Choose the channel and apply the contact rules; record the decision either way."""
        async with self._sessions() as session:
            target = await self._target(session, request.loan_id)
            responsive = list(dict.fromkeys([
                *request.responsive_channels,
                *await repo.responsive_channels(session, target.customer_id)]))
            profile = ContactProfile(
                preferred_channel=cast(Channel | None, target.preferred_channel),
                consents=cast(dict[Channel, bool], target.consents()),
                has_email=bool(target.email), has_phone=bool(target.phone),
                birth_year=target.birth_year,
                responsive_channels=[cast(Channel, c) for c in responsive
                                     if c in ("sms", "email", "phone")])
            local_at = request.at.astimezone(_zone(target.timezone, request.bank_timezone))
            choice = choose_channels(profile, request.channel_policy.policy(), local_at.date(),
                                     request.step_channel)
            order = [c for c in choice.order
                     if c in request.channels and c not in request.exclude]
            if not order:
                detail = ("no usable channel for this step; excluded: "
                          + ", ".join(f"{c} ({why})" for c, why in choice.excluded.items())
                          + (f"; failed: {', '.join(request.exclude)}" if request.exclude
                             else ""))
                await repo.record_decision(
                    session, key=request.decision_key, loan_id=request.loan_id,
                    step=request.step, channel=None, planned_for=request.at, allowed=False,
                    reason="no_channel", next_allowed_at=None, detail=detail)
                await session.commit()
                return ContactPlan(action="none", reason="no_channel")
            channel = order[0]
            rules = request.rules.rules()
            recipient = target.email if channel == "email" else target.phone
            assert recipient is not None
            since = request.at - timedelta(days=rules.period_days + 1)
            history = [
                PastContact(channel=cast(Channel, past.channel), at=past.at,
                            recipient=past.recipient_key, answered=past.answered)
                for past in await repo.customer_contacts_since(session, target.customer_id,
                                                               since)
            ]
            decision = check_contact(
                ContactCandidate(channel=channel, at=local_at,
                                 recipient=repo.recipient_key(self._secret, recipient),
                                 dispute_open=request.dispute_open),
                history, rules)
            await repo.record_decision(
                session, key=request.decision_key, loan_id=request.loan_id, step=request.step,
                channel=channel, planned_for=request.at, allowed=decision.allowed,
                reason=decision.reason, next_allowed_at=decision.next_allowed_at,
                detail=f"{decision.detail} (channel basis: {choice.basis})")
            await session.commit()
        log.info("contact planned", loan_id=request.loan_id, step=request.step,
                 channel=channel, allowed=decision.allowed, reason=decision.reason)
        if decision.allowed:
            return ContactPlan(action="send", channel=channel, reason=decision.reason,
                               basis=choice.basis)
        if decision.next_allowed_at is not None:
            return ContactPlan(action="defer", channel=channel, reason=decision.reason,
                               next_allowed_at=decision.next_allowed_at, basis=choice.basis)
        return ContactPlan(action="blocked", channel=channel, reason=decision.reason,
                           basis=choice.basis)

    # --- sending ------------------------------------------------------------------------

    @activity.defn(name="send_sms_reminder")
    async def send_sms_reminder(self, request: SendReminderRequest) -> ContactOutcome:
        bound = log.bind(loan_id=request.loan_id, step=request.step, channel="sms")
        async with self._sessions() as session:
            target = await self._target(session, request.loan_id)
            locale = pick_locale(target.locale, request.default_locale)
            attempt = await self._claim(session, request, target, "sms", target.phone, locale)
            if attempt.status in SETTLED:
                await session.commit()
                return _settled(attempt, "sms")
            if not target.sms_consent:
                return await self._suppress(session, attempt, "sms", "customer opted out of SMS")
            await session.commit()
            body = _render(request.templates, locale, _fields(request, target),
                           request.template_name)
            try:
                receipt = await self._sms.send(to=target.phone, body=body,
                                               idempotency_key=request.idempotency_key,
                                               reference=request.case_ref,
                                               callback_url=self._callbacks.sms_receipts)
            except SmsRejected as exc:
                bound.warning("sms rejected", status_code=exc.status_code,
                              error_code=exc.error_code)
                return await self._fail(session, attempt, "sms",
                                        f"rejected by gateway: {exc.status_code} "
                                        f"{exc.error_code}")
            except SmsGatewayUnavailable as exc:
                await self._note_transient(session, attempt, f"gateway unavailable: {exc}")
                bound.warning("sms gateway unavailable; Temporal will retry")
                raise
            bound.info("sms sent", replayed=receipt.replayed)
            return await self._sent(session, attempt, "sms", receipt.message_id,
                                    receipt.replayed)

    @activity.defn(name="send_email_reminder")
    async def send_email_reminder(self, request: SendReminderRequest) -> ContactOutcome:
        bound = log.bind(loan_id=request.loan_id, step=request.step, channel="email")
        async with self._sessions() as session:
            target = await self._target(session, request.loan_id)
            locale = pick_locale(target.locale, request.default_locale)
            if not target.email:
                raise ApplicationError("customer has no e-mail address", type="NoAddress",
                                       non_retryable=True)
            attempt = await self._claim(session, request, target, "email", target.email,
                                        locale)
            if attempt.status in SETTLED:
                await session.commit()
                return _settled(attempt, "email")
            if not target.email_consent:
                return await self._suppress(session, attempt, "email",
                                            "customer opted out of e-mail")
            await session.commit()
            fields = _fields(request, target)
            body = _render(request.templates, locale, fields, request.template_name)
            subject = _render(request.subject_templates or {}, locale, fields, "subject")
            try:
                receipt = await self._email.send(
                    to=target.email, subject=subject, text=body, html=None,
                    idempotency_key=request.idempotency_key, reference=request.case_ref,
                    list_unsubscribe=request.bank.unsubscribe_url)
            except EmailRejected as exc:
                bound.warning("e-mail rejected", code=exc.code)
                return await self._fail(session, attempt, "email",
                                        f"rejected by relay: {exc.code}")
            except EmailUnavailable as exc:
                await self._note_transient(session, attempt, f"relay unavailable: {exc}")
                bound.warning("smtp relay unavailable; Temporal will retry")
                raise
            bound.info("e-mail sent")
            return await self._sent(session, attempt, "email", receipt.message_id, False)

    @activity.defn(name="create_call_task")
    async def create_call_task(self, request: SendReminderRequest) -> ContactOutcome:
        """A phone call is a task for a contact-centre agent; its outcome comes back later."""
        bound = log.bind(loan_id=request.loan_id, step=request.step, channel="phone")
        async with self._sessions() as session:
            target = await self._target(session, request.loan_id)
            locale = pick_locale(target.locale, request.default_locale)
            attempt = await self._claim(session, request, target, "phone", target.phone,
                                        locale)
            if attempt.status in SETTLED:
                await session.commit()
                return _settled(attempt, "phone")
            if not target.phone_consent:
                return await self._suppress(session, attempt, "phone",
                                            "customer opted out of calls")
            await session.commit()
            script = _render(request.templates, locale, _fields(request, target),
                             request.template_name)
            try:
                receipt = await self._cc.create_task(
                    kind="collection_call", reference=request.idempotency_key,
                    loan_ref=request.loan_id, phone=target.phone,
                    customer_name=target.customer_name, locale=locale, script=script,
                    due_by=request.scheduled_for + timedelta(days=1),
                    idempotency_key=request.idempotency_key,
                    callback_url=self._callbacks.contact_centre)
            except ContactCentreRejected as exc:
                bound.warning("call task rejected", status_code=exc.status_code)
                return await self._fail(session, attempt, "phone",
                                        f"rejected by contact centre: {exc.status_code}")
            except ContactCentreUnavailable as exc:
                await self._note_transient(session, attempt, f"contact centre unavailable: {exc}")
                raise
            bound.info("call task created")
            return await self._sent(session, attempt, "phone", receipt.task_id, receipt.replayed)

    # --- special circumstances ----------------------------------------------------------

    @activity.defn(name="assign_representative")
    async def assign_representative(self, request: AssignRepresentativeRequest
                                    ) -> RepresentativeAssigned:
        """A dedicated representative and a follow-up task; the same key, the same answer."""
        async with self._sessions() as session:
            target = await self._target(session, request.loan_id)
            # Spread customers over representatives, the same one on every retry.
            index = int(repo.recipient_key(b"assign", request.assignment_key)[:8], 16)
            representative = request.representatives[index % len(request.representatives)]
            try:
                receipt = await self._cc.create_task(
                    kind="hardship_follow_up", reference=request.assignment_key,
                    loan_ref=request.loan_id, phone=target.phone,
                    customer_name=target.customer_name,
                    locale=pick_locale(target.locale, "zh-Hans"),
                    script=f"Special circumstances ({request.hardship}): contact the customer, "
                           "understand the situation and advise; record the outcome.",
                    due_by=request.follow_up_by, idempotency_key=request.assignment_key,
                    callback_url=self._callbacks.contact_centre, assignee=representative)
            except ContactCentreRejected as exc:
                raise ApplicationError(f"follow-up task rejected: {exc.status_code}",
                                       type="FollowUpRejected", non_retryable=True) from exc
            assignment = await repo.record_assignment(
                session, key=request.assignment_key, loan_id=request.loan_id,
                case_ref=request.case_ref, representative=representative,
                hardship=request.hardship, flagged_by=request.flagged_by,
                follow_up_task_id=receipt.task_id)
            await session.commit()
            log.info("representative assigned", loan_id=request.loan_id,
                     representative=assignment.representative)
            return RepresentativeAssigned(representative=assignment.representative,
                                          follow_up_task_id=assignment.follow_up_task_id)

    @activity.defn(name="close_assignment")
    async def close_assignment(self, request: CloseAssignmentRequest) -> None:
        async with self._sessions() as session:
            await repo.close_assignment(session, request.assignment_key, request.outcome)
            await session.commit()

    # --- helpers ------------------------------------------------------------------------

    async def _target(self, session: AsyncSession, loan_id: str) -> repo.ContactTarget:
        target = await repo.contact_target(session, loan_id)
        if target is None:
            raise ApplicationError(f"loan {loan_id} has no customer snapshot to contact",
                                   type="UnknownLoan", non_retryable=True)
        return target

    async def _claim(self, session: AsyncSession, request: SendReminderRequest,
                     target: repo.ContactTarget, channel: str, recipient: str,
                     locale: str) -> ContactAttempt:
        attempt = await repo.claim_contact_attempt(
            session, key=request.idempotency_key, loan_id=request.loan_id, step=request.step,
            channel=channel, template=request.template_name, locale=locale,
            recipient=recipient, recipient_hash=repo.recipient_key(self._secret, recipient),
            scheduled_for=request.scheduled_for)
        if attempt.status not in SETTLED:
            attempt.tries += 1
            attempt.last_attempt_at = repo.utcnow()
        return attempt

    async def _suppress(self, session: AsyncSession, attempt: ContactAttempt, channel: str,
                        reason: str) -> ContactOutcome:
        attempt.status, attempt.error = "suppressed", reason
        await session.commit()
        count_contact(channel, "suppressed")
        return ContactOutcome(attempt_id=attempt.id, status="suppressed", channel=channel,
                              reason=reason)

    async def _fail(self, session: AsyncSession, attempt: ContactAttempt, channel: str,
                    reason: str) -> ContactOutcome:
        attempt.status, attempt.error = "failed", reason
        await session.commit()
        count_contact(channel, "failed")
        return ContactOutcome(attempt_id=attempt.id, status="failed", channel=channel,
                              reason=reason)

    async def _note_transient(self, session: AsyncSession, attempt: ContactAttempt,
                              reason: str) -> None:
        attempt.error = reason
        await session.commit()

    async def _sent(self, session: AsyncSession, attempt: ContactAttempt, channel: str,
                    provider_id: str, replayed: bool) -> ContactOutcome:
        attempt.status = "sent"
        attempt.sent_at = attempt.sent_at or repo.utcnow()
        attempt.provider_message_id = provider_id
        attempt.error = None
        await session.commit()
        count_contact(channel, "sent")
        return ContactOutcome(attempt_id=attempt.id, status="sent", channel=channel,
                              replayed=replayed, provider_id=provider_id)
