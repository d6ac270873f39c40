"""resolution sla, suggestion source

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_due', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('suggestion_source', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_column('suggestion_source')
        batch_op.drop_column('resolution_due')
