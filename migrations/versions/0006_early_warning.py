"""Early warning: next due date and repayment record on loans, monthly income on
customers, and the early_warnings table (score, factors, pre-due reminder)

Revision ID: 0006_early_warning
Revises: 0005_officers
Create Date: 2026-11-30 04:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from overdue.storage.types import Money, Rate, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0006_early_warning'
down_revision: str | Sequence[str] | None = '0005_officers'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('monthly_income', Money(), nullable=True))

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('late_instalments_12m', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('max_days_past_due', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('last_delinquency_date', sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f('ix_loans_next_due_date'), ['next_due_date'],
                              unique=False)

    op.create_table('early_warnings',
    sa.Column('warning_key', sa.String(length=100), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount_due', Money(), nullable=False),
    sa.Column('scored_on', sa.Date(), nullable=False),
    sa.Column('policy_version', sa.String(length=64), nullable=False),
    sa.Column('probability', Rate(), nullable=False),
    sa.Column('threshold', Rate(), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('factors', sa.JSON(), nullable=False),
    sa.Column('reminder_status', sa.String(length=16), nullable=False),
    sa.Column('reminder_channel', sa.String(length=16), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('warning_key', name=op.f('pk_early_warnings'))
    )
    with op.batch_alter_table('early_warnings', schema=None) as batch_op:
        batch_op.create_index('ix_early_warnings_due_date_flagged', ['due_date', 'flagged'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_early_warnings_loan_id'), ['loan_id'],
                              unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('early_warnings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_early_warnings_loan_id'))
        batch_op.drop_index('ix_early_warnings_due_date_flagged')

    op.drop_table('early_warnings')

    with op.batch_alter_table('loans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loans_next_due_date'))
        batch_op.drop_column('last_delinquency_date')
        batch_op.drop_column('max_days_past_due')
        batch_op.drop_column('late_instalments_12m')
        batch_op.drop_column('next_due_date')

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('monthly_income')
