"""gates.face_mode and gates.credential_alone: face as the second factor (issue 16, item 3)

A gate's face step is either 1:N identification (``identify``, the default and every existing
gate) or a 1:1 verification after a PIN, card or QR code (``verify_after_credential``);
``credential_alone`` lists the credentials that also open a two-factor gate without a face.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 (issue 16)
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.add_column(sa.Column('face_mode', sa.String(length=30), server_default='identify', nullable=False))
        batch_op.add_column(sa.Column('credential_alone', sa.String(length=100), server_default='', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('gates', schema=None) as batch_op:
        batch_op.drop_column('credential_alone')
        batch_op.drop_column('face_mode')
