"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2025-01-01 (initial schema of issue 3)
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('audit_events',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('occurred_at', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=True),
    sa.Column('subject_id', sa.String(length=40), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_subject_id'), ['subject_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('tenants',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('sites',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('site_type', sa.String(length=20), nullable=False),
    sa.Column('jurisdiction', sa.String(length=10), nullable=False),
    sa.Column('guardian_age', sa.Integer(), nullable=True),
    sa.Column('suspended_at', sa.DateTime(), nullable=True),
    sa.Column('suspension_kind', sa.String(length=20), nullable=True),
    sa.Column('suspension_reason', sa.Text(), nullable=True),
    sa.Column('signage_attested_at', sa.DateTime(), nullable=True),
    sa.Column('signage_attested_by', sa.String(length=200), nullable=True),
    sa.Column('signage_evidence', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sites_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('subjects',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('age_band', sa.String(length=10), nullable=True),
    sa.Column('suspended_at', sa.DateTime(), nullable=True),
    sa.Column('suspension_kind', sa.String(length=20), nullable=True),
    sa.Column('suspension_reason', sa.Text(), nullable=True),
    sa.Column('last_interaction_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subjects_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('device_locations',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('location_type', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('device_locations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_locations_site_id'), ['site_id'], unique=False)

    op.create_table('notices',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('published_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site_id', 'kind', 'version', name='uq_notices_site_kind_version')
    )
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notices_site_id'), ['site_id'], unique=False)

    op.create_table('purposes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('allowed_modes', sa.String(length=40), nullable=False),
    sa.Column('legal_basis', sa.String(length=40), nullable=False),
    sa.Column('necessity_justification', sa.Text(), nullable=False),
    sa.Column('retention_days', sa.Integer(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('site_id', 'name', name='uq_purposes_site_name')
    )
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purposes_site_id'), ['site_id'], unique=False)

    op.create_table('subject_identities',
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('external_ref', sa.String(length=200), nullable=True),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.PrimaryKeyConstraint('subject_id')
    )
    op.create_table('consents',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('notice_id', sa.String(length=40), nullable=False),
    sa.Column('notice_hash', sa.String(length=64), nullable=False),
    sa.Column('given_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('method', sa.String(length=30), nullable=False),
    sa.Column('initiated_by', sa.String(length=12), nullable=False),
    sa.Column('guardian', sa.Text(), nullable=True),
    sa.Column('written_release', sa.Text(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('ended_reason', sa.String(length=40), nullable=True),
    sa.Column('ended_channel', sa.String(length=12), nullable=True),
    sa.Column('ended_actor', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_lookup', ['subject_id', 'purpose_id', 'mode', 'status'], unique=False)
        batch_op.create_index('ix_consents_purpose_mode', ['purpose_id', 'mode', 'status'], unique=False)
        batch_op.create_index('uq_consents_one_active', ['subject_id', 'purpose_id', 'mode'], unique=True, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.create_table('legal_bases',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('basis', sa.String(length=40), nullable=False),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('legal_bases', schema=None) as batch_op:
        batch_op.create_index('ix_legal_bases_purpose_mode', ['purpose_id', 'mode'], unique=False)

    op.create_table('pias',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('site_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('modes', sa.String(length=40), nullable=False),
    sa.Column('sections', sa.Text(), nullable=False),
    sa.Column('approver', sa.String(length=200), nullable=False),
    sa.Column('approved_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('pias', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pias_purpose_id'), ['purpose_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pias_site_id'), ['site_id'], unique=False)

    op.create_table('refusals',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('subject_id', sa.String(length=40), nullable=False),
    sa.Column('purpose_id', sa.String(length=40), nullable=False),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('refused_at', sa.DateTime(), nullable=False),
    sa.Column('channel', sa.String(length=12), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['purpose_id'], ['purposes.id'], ),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refusals', schema=None) as batch_op:
        batch_op.create_index('ix_refusals_lookup', ['subject_id', 'purpose_id', 'mode'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('refusals', schema=None) as batch_op:
        batch_op.drop_index('ix_refusals_lookup')

    op.drop_table('refusals')
    with op.batch_alter_table('pias', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pias_site_id'))
        batch_op.drop_index(batch_op.f('ix_pias_purpose_id'))

    op.drop_table('pias')
    with op.batch_alter_table('legal_bases', schema=None) as batch_op:
        batch_op.drop_index('ix_legal_bases_purpose_mode')

    op.drop_table('legal_bases')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('uq_consents_one_active', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
        batch_op.drop_index('ix_consents_purpose_mode')
        batch_op.drop_index('ix_consents_lookup')

    op.drop_table('consents')
    op.drop_table('subject_identities')
    with op.batch_alter_table('purposes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_purposes_site_id'))

    op.drop_table('purposes')
    with op.batch_alter_table('notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notices_site_id'))

    op.drop_table('notices')
    with op.batch_alter_table('device_locations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_locations_site_id'))

    op.drop_table('device_locations')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subjects_tenant_id'))

    op.drop_table('subjects')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sites_tenant_id'))

    op.drop_table('sites')
    op.drop_table('tenants')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_subject_id'))

    op.drop_table('audit_events')
    
