"""Floating IPs: an address of an external network, its port, and its association."""
import ipaddress

from sqlalchemy import select

from neutrino.db.engine import session_of
from neutrino.db.models import (FloatingIP, IPAllocation, Port, Router, RouterPort, Subnet,
                                new_id)
from neutrino.server import exceptions as exc
from neutrino.server import policy
from neutrino.server.context import Context
from neutrino.server.events import PRECOMMIT_CREATE
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import views
from neutrino.server.l3.constants import (FLOATINGIP, ROUTER_GATEWAY, ROUTER_INTERFACE,
                                          ROUTER_OWNERS)

ADMIN = Context.admin()
FLOATINGIP_COLUMNS = {
    "id": FloatingIP.id, "project_id": FloatingIP.project_id,
    "tenant_id": FloatingIP.project_id, "status": FloatingIP.status,
    "floating_ip_address": FloatingIP.floating_ip_address,
    "floating_network_id": FloatingIP.floating_network_id,
    "router_id": FloatingIP.router_id, "port_id": FloatingIP.fixed_port_id,
    "fixed_ip_address": FloatingIP.fixed_ip_address, "description": FloatingIP.description,
}


def _version(address: str) -> int:
    return ipaddress.ip_address(address).version


class FloatingIPsMixin:
    def _get_floatingip(self, session, ctx, fip_id: str, lock: bool = False,
                        action: str | None = None) -> FloatingIP:
        query = select(FloatingIP).where(FloatingIP.id == fip_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        fip = session.execute(query).scalar()
        if fip is None or not policy.owns(ctx, fip):
            raise l3_exc.FloatingIPNotFound(floatingip_id=fip_id)
        if action:
            policy.check_modify(ctx, fip, "floatingip", action)
        return fip

    def _floatingip_view_in(self, session, fip: FloatingIP) -> dict:
        port = session.get(Port, fip.fixed_port_id) if fip.fixed_port_id else None
        return views.floatingip_dict(fip, port)

    def _floatingip_view(self, fip: FloatingIP) -> dict:
        return self._floatingip_view_in(session_of(fip), fip)

    # -- API ------------------------------------------------------------------

    def create_floatingip(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_floatingip(tx, ctx, data),
                           self._floatingip_view)

    def _create_floatingip(self, tx, ctx, data: dict) -> FloatingIP:
        session = tx.session
        if not ctx.is_admin and data.get("floating_ip_address"):
            raise exc.PolicyNotAuthorized(action="rule:create_floatingip:floating_ip_address")
        project_id = policy.check_project(ctx, data.get("project_id"))
        net = self.core._get_network(session, ctx, data["floating_network_id"])
        if not net.external:
            raise l3_exc.floatingip_bad_request(
                f"Network {net.id} is not a valid external network")
        fip_id = data.get("id") or new_id()
        port = self.core._create_port(tx, ADMIN, {
            "network_id": net.id, "name": "", "admin_state_up": True,
            "device_owner": FLOATINGIP, "device_id": fip_id,
            "fixed_ips": self._floating_address_request(session, net, data)})
        port.project_id = ""
        port.status = "N/A"
        address = next(a.ip_address for a in port.fixed_ips if _version(a.ip_address) == 4)
        fip = FloatingIP(id=fip_id, project_id=project_id, name="",
                         description=data.get("description", ""),
                         floating_ip_address=address, floating_network_id=net.id,
                         floating_port_id=port.id, status="DOWN", tags=[], revision_number=0)
        session.add(fip)
        session.flush()
        self.core.registry.publish("floatingip", PRECOMMIT_CREATE, context=ctx, tx=tx,
                                   floatingip=fip, request=data)
        if data.get("port_id"):
            self._associate(tx, ctx, fip, data["port_id"], data.get("fixed_ip_address"))
            self._notify_routers(tx, [fip.router_id])
        return fip

    def _floating_address_request(self, session, net, data: dict) -> list[dict]:
        """The fixed_ips of the floating IP's port: the given address/subnet or a free IPv4."""
        entry = {k: data[k] for k in ("subnet_id",) if data.get(k)}
        if data.get("floating_ip_address"):
            entry["ip_address"] = data["floating_ip_address"]
        if entry:
            return [entry]
        v4 = [s for s in net.subnets if s.ip_version == 4]
        if not v4:
            raise l3_exc.floatingip_bad_request(
                f"Network {net.id} does not contain any IPv4 subnet")
        for subnet in v4:
            if self.core._next_address(session, subnet, set()):
                return [{"subnet_id": subnet.id}]
        raise exc.IpAddressGenerationFailure(net_id=net.id)

    def get_floatingip(self, ctx, fip_id: str) -> dict:
        with self._read() as session:
            return self._floatingip_view_in(session, self._get_floatingip(session, ctx, fip_id))

    def get_floatingips(self, ctx, filters: dict | None = None) -> list[dict]:
        query = select(FloatingIP).order_by(FloatingIP.created_at, FloatingIP.id)
        if not ctx.is_admin:
            query = query.where(FloatingIP.project_id == ctx.project_id)
        query = self.core._pushdown(query, filters, FLOATINGIP_COLUMNS)
        with self._read() as session:
            fips = list(session.scalars(query))
            port_ids = [f.fixed_port_id for f in fips if f.fixed_port_id]
            ports = {p.id: p for p in session.scalars(
                select(Port).where(Port.id.in_(port_ids)))} if port_ids else {}
            return [views.floatingip_dict(f, ports.get(f.fixed_port_id)) for f in fips]

    def update_floatingip(self, ctx, fip_id: str, data: dict,
                          if_revision: int | None = None) -> dict:
        def work(tx):
            fip = self._get_floatingip(tx.session, ctx, fip_id, lock=True, action="update")
            self.core._check_revision(fip, if_revision)
            old_router = fip.router_id
            before = (fip.description, fip.fixed_port_id, fip.fixed_ip_address)
            if "description" in data:
                fip.description = data["description"]
            if not data or ("port_id" in data and data["port_id"] is None):
                self._disassociate(fip)  # an empty body clears the association (Neutron)
            elif "port_id" in data:
                self._associate(tx, ctx, fip, data["port_id"], data.get("fixed_ip_address"))
            elif data.get("fixed_ip_address") and fip.fixed_port_id:
                self._associate(tx, ctx, fip, fip.fixed_port_id, data["fixed_ip_address"])
            if (fip.description, fip.fixed_port_id, fip.fixed_ip_address) != before:
                fip.bump_revision()
                self._notify_routers(tx, [old_router, fip.router_id])
            return fip
        return self._write(work, self._floatingip_view)

    def delete_floatingip(self, ctx, fip_id: str) -> None:
        def work(tx):
            session = tx.session
            fip = self._get_floatingip(session, ctx, fip_id, lock=True, action="delete")
            port = session.get(Port, fip.floating_port_id)
            self._notify_routers(tx, [fip.router_id])
            session.delete(fip)
            session.flush()
            if port is not None:
                self._delete_port(tx, port)
        self._write(work)

    # -- association ----------------------------------------------------------

    @staticmethod
    def _disassociate(fip: FloatingIP) -> None:
        fip.fixed_port_id = None
        fip.fixed_ip_address = None
        fip.router_id = None
        fip.status = "DOWN"

    def _associate(self, tx, ctx, fip: FloatingIP, port_id: str,
                   fixed_ip_address: str | None) -> None:
        session = tx.session
        port = self.core._get_port(session, ctx, port_id)
        if port.project_id != fip.project_id and not ctx.is_admin:
            raise l3_exc.floatingip_bad_request(
                f"Cannot create floating IP and bind it to Port {port.id}, since that port "
                "is owned by a different tenant")
        if port.device_owner in ROUTER_OWNERS + (FLOATINGIP,):
            raise l3_exc.floatingip_bad_request(
                f"Port {port.id} has owner {port.device_owner} and therefore cannot be used "
                "for a floating IP")
        alloc = self._fixed_ip_for_fip(port, fixed_ip_address)
        router_id = self._router_for_fip(session, port, alloc, fip.floating_network_id)
        taken = session.scalar(select(FloatingIP.id).where(
            FloatingIP.floating_network_id == fip.floating_network_id,
            FloatingIP.fixed_port_id == port.id,
            FloatingIP.fixed_ip_address == alloc.ip_address, FloatingIP.id != fip.id))
        if taken:
            raise l3_exc.FloatingIPPortAlreadyAssociated(
                floating_ip_address=fip.floating_ip_address, fip_id=fip.id, port_id=port.id,
                fixed_ip=alloc.ip_address, net_id=fip.floating_network_id)
        if (fip.fixed_port_id, fip.fixed_ip_address, fip.router_id) != (
                port.id, alloc.ip_address, router_id):
            fip.fixed_port_id = port.id
            fip.fixed_ip_address = alloc.ip_address
            fip.router_id = router_id
            fip.last_known_router_id = router_id
            fip.status = "DOWN"

    @staticmethod
    def _fixed_ip_for_fip(port: Port, fixed_ip_address: str | None) -> IPAllocation:
        if fixed_ip_address:
            for alloc in port.fixed_ips:
                if alloc.ip_address == fixed_ip_address:
                    return alloc
            raise l3_exc.floatingip_bad_request(
                f"Port {port.id} does not have fixed ip {fixed_ip_address}")
        v4 = [a for a in port.fixed_ips if _version(a.ip_address) == 4]
        if not v4:
            raise l3_exc.floatingip_bad_request(
                f"Cannot add floating IP to port {port.id} that has no fixed IPv4 addresses")
        if len(v4) > 1:
            raise l3_exc.floatingip_bad_request(
                f"Port {port.id} has multiple fixed IPv4 addresses.  Must provide a specific "
                "IPv4 address when assigning a floating IP")
        return v4[0]

    @staticmethod
    def _router_for_fip(session, port: Port, alloc: IPAllocation, external_net_id: str) -> str:
        """The router joining the fixed IP's subnet to the external network.

        Among several, the one whose interface holds the subnet's gateway address wins.
        """
        gw_port = select(Port.id).where(Port.network_id == external_net_id,
                                        Port.device_owner == ROUTER_GATEWAY)
        rows = session.execute(
            select(RouterPort.router_id, IPAllocation.ip_address)
            .join(IPAllocation, IPAllocation.port_id == RouterPort.port_id)
            .join(Router, Router.id == RouterPort.router_id)
            .where(RouterPort.port_type == ROUTER_INTERFACE,
                   IPAllocation.subnet_id == alloc.subnet_id,
                   Router.gw_port_id.in_(gw_port))
            .order_by(Router.created_at, Router.id)).all()
        if not rows:
            raise l3_exc.ExternalGatewayForFloatingIPNotFound(
                external_network_id=external_net_id, subnet_id=alloc.subnet_id,
                port_id=port.id)
        gateway = session.get(Subnet, alloc.subnet_id).gateway_ip
        return next((r for r, ip in rows if ip == gateway), rows[0][0])
