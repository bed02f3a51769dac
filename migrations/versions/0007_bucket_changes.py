"""bucket_changes: each change of a case's days-past-due bucket or oldest unpaid due date

Revision ID: 0007_bucket_changes
Revises: 0006_early_warning
Create Date: 2026-11-30 07:10:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from overdue.storage.types import Money, UTCDateTime

# revision identifiers, used by Alembic.
revision: str = '0007_bucket_changes'
down_revision: str | Sequence[str] | None = '0006_early_warning'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('bucket_changes',
    sa.Column('change_key', sa.String(length=220), nullable=False),
    sa.Column('case_ref', sa.String(length=200), nullable=False),
    sa.Column('loan_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('changed_on', sa.Date(), nullable=False),
    sa.Column('from_bucket', sa.String(length=16), nullable=True),
    sa.Column('to_bucket', sa.String(length=16), nullable=False),
    sa.Column('days_past_due', sa.Integer(), nullable=False),
    sa.Column('oldest_unpaid_due_date', sa.Date(), nullable=True),
    sa.Column('arrears', Money(), nullable=False),
    sa.Column('recorded_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('change_key', name=op.f('pk_bucket_changes'))
    )
    with op.batch_alter_table('bucket_changes', schema=None) as batch_op:
        batch_op.create_index('ix_bucket_changes_case_ref_changed_on',
                              ['case_ref', 'changed_on'], unique=False)
        batch_op.create_index(batch_op.f('ix_bucket_changes_loan_id'), ['loan_id'],
                              unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('bucket_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bucket_changes_loan_id'))
        batch_op.drop_index('ix_bucket_changes_case_ref_changed_on')

    op.drop_table('bucket_changes')
