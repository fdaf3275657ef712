"""The l3_agent_scheduler extension: which L3 agent hosts a router, and moving it (admin).

A router removed from its agent is unscheduled; as in Neutron with
auto-scheduling on, the next L3 agent that syncs takes it again.
"""
from sqlalchemy import delete, select

from neutrino.db.models import Agent, Router, RouterL3AgentBinding
from neutrino.server import policy
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import scheduler
from neutrino.server.l3.constants import L3_AGENT_TYPE


class AgentSchedulerMixin:
    def _l3_agent(self, session, ctx, agent_id: str) -> Agent:
        agent = self.core._get_agent(session, ctx, agent_id)
        if agent.agent_type != L3_AGENT_TYPE:
            raise l3_exc.InvalidL3Agent(id=agent_id)
        return agent

    def list_l3_agents_hosting_router(self, ctx, router_id: str) -> list[dict]:
        policy.check_admin(ctx, "get_l3-agents")
        with self._read() as session:
            router = self._get_router(session, ctx, router_id)
            host = scheduler.router_host(session, router.id)
            agents = session.scalars(select(Agent).where(Agent.agent_type == L3_AGENT_TYPE,
                                                         Agent.host == host)) if host else []
            return [self.core._agent_view(a) for a in agents]

    def list_routers_on_l3_agent(self, ctx, agent_id: str) -> list[dict]:
        policy.check_admin(ctx, "get_l3-routers")
        with self._read() as session:
            agent = self._l3_agent(session, ctx, agent_id)
            routers = session.scalars(
                select(Router).join(RouterL3AgentBinding,
                                    RouterL3AgentBinding.router_id == Router.id)
                .where(RouterL3AgentBinding.host == agent.host)
                .order_by(Router.created_at, Router.id))
            return [self._router_view_in(session, r) for r in routers]

    def add_router_to_l3_agent(self, ctx, agent_id: str, router_id: str) -> None:
        policy.check_admin(ctx, "create_l3-router")

        def work(tx):
            session = tx.session
            agent = self._l3_agent(session, ctx, agent_id)
            if not agent.admin_state_up:
                raise l3_exc.InvalidL3Agent(id=agent_id)
            router = self._get_router(session, ctx, router_id, lock=True)
            host = scheduler.router_host(session, router.id)
            if host:
                hosting = session.scalar(select(Agent.id).where(
                    Agent.agent_type == L3_AGENT_TYPE, Agent.host == host))
                raise l3_exc.RouterHostedByL3Agent(router_id=router.id,
                                                   agent_id=hosting or host)
            session.add(RouterL3AgentBinding(router_id=router.id, host=agent.host))
            self._bind_router_ports(tx, router.id, agent.host)
            self._notify_routers(tx, [router.id])
        self._write(work)

    def remove_router_from_l3_agent(self, ctx, agent_id: str, router_id: str) -> None:
        policy.check_admin(ctx, "delete_l3-router")

        def work(tx):
            session = tx.session
            agent = self._l3_agent(session, ctx, agent_id)
            router = self._get_router(session, ctx, router_id, lock=True)
            if scheduler.router_host(session, router.id) != agent.host:
                raise l3_exc.RouterNotHostedByL3Agent(router_id=router.id, agent_id=agent.id)
            session.execute(delete(RouterL3AgentBinding)
                            .where(RouterL3AgentBinding.router_id == router.id))
            self._bind_router_ports(tx, router.id, "")
            self._notify_routers(tx, [router.id])
        self._write(work)
