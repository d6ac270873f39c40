"""deletions edits budgets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mentionrevision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mention_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.String(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('mentionrevision', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mentionrevision_mention_id'), ['mention_id'], unique=False)

    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('rate_limited_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('budget_used', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('budget_limit', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('source', schema=None) as batch_op:
        batch_op.drop_column('budget_limit')
        batch_op.drop_column('budget_used')
        batch_op.drop_column('rate_limited_until')
        batch_op.drop_column('failing_since')

    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_column('deleted_at')

    with op.batch_alter_table('mentionrevision', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mentionrevision_mention_id'))

    op.drop_table('mentionrevision')
