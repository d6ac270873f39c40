"""slack threads, outbox delivery details

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slackthread',
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=100), nullable=False),
    sa.Column('slack_channel', sa.String(length=50), nullable=False),
    sa.Column('ts', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ),
    sa.PrimaryKeyConstraint('case_id', 'channel')
    )
    with op.batch_alter_table('alertoutbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('slack_channel', sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column('slack_ts', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('digest_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_alertoutbox_channel_kind_created', ['channel', 'kind', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alertoutbox', schema=None) as batch_op:
        batch_op.drop_index('ix_alertoutbox_channel_kind_created')
        batch_op.drop_column('digest_id')
        batch_op.drop_column('slack_ts')
        batch_op.drop_column('slack_channel')
    op.drop_table('slackthread')
