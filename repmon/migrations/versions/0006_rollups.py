"""hourly rollups of scored mentions and of share of voice, cached theme weeks

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mentionhour',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('platform', sa.String(length=50), nullable=False),
    sa.Column('lang', sa.String(length=16), nullable=False),
    sa.Column('volume', sa.Integer(), nullable=False),
    sa.Column('negative', sa.Integer(), nullable=False),
    sa.Column('neutral', sa.Integer(), nullable=False),
    sa.Column('positive', sa.Integer(), nullable=False),
    sa.Column('needs_response', sa.Integer(), nullable=False),
    sa.Column('sentiment_sum', sa.Float(), nullable=False),
    sa.Column('weighted_sentiment', sa.Float(), nullable=False),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('brand_id', 'hour', 'source', 'platform', 'lang', name='uq_mentionhour_key')
    )
    op.create_table('voicehour',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('hour', sa.DateTime(timezone=True), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('volume', sa.Integer(), nullable=False),
    sa.Column('negative', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('brand_id', 'hour', 'name', name='uq_voicehour_key')
    )
    op.create_table('themeweek',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('brand_id', sa.Integer(), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('posts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('brand_id', 'week', name='uq_themeweek_key')
    )
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.create_index('ix_mention_thread', ['platform', 'thread_id'], unique=False)
        batch_op.create_index('ix_mention_parent', ['platform', 'parent_id'], unique=False)
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_post_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_case_platform_author', ['platform', 'author', 'status'], unique=False)
        batch_op.create_index('ix_case_brand_first_response', ['brand_id', 'first_response_at'], unique=False)
        batch_op.create_index('ix_case_queue', ['brand_id', 'status', 'priority', 'first_response_due'], unique=False)
        batch_op.create_index('ix_case_owner', ['owner'], unique=False)
    op.execute('UPDATE "case" SET first_post_at = (SELECT min(m.created_at) FROM casemention cm '
               'JOIN mention m ON m.id = cm.mention_id WHERE cm.case_id = "case".id)')
    # Existing data is counted once, here; from now on scoring keeps the counts in step.
    from repmon import rollups
    rollups.rebuild(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('mention', schema=None) as batch_op:
        batch_op.drop_index('ix_mention_parent')
        batch_op.drop_index('ix_mention_thread')
    with op.batch_alter_table('case', schema=None) as batch_op:
        batch_op.drop_index('ix_case_owner')
        batch_op.drop_index('ix_case_queue')
        batch_op.drop_index('ix_case_brand_first_response')
        batch_op.drop_index('ix_case_platform_author')
        batch_op.drop_column('first_post_at')
    op.drop_table('themeweek')
    op.drop_table('voicehour')
    op.drop_table('mentionhour')
