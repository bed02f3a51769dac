"""Initial schema: customers, loans, collection_cases, contact_attempts, core_banking_events.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-30 00:00:00.000000

Money, Rate and UTCDateTime are the models' own TypeDecorators, so each dialect gets the
same concrete column types as ``Base.metadata.create_all`` would give it (NUMERIC and
TIMESTAMP WITH TIME ZONE on PostgreSQL, exact decimal text on SQLite). Constraint and
index names are spelled out as the models' naming convention produces them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from overdue.storage.types import Money, Rate, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "customers",
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("preferred_channel", sa.String(length=16), nullable=True),
        sa.Column("sms_consent", sa.Boolean(), nullable=False),
        sa.Column("email_consent", sa.Boolean(), nullable=False),
        sa.Column("phone_consent", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")),
    )
    op.create_table(
        "loans",
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("product", sa.String(length=64), nullable=False),
        sa.Column("branch", sa.String(length=64), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("principal_outstanding", Money(), nullable=False),
        sa.Column("annual_rate", Rate(), nullable=False),
        sa.Column("instalment_amount", Money(), nullable=False),
        sa.Column("remaining_instalments", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.customer_id"],
            name=op.f("fk_loans_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("loan_id", name=op.f("pk_loans")),
    )
    op.create_index(op.f("ix_loans_customer_id"), "loans", ["customer_id"], unique=False)
    op.create_table(
        "collection_cases",
        sa.Column("case_ref", sa.String(length=200), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("arrears", Money(), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=16), nullable=True),
        sa.Column("policy_version", sa.String(length=64), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("case_ref", name=op.f("pk_collection_cases")),
    )
    op.create_index(
        op.f("ix_collection_cases_loan_id"), "collection_cases", ["loan_id"], unique=False
    )
    op.create_table(
        "contact_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=16), nullable=False),
        sa.Column("recipient_masked", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_for", UTCDateTime(), nullable=False),
        sa.Column("first_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=100), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_attempts")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_contact_attempts_idempotency_key")),
    )
    op.create_index(
        op.f("ix_contact_attempts_loan_id"), "contact_attempts", ["loan_id"], unique=False
    )
    op.create_table(
        "core_banking_events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("loan_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("workflow_id", sa.String(length=100), nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_core_banking_events")),
    )
    op.create_index(
        "ix_core_banking_events_loan_received",
        "core_banking_events",
        ["loan_id", "received_at"],
        unique=False,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_core_banking_events_loan_received", table_name="core_banking_events")
    op.drop_table("core_banking_events")
    op.drop_index(op.f("ix_contact_attempts_loan_id"), table_name="contact_attempts")
    op.drop_table("contact_attempts")
    op.drop_index(op.f("ix_collection_cases_loan_id"), table_name="collection_cases")
    op.drop_table("collection_cases")
    op.drop_index(op.f("ix_loans_customer_id"), table_name="loans")
    op.drop_table("loans")
    op.drop_table("customers")
