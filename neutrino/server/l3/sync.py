"""What the L3 agent asks for (topic q-l3-plugin): routers with their ports, statuses."""
from sqlalchemy import select

from neutrino.db.models import (FloatingIP, IPAllocation, Network, Port, Router,
                                RouterL3AgentBinding, RouterPort, Subnet)
from neutrino.server import binding
from neutrino.server import views as core_views
from neutrino.server.l3 import scheduler, views
from neutrino.server.l3.constants import FIP_STATUSES, ROUTER_INTERFACE, ROUTER_OWNERS


def _port_with_subnets(session, port: Port) -> dict:
    d = core_views.port_dict(port)
    subnet_ids = list(dict.fromkeys(a.subnet_id for a in port.fixed_ips))
    subnets = [session.get(Subnet, s) for s in subnet_ids]
    d["subnets"] = [{"id": s.id, "cidr": s.cidr, "gateway_ip": s.gateway_ip} for s in subnets]
    d["mtu"] = session.get(Network, port.network_id).mtu
    return d


class L3SyncMixin:
    def _agent_router(self, session, router: Router) -> dict:
        """Neutron's router dict for the agent: gw_port, _interfaces, _floatingips."""
        ports = scheduler.router_ports(session, router.id)
        gw = next((p for p in ports if p.id == router.gw_port_id), None)
        d = views.router_dict(router, gw)
        fips = session.scalars(
            select(FloatingIP).where(FloatingIP.router_id == router.id,
                                     FloatingIP.fixed_port_id.is_not(None))
            .order_by(FloatingIP.created_at, FloatingIP.id))
        d.update({
            "enable_snat": router.enable_snat,
            "gw_port": _port_with_subnets(session, gw) if gw is not None else None,
            "_interfaces": [_port_with_subnets(session, p) for p in ports
                            if p.device_owner == ROUTER_INTERFACE],
            "_floatingips": [{"id": f.id, "floating_ip_address": f.floating_ip_address,
                              "fixed_ip_address": f.fixed_ip_address,
                              "port_id": f.fixed_port_id, "status": f.status} for f in fips],
        })
        return d

    def sync_routers(self, host: str, router_ids: list[str] | None = None) -> list[dict]:
        """The routers of ``host``'s L3 agent; unscheduled routers are given to it first.

        Only scheduling writes; the answer is read in a read-only session, so the
        frequent calls of the agent and the metadata service do not queue on writes.
        """
        with self._read() as session:
            pending = scheduler.unscheduled_router_ids(session)
        if pending:
            self._write(lambda tx: self._schedule_unscheduled(tx, host))
        with self._read() as session:
            query = (select(Router).join(RouterL3AgentBinding,
                                         RouterL3AgentBinding.router_id == Router.id)
                     .where(RouterL3AgentBinding.host == host)
                     .order_by(Router.created_at, Router.id))
            if router_ids is not None:
                query = query.where(Router.id.in_(list(router_ids)))
            return [self._agent_router(session, r) for r in session.scalars(query)]

    def _schedule_unscheduled(self, tx, host: str) -> None:
        for router_id in scheduler.unscheduled_router_ids(tx.session):
            tx.session.add(RouterL3AgentBinding(router_id=router_id, host=host))
            self._bind_router_ports(tx, router_id, host)
        tx.session.flush()

    def _bind_router_ports(self, tx, router_id: str, host: str) -> None:
        for port in scheduler.router_ports(tx.session, router_id):
            if port.binding_host_id != host:
                port.binding_host_id = host
                port.status = "DOWN"
                binding.bind(tx.session, port, self.options.agent_down_time)
                port.bump_revision()
                self.core._notify_port_updated(tx, port)

    def update_floatingip_statuses(self, router_id: str, fip_statuses: dict) -> None:
        """Statuses the agent of ``router_id`` reports; a late report for a moved IP is ignored."""
        def work(tx):
            for fip_id, status in (fip_statuses or {}).items():
                if status not in FIP_STATUSES:
                    continue
                fip = tx.session.get(FloatingIP, fip_id)
                if fip is None:
                    continue
                mine = fip.router_id == router_id or (fip.router_id is None
                                                      and status != "ACTIVE")
                if mine and fip.status != status:
                    fip.status = status
                    fip.bump_revision()
        self._write(work)

    def get_ports_for_metadata(self, ip_address: str, router_id: str | None = None,
                               network_id: str | None = None) -> list[dict]:
        """Ports holding ``ip_address`` on the router's networks (or on ``network_id``)."""
        with self._read() as session:
            if router_id:
                networks = list(session.scalars(
                    select(Port.network_id).join(RouterPort, RouterPort.port_id == Port.id)
                    .where(RouterPort.router_id == router_id,
                           RouterPort.port_type == ROUTER_INTERFACE)))
            elif network_id:
                networks = [network_id]
            else:
                return []
            ports = session.scalars(
                select(Port).join(IPAllocation, IPAllocation.port_id == Port.id)
                .where(IPAllocation.ip_address == ip_address,
                       Port.network_id.in_(networks),
                       Port.device_owner.not_in(ROUTER_OWNERS + ("network:dhcp",)))
                .order_by(Port.created_at, Port.id))
            return [{"port_id": p.id, "device_id": p.device_id, "project_id": p.project_id,
                     "network_id": p.network_id, "name": p.name} for p in ports]

    def router_ids_on_host(self, host: str) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(RouterL3AgentBinding.router_id)
                                        .where(RouterL3AgentBinding.host == host)))
