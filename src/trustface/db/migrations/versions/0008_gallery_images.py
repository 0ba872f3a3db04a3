"""gallery_images: enrolment photos kept only under a separate written image-retention consent (R9)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 (issue 4)
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'gallery_images',
        sa.Column('image_id', sa.String(length=40), nullable=False),
        sa.Column('tenant_id', sa.String(length=40), nullable=False),
        sa.Column('subject_id', sa.String(length=40), nullable=False),
        sa.Column('purpose_id', sa.String(length=40), nullable=False),
        sa.Column('consent_id', sa.String(length=40), nullable=True),
        sa.Column('key_version', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
        sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
        sa.PrimaryKeyConstraint('image_id'),
    )
    with op.batch_alter_table('gallery_images', schema=None) as batch_op:
        batch_op.create_index('ix_gallery_images_subject', ['subject_id', 'purpose_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('gallery_images', schema=None) as batch_op:
        batch_op.drop_index('ix_gallery_images_subject')
    op.drop_table('gallery_images')
