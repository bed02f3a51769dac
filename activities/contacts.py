"""Customer contacts. Each contact is claimed in the database under its idempotency key
before the gateway is called, and the gateway deduplicates on the same key, so a retry
after a lost answer never sends a second message."""

from __future__ import annotations

from decimal import Decimal

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contracts import ContactOutcome, SendReminderRequest
from domain.money import format_amount
from domain.templates import TemplateError, pick_locale, render
from overdue.clients.sms import SmsGatewayClient, SmsGatewayUnavailable, SmsRejected
from overdue.storage.repository import claim_contact_attempt, contact_target, utcnow

log = structlog.get_logger(__name__)

FINAL_STATUSES = ("sent", "delivered", "failed", "suppressed")


def _percent(fraction: Decimal) -> str:
    return f"{(fraction * 100).normalize():f}%"


class ContactActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sms: SmsGatewayClient) -> None:
        self._sessions = sessions
        self._sms = sms

    @activity.defn(name="send_sms_reminder")
    async def send_sms_reminder(self, request: SendReminderRequest) -> ContactOutcome:
        bound = log.bind(loan_id=request.loan_id, step=request.step)
        async with self._sessions() as session:
            target = await contact_target(session, request.loan_id)
            if target is None:
                raise ApplicationError(
                    f"loan {request.loan_id} has no customer snapshot to contact",
                    type="UnknownLoan", non_retryable=True)
            locale = pick_locale(target.locale, request.default_locale)
            attempt = await claim_contact_attempt(
                session, key=request.idempotency_key, loan_id=request.loan_id,
                step=request.step, channel="sms", template=request.template_name,
                locale=locale, recipient=target.phone, scheduled_for=request.scheduled_for)
            if attempt.status in FINAL_STATUSES:
                await session.commit()
                bound.info("contact already settled", status=attempt.status)
                return ContactOutcome(attempt_id=attempt.id, status=_outcome(attempt.status),
                                      channel="sms", replayed=True, reason=attempt.error)
            attempt.tries += 1
            attempt.last_attempt_at = utcnow()
            if not target.sms_consent:
                attempt.status = "suppressed"
                attempt.error = "customer opted out of SMS"
                await session.commit()
                bound.info("contact suppressed", reason="sms opt-out")
                return ContactOutcome(attempt_id=attempt.id, status="suppressed", channel="sms",
                                      reason=attempt.error)
            await session.commit()

            try:
                body = render(request.templates[locale], {
                    "customer_name": target.customer_name,
                    "loan_ref": request.loan_id[-4:],
                    "overdue_amount": format_amount(request.overdue_amount, target.currency),
                    "due_date": request.due_date.isoformat(),
                    "days_past_due": str(request.days_past_due),
                    "penalty_rate": _percent(request.penalty_uplift),
                    "bank_name": request.bank.name,
                    "bank_phone": request.bank.phone,
                    "pay_url": request.bank.pay_url,
                    "dispute_url": request.bank.dispute_url,
                    "calculator_url": request.bank.calculator_url,
                    "faq_url": request.bank.faq_url,
                })
            except (KeyError, TemplateError) as exc:
                raise ApplicationError(f"template {request.template_name}/{locale}: {exc}",
                                       type="TemplateError", non_retryable=True) from exc

            try:
                receipt = await self._sms.send(to=target.phone, body=body,
                                               idempotency_key=request.idempotency_key,
                                               reference=request.case_ref)
            except SmsRejected as exc:
                attempt.status = "failed"
                attempt.error = f"rejected by gateway: {exc.status_code} {exc.error_code}"
                await session.commit()
                bound.warning("sms rejected", status_code=exc.status_code,
                              error_code=exc.error_code)
                return ContactOutcome(attempt_id=attempt.id, status="failed", channel="sms",
                                      reason=attempt.error)
            except SmsGatewayUnavailable as exc:
                attempt.error = f"gateway unavailable: {exc}"
                await session.commit()
                bound.warning("sms gateway unavailable; Temporal will retry")
                raise

            attempt.status = "sent"
            attempt.sent_at = utcnow()
            attempt.provider_message_id = receipt.message_id
            attempt.error = None
            await session.commit()
            bound.info("sms sent", replayed=receipt.replayed)
            return ContactOutcome(attempt_id=attempt.id, status="sent", channel="sms",
                                  replayed=receipt.replayed)


def _outcome(status: str) -> str:
    return "sent" if status == "delivered" else status
