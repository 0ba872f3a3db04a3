"""liveness_probes.chip / .descriptor: near-copy marks of frames that passed (issue 17);
gates.liveness_off_reason: why a face gate does without the liveness challenge

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 (issue 17)
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('liveness_probes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chip', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('descriptor', sa.String(length=256), nullable=True))
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('liveness_off_reason', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.drop_column('liveness_off_reason')
    with op.batch_alter_table('liveness_probes', schema=None) as batch_op:
        batch_op.drop_column('descriptor')
        batch_op.drop_column('chip')
