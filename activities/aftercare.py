"""Aftercare: the satisfaction survey after closure and follow-ups for restructured customers.

Both go by SMS (e-mail when the customer opted out of SMS), under an idempotency key per
case and step, like every other contact, and are written to the contact history.
"""

from __future__ import annotations

import hashlib
import hmac

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import FollowUpRequest, SurveyRequest
from domain.policy import BankContacts
from domain.templates import TemplateError, pick_locale, render
from overdue.clients.email import EmailClient, EmailRejected
from overdue.clients.sms import SmsGatewayClient, SmsRejected
from overdue.storage import repository as repo
from overdue.storage.models import Survey

log = structlog.get_logger(__name__)


def survey_token(secret: bytes, case_ref: str) -> str:
    """Unguessable, and the same on every retry."""
    return hmac.new(secret, f"survey:{case_ref}".encode(), hashlib.sha256).hexdigest()[:40]


class AftercareActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sms: SmsGatewayClient,
                 email: EmailClient, secret: bytes, survey_base_url: str) -> None:
        self._sessions = sessions
        self._sms = sms
        self._email = email
        self._secret = secret
        self._survey_base = survey_base_url.rstrip("/")

    @activity.defn(name="send_survey")
    async def send_survey(self, request: SurveyRequest) -> str:
        token = survey_token(self._secret, request.case_ref)
        async with self._sessions() as session:
            survey = (await session.execute(
                select(Survey).where(Survey.token == token))).scalar_one_or_none()
            if survey is None:
                survey = Survey(token=token, case_ref=request.case_ref, loan_id=request.loan_id,
                                outcome=request.outcome)
                session.add(survey)
                await session.flush()
            if survey.sent_at is not None:
                await session.commit()
                return f"already sent by {survey.channel}"
            target = await repo.contact_target(session, request.loan_id)
            if target is None:
                raise ApplicationError(f"loan {request.loan_id} has no customer snapshot",
                                       type="UnknownLoan", non_retryable=True)
            fields = self._fields(target, request.loan_id, request.bank)
            fields["survey_url"] = f"{self._survey_base}/survey/{token}"
            channel = await self._send(target, request.templates, request.template, fields,
                                       request.default_locale, f"{request.case_ref}:survey",
                                       request.case_ref, subject="Survey")
            survey.channel = channel
            survey.sent_at = repo.utcnow() if channel else None
            await session.commit()
        log.info("survey sent", loan_id=request.loan_id, channel=channel)
        return channel or "no lawful channel"

    @activity.defn(name="send_follow_up")
    async def send_follow_up(self, request: FollowUpRequest) -> str:
        async with self._sessions() as session:
            target = await repo.contact_target(session, request.loan_id)
        if target is None:
            raise ApplicationError(f"loan {request.loan_id} has no customer snapshot",
                                   type="UnknownLoan", non_retryable=True)
        fields = self._fields(target, request.loan_id, request.bank)
        channel = await self._send(target, request.templates, request.template, fields,
                                   request.default_locale,
                                   f"{request.case_ref}:follow-up:{request.number}",
                                   request.case_ref, subject="Follow-up")
        log.info("aftercare follow-up", loan_id=request.loan_id, number=request.number,
                 channel=channel)
        return channel or "no lawful channel"

    def _fields(self, target: repo.ContactTarget, loan_id: str,
                bank: BankContacts) -> dict[str, str]:
        return {"customer_name": target.customer_name, "loan_ref": loan_id[-4:],
                "bank_name": bank.name, "bank_phone": bank.phone,
                "planning_url": bank.planning_url, "faq_url": bank.faq_url,
                "unsubscribe_url": bank.unsubscribe_url}

    async def _send(self, target: repo.ContactTarget, templates: dict[str, str], name: str,
                    fields: dict[str, str], default_locale: str, key: str, reference: str,
                    subject: str) -> str | None:
        locale = pick_locale(target.locale, default_locale)
        try:
            text = render(templates[locale], fields)
        except (KeyError, TemplateError) as exc:
            raise ApplicationError(f"template {name}/{locale}: {exc}", type="TemplateError",
                                   non_retryable=True) from exc
        try:
            if target.sms_consent:
                await self._sms.send(to=target.phone, body=text, idempotency_key=key,
                                     reference=reference)
                return "sms"
            if target.email and target.email_consent:
                await self._email.send(to=target.email, subject=f"{fields['bank_name']}: "
                                       f"{subject}", text=text, html=None, idempotency_key=key,
                                       reference=reference,
                                       list_unsubscribe=fields["unsubscribe_url"])
                return "email"
        except (SmsRejected, EmailRejected) as exc:
            log.warning("aftercare contact rejected", reference=reference,
                        error=type(exc).__name__)
            return None
        return None
