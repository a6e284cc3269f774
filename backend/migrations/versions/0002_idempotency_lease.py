"""idempotent requests: the conversation they ran in (deleted with it) and an expiry

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
import backend.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('idempotent_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation_id', sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column('expires_at', backend.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f('ix_idempotent_request_conversation_id'), ['conversation_id'], unique=False
        )
        batch_op.create_foreign_key(
            'fk_idempotent_request_conversation_id',
            'conversation',
            ['conversation_id'],
            ['id'],
            ondelete='CASCADE',
        )


def downgrade() -> None:
    with op.batch_alter_table('idempotent_request', schema=None) as batch_op:
        batch_op.drop_constraint('fk_idempotent_request_conversation_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_idempotent_request_conversation_id'))
        batch_op.drop_column('expires_at')
        batch_op.drop_column('conversation_id')
