"""Router interfaces: a port owning a subnet's gateway address, added by subnet or by port."""
import ipaddress

from sqlalchemy import delete, select

from neutrino.db.models import FloatingIP, IPAllocation, Port, RouterPort, Subnet
from neutrino.server import policy
from neutrino.server.context import Context
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import scheduler, views
from neutrino.server.l3.constants import ROUTER_GATEWAY, ROUTER_INTERFACE

ADMIN = Context.admin()


def _interface_request(info, for_removal: bool = False) -> tuple[str | None, str | None]:
    """(port_id, subnet_id) of an add/remove_router_interface body, checked as Neutron does."""
    if not isinstance(info, dict) or not ("port_id" in info or "subnet_id" in info):
        raise l3_exc.router_bad_request("Either subnet_id or port_id must be specified")
    port_id, subnet_id = info.get("port_id"), info.get("subnet_id")
    if not for_removal and "port_id" in info and "subnet_id" in info:
        raise l3_exc.router_bad_request("Cannot specify both subnet-id and port-id")
    return port_id, subnet_id


class InterfacesMixin:
    def _check_router_subnets(self, session, router, new_subnets: list[Subnet]) -> None:
        """Refuse a subnet the router has already, or one overlapping the router's subnets."""
        new_ids = {s.id for s in new_subnets}
        existing: list[Subnet] = []
        for port in scheduler.router_ports(session, router.id):
            for alloc in port.fixed_ips:
                if alloc.subnet_id in new_ids:
                    raise l3_exc.router_bad_request(
                        f"Router already has a port on subnet {alloc.subnet_id}")
            if port.device_owner == ROUTER_GATEWAY:
                existing += session.scalars(select(Subnet).where(
                    Subnet.network_id == port.network_id))
            else:
                existing += [session.get(Subnet, a.subnet_id) for a in port.fixed_ips]
        for sub in existing:
            for new in new_subnets:
                if ipaddress.ip_network(sub.cidr).overlaps(ipaddress.ip_network(new.cidr)):
                    raise l3_exc.router_bad_request(
                        f"Cidr {new.cidr} of subnet {new.id} overlaps with cidr {sub.cidr} "
                        f"of subnet {sub.id}")

    def add_router_interface(self, ctx, router_id: str, info: dict) -> dict:
        port_id, subnet_id = _interface_request(info)

        def work(tx):
            router = self._get_router(tx.session, ctx, router_id, lock=True,
                                     action="add_router_interface")
            if port_id is not None:
                port, subnets = self._add_interface_by_port(tx, ctx, router, port_id)
            else:
                port, subnets = self._add_interface_by_subnet(tx, ctx, router, subnet_id)
            tx.session.add(RouterPort(router_id=router.id, port_id=port.id,
                                      port_type=ROUTER_INTERFACE))
            router.bump_revision()
            self._notify_routers(tx, [router.id])
            return lambda: views.interface_info(router.id, port, [s.id for s in subnets])
        return self._write(work)

    def _add_interface_by_subnet(self, tx, ctx, router, subnet_id: str):
        session = tx.session
        subnet = self.core._get_subnet(session, ctx, subnet_id)
        if not subnet.gateway_ip:
            raise l3_exc.router_bad_request("Subnet for router interface must have a gateway IP")
        if not policy.owns(ctx, subnet):
            raise l3_exc.router_bad_request(
                f"Cannot add interface to router because subnet {subnet.id} is not owned by "
                "project making the request")
        self._check_router_subnets(session, router, [subnet])
        host = scheduler.router_host(session, router.id)
        port = self.core._create_port(tx, ADMIN, {
            "network_id": subnet.network_id, "name": "", "admin_state_up": True,
            "project_id": router.project_id, "device_owner": ROUTER_INTERFACE,
            "device_id": router.id, "binding:host_id": host or "",
            "fixed_ips": [{"subnet_id": subnet.id, "ip_address": subnet.gateway_ip}]})
        return port, [subnet]

    def _add_interface_by_port(self, tx, ctx, router, port_id: str):
        session = tx.session
        port = self.core._get_port(session, ctx, port_id)
        policy.check_modify(ctx, port, "port", "update")
        if port.device_id:
            raise l3_exc.PortInUse(port_id=port.id, net_id=port.network_id,
                                   device_id=port.device_id)
        if not port.fixed_ips:
            raise l3_exc.router_bad_request("Router port must have at least one fixed IP")
        subnets = [session.get(Subnet, a.subnet_id) for a in port.fixed_ips]
        self._check_router_subnets(session, router, subnets)
        if len([s for s in subnets if s.ip_version == 4]) > 1:
            raise l3_exc.router_bad_request("Cannot have multiple IPv4 subnets on router port")
        host = scheduler.router_host(session, router.id)
        port = self.core._update_port(tx, ADMIN, port.id, {
            "device_id": router.id, "device_owner": ROUTER_INTERFACE,
            "binding:host_id": host or port.binding_host_id})
        return port, subnets

    def remove_router_interface(self, ctx, router_id: str, info: dict) -> dict:
        port_id, subnet_id = _interface_request(info, for_removal=True)

        def work(tx):
            session = tx.session
            router = self._get_router(session, ctx, router_id, lock=True,
                                     action="remove_router_interface")
            if port_id is not None:
                port, subnets = self._interface_by_port(session, router, port_id, subnet_id)
            else:
                port, subnets = self._interface_by_subnet(session, ctx, router, subnet_id)
            for subnet in subnets:
                self._check_interface_unused(session, router, subnet)
            answer = views.interface_info(router.id, port, [s.id for s in subnets])
            remaining = [a for a in port.fixed_ips
                         if a.subnet_id not in {s.id for s in subnets}]
            if port_id is None and remaining:
                self.core._update_port(tx, ADMIN, port.id, {"fixed_ips": [
                    {"subnet_id": a.subnet_id, "ip_address": a.ip_address} for a in remaining]})
            else:
                session.execute(delete(RouterPort).where(RouterPort.port_id == port.id))
                self._delete_port(tx, port)
            router.bump_revision()
            self._notify_routers(tx, [router.id])
            return answer
        return self._write(work)

    def _interface_by_port(self, session, router, port_id: str, subnet_id: str | None):
        is_interface = session.scalar(select(RouterPort.port_id).where(
            RouterPort.router_id == router.id, RouterPort.port_id == port_id,
            RouterPort.port_type == ROUTER_INTERFACE))
        if not is_interface:
            raise l3_exc.RouterInterfaceNotFound(router_id=router.id, port_id=port_id)
        port = self.core._get_port(session, ADMIN, port_id)
        subnet_ids = [a.subnet_id for a in port.fixed_ips]
        if subnet_id and subnet_id not in subnet_ids:
            raise l3_exc.SubnetMismatchForPort(port_id=port_id, subnet_id=subnet_id)
        return port, [session.get(Subnet, s) for s in dict.fromkeys(subnet_ids)]

    def _interface_by_subnet(self, session, ctx, router, subnet_id: str):
        subnet = self.core._get_subnet(session, ctx, subnet_id)
        port = session.scalars(
            select(Port).join(RouterPort, RouterPort.port_id == Port.id)
            .join(IPAllocation, IPAllocation.port_id == Port.id)
            .where(RouterPort.router_id == router.id,
                   RouterPort.port_type == ROUTER_INTERFACE,
                   IPAllocation.subnet_id == subnet.id)).first()
        if port is None:
            raise l3_exc.RouterInterfaceNotFoundForSubnet(router_id=router.id,
                                                          subnet_id=subnet.id)
        return self.core._get_port(session, ADMIN, port.id), [subnet]

    def _check_interface_unused(self, session, router, subnet: Subnet) -> None:
        """An interface stays while a floating IP or an extra route of the router needs it."""
        cidr = ipaddress.ip_network(subnet.cidr)
        fips = session.execute(
            select(FloatingIP.fixed_ip_address)
            .join(IPAllocation, (IPAllocation.port_id == FloatingIP.fixed_port_id)
                  & (IPAllocation.ip_address == FloatingIP.fixed_ip_address))
            .where(FloatingIP.router_id == router.id, IPAllocation.subnet_id == subnet.id))
        if any(ipaddress.ip_address(f) in cidr for (f,) in fips):
            raise l3_exc.RouterInterfaceInUseByFloatingIP(router_id=router.id,
                                                          subnet_id=subnet.id)
        for route in router.routes or []:
            if ipaddress.ip_address(route["nexthop"]) in cidr:
                raise l3_exc.RouterInterfaceInUseByRoute(router_id=router.id,
                                                         subnet_id=subnet.id)
