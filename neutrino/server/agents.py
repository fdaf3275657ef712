"""Agents: heartbeats (report_state), the agents API, VXLAN tunnel endpoints."""
from sqlalchemy import delete, select

from neutrino.db.models import Agent, Network, Port, Subnet, TunnelEndpoint, utcnow
from neutrino.server import binding, policy, views
from neutrino.server import exceptions as exc
from neutrino.server.notify import TUNNEL_UPDATE

AGENT_COLUMNS = {"id": Agent.id, "agent_type": Agent.agent_type, "host": Agent.host,
                 "binary": Agent.binary, "topic": Agent.topic,
                 "admin_state_up": Agent.admin_state_up}
DHCP_AGENT_TYPE = "DHCP agent"
AGENT_ZONES = {DHCP_AGENT_TYPE: "nova", "L3 agent": "nova"}


class AgentsMixin:
    def _agent_view(self, agent: Agent) -> dict:
        cutoff = binding.alive_cutoff(self.options.agent_down_time)
        return views.agent_dict(agent, agent.heartbeat_timestamp >= cutoff)

    def report_state(self, agent_state: dict) -> str:
        """Record a heartbeat; the first report of an agent creates its row."""
        def work(tx):
            session = tx.session
            agent_type, host = agent_state["agent_type"], agent_state["host"]
            agent = session.scalars(select(Agent).where(Agent.agent_type == agent_type,
                                                        Agent.host == host)).first()
            now = utcnow()
            if agent is None:
                agent = Agent(agent_type=agent_type, host=host, created_at=now,
                              started_at=now, admin_state_up=True,
                              availability_zone=agent_state.get(
                                  "availability_zone", AGENT_ZONES.get(agent_type)))
                session.add(agent)
            elif agent_state.get("start_flag"):
                agent.started_at = now
            agent.binary = agent_state.get("binary", agent.binary or "")
            agent.topic = agent_state.get("topic", agent.topic or "N/A")
            agent.configurations = agent_state.get("configurations") or {}
            agent.heartbeat_timestamp = now
        self._write(work)
        return "alive"

    def get_agents(self, ctx, filters: dict | None = None) -> list[dict]:
        if not ctx.is_admin:
            return []
        query = self._pushdown(select(Agent).order_by(Agent.created_at, Agent.host),
                               filters, AGENT_COLUMNS)
        with self._read() as session:
            return [self._agent_view(a) for a in session.scalars(query)]

    def _get_agent(self, session, ctx, agent_id: str) -> Agent:
        agent = session.get(Agent, agent_id)
        if agent is None or not ctx.is_admin:
            raise exc.AgentNotFound(id=agent_id)
        return agent

    def get_agent(self, ctx, agent_id: str) -> dict:
        with self._read() as session:
            return self._agent_view(self._get_agent(session, ctx, agent_id))

    def update_agent(self, ctx, agent_id: str, data: dict, if_revision=None) -> dict:
        def work(tx):
            agent = self._get_agent(tx.session, ctx, agent_id)
            for attr in ("admin_state_up", "description"):
                if attr in data:
                    setattr(agent, attr, data[attr])
            return agent
        return self._write(work, self._agent_view)

    def delete_agent(self, ctx, agent_id: str) -> None:
        def work(tx):
            policy.check_admin(ctx, "delete_agent")
            tx.session.delete(self._get_agent(tx.session, ctx, agent_id))
        self._write(work)

    def tunnel_sync(self, tunnel_ip: str, tunnel_type: str, host: str) -> dict:
        """Register ``host``'s tunnel endpoint; answer every endpoint and fan out the news."""
        if tunnel_type != "vxlan":
            raise exc.InvalidInput(error_message=f"tunnel type {tunnel_type!r} not supported")

        def work(tx):
            session = tx.session
            session.execute(delete(TunnelEndpoint).where(
                (TunnelEndpoint.host == host) | (TunnelEndpoint.ip_address == tunnel_ip)))
            session.add(TunnelEndpoint(ip_address=tunnel_ip, host=host))
            session.flush()
            tx.notify(TUNNEL_UPDATE, "tunnel_update",
                      {"tunnel_ip": tunnel_ip, "tunnel_type": tunnel_type, "host": host})
            rows = session.scalars(select(TunnelEndpoint).order_by(TunnelEndpoint.host))
            return {"tunnels": [{"ip_address": t.ip_address, "host": t.host} for t in rows]}
        return self._write(work)

    # -- DHCP agent -----------------------------------------------------------

    def _dhcp_network_dict(self, session, net: Network) -> dict:
        ports = session.scalars(select(Port).where(Port.network_id == net.id)
                                .order_by(Port.created_at, Port.id))
        return {
            "id": net.id, "name": net.name, "project_id": net.project_id,
            "tenant_id": net.project_id, "admin_state_up": net.admin_state_up,
            "mtu": net.mtu, "revision_number": net.revision_number,
            "provider:network_type": net.network_type,
            "provider:segmentation_id": net.segmentation_id,
            "provider:physical_network": net.physical_network,
            "subnets": [views.subnet_dict(s) for s in net.subnets],
            "ports": [views.port_dict(p) for p in ports],
        }

    def get_dhcp_networks(self) -> list[dict]:
        """Every network with a DHCP-enabled subnet (one DHCP agent serves them all)."""
        with self._read() as session:
            nets = session.scalars(
                select(Network).where(Network.id.in_(
                    select(Subnet.network_id).where(Subnet.enable_dhcp.is_(True))))
                .order_by(Network.created_at, Network.id))
            return [self._dhcp_network_dict(session, n) for n in nets]

    def get_dhcp_network(self, network_id: str) -> dict | None:
        with self._read() as session:
            net = session.get(Network, network_id)
            return self._dhcp_network_dict(session, net) if net is not None else None
