"""L3: routers, router ports, L3 agent bindings, floating IPs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 18:22:51.515397

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('routers',
    sa.Column('admin_state_up', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('gw_port_id', sa.String(length=36), nullable=True),
    sa.Column('enable_snat', sa.Boolean(), nullable=False),
    sa.Column('routes', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['gw_port_id'], ['ports.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('routers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routers_project_id'), ['project_id'], unique=False)

    op.create_table('floatingips',
    sa.Column('floating_ip_address', sa.String(length=64), nullable=False),
    sa.Column('floating_network_id', sa.String(length=36), nullable=False),
    sa.Column('floating_port_id', sa.String(length=36), nullable=False),
    sa.Column('fixed_port_id', sa.String(length=36), nullable=True),
    sa.Column('fixed_ip_address', sa.String(length=64), nullable=True),
    sa.Column('router_id', sa.String(length=36), nullable=True),
    sa.Column('last_known_router_id', sa.String(length=36), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=False),
    sa.Column('project_id', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('revision_number', sa.Integer(), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['fixed_port_id'], ['ports.id'], ),
    sa.ForeignKeyConstraint(['floating_network_id'], ['networks.id'], ),
    sa.ForeignKeyConstraint(['floating_port_id'], ['ports.id'], ),
    sa.ForeignKeyConstraint(['router_id'], ['routers.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('floating_network_id', 'fixed_port_id', 'fixed_ip_address', name='uniq_floatingips0floatingnetworkid0fixedportid0fixedipaddress'),
    sa.UniqueConstraint('floating_port_id')
    )
    with op.batch_alter_table('floatingips', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_floatingips_fixed_port_id'), ['fixed_port_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_floatingips_floating_network_id'), ['floating_network_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_floatingips_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_floatingips_router_id'), ['router_id'], unique=False)

    op.create_table('routerl3agentbindings',
    sa.Column('router_id', sa.String(length=36), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['router_id'], ['routers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('router_id')
    )
    with op.batch_alter_table('routerl3agentbindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_routerl3agentbindings_host'), ['host'], unique=False)

    op.create_table('routerports',
    sa.Column('router_id', sa.String(length=36), nullable=False),
    sa.Column('port_id', sa.String(length=36), nullable=False),
    sa.Column('port_type', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['port_id'], ['ports.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['router_id'], ['routers.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('router_id', 'port_id'),
    sa.UniqueConstraint('port_id')
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('routerports')
    with op.batch_alter_table('routerl3agentbindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routerl3agentbindings_host'))

    op.drop_table('routerl3agentbindings')
    with op.batch_alter_table('floatingips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_floatingips_router_id'))
        batch_op.drop_index(batch_op.f('ix_floatingips_project_id'))
        batch_op.drop_index(batch_op.f('ix_floatingips_floating_network_id'))
        batch_op.drop_index(batch_op.f('ix_floatingips_fixed_port_id'))

    op.drop_table('floatingips')
    with op.batch_alter_table('routers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_routers_project_id'))

    op.drop_table('routers')
