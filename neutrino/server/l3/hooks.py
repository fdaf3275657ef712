"""How routers and floating IPs react to changes of the core's networks and ports.

Subscribed on the core plugin's registry; each callback runs inside the
request's transaction and may refuse it.
"""
import ipaddress

from sqlalchemy import select

from neutrino.db.models import FloatingIP, IPAllocation, Port, RouterPort
from neutrino.server.events import PRECOMMIT_DELETE, PRECOMMIT_UPDATE
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3.constants import (FLOATINGIP, ROUTER_GATEWAY, ROUTER_INTERFACE,
                                          ROUTER_OWNERS)


class CoreHooksMixin:
    def _subscribe(self, registry) -> None:
        registry.subscribe("port", PRECOMMIT_DELETE, self._on_port_delete)
        registry.subscribe("port", PRECOMMIT_UPDATE, self._on_port_update)
        registry.subscribe("network", PRECOMMIT_UPDATE, self._on_network_update)
        registry.subscribe("network", PRECOMMIT_DELETE, self._on_network_delete)
        registry.subscribe("subnet", PRECOMMIT_UPDATE, self._on_subnet_update)

    def _on_port_delete(self, tx, port: Port, **_kwargs) -> None:
        """Router and floating IP ports go only with their owner; a port's floating IPs let go."""
        session = tx.session
        owned = False
        if port.device_owner in ROUTER_OWNERS:
            owned = session.scalar(select(RouterPort.router_id)
                                   .where(RouterPort.port_id == port.id)) is not None
        elif port.device_owner == FLOATINGIP:
            owned = session.scalar(select(FloatingIP.id)
                                   .where(FloatingIP.floating_port_id == port.id)) is not None
        if owned:
            raise l3_exc.ServicePortInUse(port_id=port.id,
                                          reason=f"has device owner {port.device_owner}")
        for fip in session.scalars(select(FloatingIP).where(FloatingIP.fixed_port_id == port.id)):
            self._notify_routers(tx, [fip.router_id])
            self._disassociate(fip)
            fip.bump_revision()
        session.flush()

    def _on_port_update(self, tx, port: Port, request: dict, **_kwargs) -> None:
        """A floating IP whose fixed IP left the port lets go; the port's router hears of it."""
        session = tx.session
        if "fixed_ips" in request:
            addresses = {a.ip_address for a in port.fixed_ips}
            for fip in session.scalars(select(FloatingIP)
                                       .where(FloatingIP.fixed_port_id == port.id)):
                if fip.fixed_ip_address not in addresses:
                    self._notify_routers(tx, [fip.router_id])
                    self._disassociate(fip)
                    fip.bump_revision()
        if not port.device_owner.startswith("network:router"):
            return
        router_id = session.scalar(select(RouterPort.router_id)
                                   .where(RouterPort.port_id == port.id))
        self._notify_routers(tx, [router_id])

    def _on_network_update(self, tx, network, request: dict, **_kwargs) -> None:
        if request.get("router:external") is False:
            in_use = tx.session.scalar(select(Port.id).where(
                Port.network_id == network.id, Port.device_owner == ROUTER_GATEWAY))
            if in_use:
                raise l3_exc.ExternalNetworkInUse(net_id=network.id)

    def _on_network_delete(self, tx, network, **_kwargs) -> None:
        """As Neutron: an external network's unassociated floating IPs go with it (an
        associated one keeps its port, so the network stays in use)."""
        session = tx.session
        for fip in session.scalars(select(FloatingIP).where(
                FloatingIP.floating_network_id == network.id,
                FloatingIP.fixed_port_id.is_(None))).all():
            port = session.get(Port, fip.floating_port_id)
            session.delete(fip)
            session.flush()
            if port is not None:
                self._delete_port(tx, port)
        session.flush()

    def _on_subnet_update(self, tx, subnet, request: dict, **_kwargs) -> None:
        """A router interface holds the gateway address: the gateway cannot move away.

        The event comes after the change, so the old gateway is recognised as a
        router interface address outside the allocation pools (pools never hold
        the gateway) that is not the new gateway.
        """
        if "gateway_ip" not in request:
            return
        held = tx.session.execute(
            select(IPAllocation.ip_address, IPAllocation.port_id)
            .join(RouterPort, RouterPort.port_id == IPAllocation.port_id)
            .where(IPAllocation.subnet_id == subnet.id,
                   RouterPort.port_type == ROUTER_INTERFACE)).all()
        for address, port_id in held:
            if address != subnet.gateway_ip and not _in_pools(address, subnet.allocation_pools):
                raise l3_exc.GatewayIpInUse(ip_address=address, port_id=port_id)


def _in_pools(address: str, pools: list[dict]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ipaddress.ip_address(p["start"]) <= ip <= ipaddress.ip_address(p["end"])
               for p in pools)
