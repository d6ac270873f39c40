"""scorer models

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scorermodel',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('weights', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('scorermodel', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scorermodel_active'), ['active'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('scorermodel', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scorermodel_active'))
    op.drop_table('scorermodel')
