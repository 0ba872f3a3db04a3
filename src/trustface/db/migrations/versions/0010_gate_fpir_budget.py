"""gates.fpir_budget: a face gate's stranger-admission budget (most FPIR per attempt)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 (issue 16)
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fpir_budget', sa.Float(), server_default='0.001', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.drop_column('fpir_budget')
