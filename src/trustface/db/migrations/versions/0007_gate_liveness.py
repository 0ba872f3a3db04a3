"""gates.liveness: a gate may require the liveness challenge for every face attempt

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 (issue 8)
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('liveness', sa.String(length=10), server_default='off', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.drop_column('liveness')
