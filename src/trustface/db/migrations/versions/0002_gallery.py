"""gallery: protected templates, wrapped subject keys, tenant key versions, gallery state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 (issue 4)
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gallery_tenant_keys',
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kek_check', sa.String(length=64), nullable=False),
    sa.Column('rotated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('tenant_id')
    )
    op.create_table('gallery_subject_keys',
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('subject_id')
    )
    with op.batch_alter_table('gallery_subject_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gallery_subject_keys_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('gallery_templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('template_id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('model_version', sa.String(length=80), nullable=False),
    sa.Column('ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('template_id')
    )
    with op.batch_alter_table('gallery_templates', schema=None) as batch_op:
        batch_op.create_index('ix_gallery_templates_gallery', ['site_id', 'purpose_id', 'mode'], unique=False)
        batch_op.create_index('ix_gallery_templates_subject', ['subject_id', 'purpose_id', 'mode'], unique=False)

    op.create_table('gallery_state',
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('site_id', 'purpose_id', 'mode')
    )


def downgrade() -> None:
    op.drop_table('gallery_state')
    with op.batch_alter_table('gallery_templates', schema=None) as batch_op:
        batch_op.drop_index('ix_gallery_templates_subject')
        batch_op.drop_index('ix_gallery_templates_gallery')
    op.drop_table('gallery_templates')
    with op.batch_alter_table('gallery_subject_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gallery_subject_keys_tenant_id'))
    op.drop_table('gallery_subject_keys')
    op.drop_table('gallery_tenant_keys')
