"""liveness: challenges, recent probe fingerprints, attack indicators (blocklist)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 (issue 8)
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('liveness_challenges',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('gate_id', sa.String(length=40), nullable=False),
    sa.Column('steps', sa.String(length=200), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['gate_id'], ['gates.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('nonce')
    )
    with op.batch_alter_table('liveness_challenges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_liveness_challenges_gate_id'), ['gate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_liveness_challenges_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('liveness_probes',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('gate_id', sa.String(length=40), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('pixels', sa.String(length=64), nullable=False),
    sa.Column('phash', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['gate_id'], ['gates.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('liveness_probes', schema=None) as batch_op:
        batch_op.create_index('ix_liveness_probes_gate_seen', ['gate_id', 'seen_at'], unique=False)

    op.create_table('liveness_indicators',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('value', sa.String(length=128), nullable=False),
    sa.Column('species', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('stix_id', sa.String(length=80), nullable=True),
    sa.Column('origin', sa.String(length=80), nullable=True),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(), nullable=False),
    sa.Column('last_seen', sa.DateTime(), nullable=False),
    sa.Column('valid_until', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value', name='uq_liveness_indicators_kind_value')
    )


def downgrade() -> None:
    op.drop_table('liveness_indicators')
    with op.batch_alter_table('liveness_probes', schema=None) as batch_op:
        batch_op.drop_index('ix_liveness_probes_gate_seen')

    op.drop_table('liveness_probes')
    with op.batch_alter_table('liveness_challenges', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_liveness_challenges_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_liveness_challenges_gate_id'))

    op.drop_table('liveness_challenges')
