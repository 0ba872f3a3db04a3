"""web: console user accounts (argon2id password hashes, one tenant, a role)

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-27 (issue 6)
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('web_users',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('tenant_id', sa.String(length=40), nullable=False),
    sa.Column('email', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('disabled_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email')
    )
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_users_tenant_id'), ['tenant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('web_users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_users_tenant_id'))

    op.drop_table('web_users')
