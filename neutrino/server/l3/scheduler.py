"""Where a router lives: the alive L3 agent (Neutron's legacy scheduler, one agent).

A router is bound to an agent host when it is created and an L3 agent is
alive; otherwise it stays unscheduled and the first L3 agent that syncs takes
it (Neutron's auto-scheduling in ``sync_routers``). The router's ports carry
that host in ``binding:host_id`` so the host's OVS agent wires them.
"""
from sqlalchemy import select
from sqlalchemy.orm import Session

from neutrino.db.models import Agent, Port, Router, RouterL3AgentBinding, RouterPort
from neutrino.server import binding
from neutrino.server.l3.constants import L3_AGENT_TYPE


def alive_l3_host(session: Session, agent_down_time: int) -> str | None:
    """The host of the first alive, enabled L3 agent (None when there is none)."""
    return session.scalars(
        select(Agent.host)
        .where(Agent.agent_type == L3_AGENT_TYPE, Agent.admin_state_up.is_(True),
               Agent.heartbeat_timestamp >= binding.alive_cutoff(agent_down_time))
        .order_by(Agent.created_at, Agent.host)).first()


def router_host(session: Session, router_id: str) -> str | None:
    return session.scalar(select(RouterL3AgentBinding.host)
                          .where(RouterL3AgentBinding.router_id == router_id))


def schedule(session: Session, router: Router, agent_down_time: int) -> str | None:
    """Bind ``router`` to the alive L3 agent unless it is bound already; its host."""
    host = router_host(session, router.id)
    if host:
        return host
    host = alive_l3_host(session, agent_down_time)
    if host:
        session.add(RouterL3AgentBinding(router_id=router.id, host=host))
        session.flush()
    return host


def unscheduled_router_ids(session: Session) -> list[str]:
    bound = select(RouterL3AgentBinding.router_id)
    return list(session.scalars(select(Router.id).where(Router.id.not_in(bound))
                                .order_by(Router.created_at, Router.id)))


def router_ports(session: Session, router_id: str) -> list[Port]:
    return list(session.scalars(
        select(Port).join(RouterPort, RouterPort.port_id == Port.id)
        .where(RouterPort.router_id == router_id).order_by(Port.created_at, Port.id)))
