"""All ORM models. Importing this package registers every table on ``Base.metadata``.

A new area (routers, security groups, identity) adds its own module here and
imports it below, plus an Alembic revision under ``neutrino/db/migrations``.
"""
from neutrino.db.models.agents import Agent, TunnelEndpoint
from neutrino.db.models.base import Base, StandardAttrs, new_id, utcnow
from neutrino.db.models.identity import (Project, QuotaLimit, QuotaLock, Role,
                                         RoleAssignment, Token, User)
from neutrino.db.models.l2 import (FlatAllocation, IPAllocation, Network, Port,
                                   PortSecurityGroupBinding, Subnet,
                                   VxlanAllocation)
from neutrino.db.models.l3 import FloatingIP, Router, RouterL3AgentBinding, RouterPort
from neutrino.db.models.provisioning import ProvisioningBlock
from neutrino.db.models.securitygroups import (DefaultSecurityGroup, SecurityGroup,
                                             SecurityGroupRule)

__all__ = ["Agent", "Base", "FlatAllocation", "FloatingIP", "IPAllocation", "Network", "Port",
           "PortSecurityGroupBinding", "Project", "ProvisioningBlock", "QuotaLimit",
           "QuotaLock", "Role", "RoleAssignment", "Router", "RouterL3AgentBinding", "RouterPort",
           "SecurityGroup", "SecurityGroupRule", "DefaultSecurityGroup", "StandardAttrs",
           "Subnet", "Token", "TunnelEndpoint", "User",
           "VxlanAllocation", "new_id", "utcnow"]
