"""Security groups: groups, rules, each project's default group.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27 18:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('securitygroups',
    sa.Column('stateful', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('securitygroups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_securitygroups_project_id'), ['project_id'], unique=False)

    op.create_table('default_security_group',
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('security_group_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['security_group_id'], ['securitygroups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('project_id'),
    sa.UniqueConstraint('security_group_id')
    )
    op.create_table('securitygrouprules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('security_group_id', sa.String(length=36), nullable=False),
    sa.Column('remote_group_id', sa.String(length=36), nullable=True),
    sa.Column('direction', sa.String(length=16), nullable=False),
    sa.Column('ethertype', sa.String(length=40), nullable=False),
    sa.Column('protocol', sa.String(length=40), nullable=True),
    sa.Column('port_range_min', sa.Integer(), nullable=True),
    sa.Column('port_range_max', sa.Integer(), nullable=True),
    sa.Column('remote_ip_prefix', sa.String(length=255), nullable=True),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['remote_group_id'], ['securitygroups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['security_group_id'], ['securitygroups.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('securitygrouprules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_securitygrouprules_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_securitygrouprules_remote_group_id'), ['remote_group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_securitygrouprules_security_group_id'), ['security_group_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('securitygrouprules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_securitygrouprules_security_group_id'))
        batch_op.drop_index(batch_op.f('ix_securitygrouprules_remote_group_id'))
        batch_op.drop_index(batch_op.f('ix_securitygrouprules_project_id'))

    op.drop_table('securitygrouprules')
    op.drop_table('default_security_group')
    with op.batch_alter_table('securitygroups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_securitygroups_project_id'))

    op.drop_table('securitygroups')
