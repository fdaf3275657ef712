"""Provisioning blocks of ports (DHCP and L2 entities)

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-28 00:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('provisioningblocks',
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.Column('entity', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['port_id'], ['ports.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('port_id', 'entity')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('provisioningblocks')
