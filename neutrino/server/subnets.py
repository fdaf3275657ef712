"""Subnets: CIDR, gateway and pool rules, overlap checks, the DHCP port's addresses."""
import ipaddress

from sqlalchemy import select

from neutrino.db.models import IPAllocation, Network, Port, Subnet, new_id
from neutrino.server import exceptions as exc
from neutrino.server import ipam, policy, views
from neutrino.server.events import PRECOMMIT_CREATE, PRECOMMIT_DELETE, PRECOMMIT_UPDATE
from neutrino.server.networks import AUTO_DELETE_PORT_OWNERS
from neutrino.server.notify import DHCP_AGENT

MAX_PREFIXLEN = {4: 30, 6: 126}
SUBNET_COLUMNS = {
    "id": Subnet.id, "name": Subnet.name, "network_id": Subnet.network_id,
    "project_id": Subnet.project_id, "tenant_id": Subnet.project_id,
    "cidr": Subnet.cidr, "ip_version": Subnet.ip_version,
    "enable_dhcp": Subnet.enable_dhcp, "gateway_ip": Subnet.gateway_ip,
}


class SubnetsMixin:
    def _get_subnet(self, session, ctx, subnet_id: str) -> Subnet:
        subnet = session.get(Subnet, subnet_id)
        if subnet is None or not policy.subnet_visible(ctx, subnet, subnet.network):
            raise exc.SubnetNotFound(subnet_id=subnet_id)
        return subnet

    def _subnet_view(self, subnet: Subnet) -> dict:
        return views.subnet_dict(subnet)

    def create_subnet(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_subnet(tx, ctx, data), self._subnet_view)

    def _create_subnet(self, tx, ctx, data: dict) -> Subnet:
        session = tx.session
        net = self._get_network(session, ctx, data["network_id"], lock=True)
        policy.check_use_network(ctx, net, "subnet")
        project_id = policy.check_project(ctx, data.get("project_id"))
        version = data.get("ip_version", 4)
        self._check_mtu_fits_subnets(net.id, net.mtu, [version])
        cidr = ipaddress.ip_network(data["cidr"])
        if cidr.version != version:
            raise exc.InvalidInput(
                error_message=f"Cidr {cidr} does not match ip_version {version}")
        if cidr.prefixlen > MAX_PREFIXLEN[version]:
            raise exc.InvalidInput(
                error_message=f"Invalid CIDR {cidr} for IPv{version} subnet: "
                              f"prefix length must be at most {MAX_PREFIXLEN[version]}")
        for other in net.subnets:
            if ipaddress.ip_network(other.cidr).overlaps(cidr):
                raise exc.InvalidInput(
                    error_message=f"Requested subnet with cidr: {cidr} for network: "
                                  f"{net.id} overlaps with another subnet")
        gateway = data["gateway_ip"] if "gateway_ip" in data else ipam.default_gateway(cidr)
        self._check_gateway(cidr, gateway)
        if data.get("allocation_pools") is not None:
            pools = ipam.validate_pools(cidr, data["allocation_pools"], gateway)
        else:
            pools = ipam.default_pools(cidr, gateway)
        subnet_id = data.get("id") or new_id()
        self._check_dns_and_routes(subnet_id, version, data)
        for mode in ("ipv6_ra_mode", "ipv6_address_mode"):
            if data.get(mode) is not None and version != 6:
                raise exc.InvalidInput(
                    error_message=f"{mode} set to '{data[mode]}' with ip_version set to "
                                  f"'{version}' is not valid")
        subnet = Subnet(
            id=subnet_id, project_id=project_id, network_id=net.id,
            name=data.get("name", ""), description=data.get("description", ""),
            ip_version=version, cidr=str(cidr), gateway_ip=gateway, allocation_pools=pools,
            enable_dhcp=data.get("enable_dhcp", True),
            dns_nameservers=data.get("dns_nameservers") or [],
            host_routes=data.get("host_routes") or [],
            ipv6_ra_mode=data.get("ipv6_ra_mode"),
            ipv6_address_mode=data.get("ipv6_address_mode"),
            service_types=data.get("service_types") or [], tags=[], revision_number=0)
        net.subnets.append(subnet)
        net.bump_revision()
        session.flush()
        if subnet.enable_dhcp:
            self._add_dhcp_address(tx, net, subnet)
        self.registry.publish("subnet", PRECOMMIT_CREATE, context=ctx, tx=tx,
                              subnet=subnet, request=data)
        tx.notify(DHCP_AGENT, "subnet_create_end",
                  lambda: {"network_id": net.id, "subnet": views.subnet_dict(subnet)})
        return subnet

    @staticmethod
    def _check_gateway(cidr, gateway: str | None) -> None:
        if gateway is None:
            return
        ip = ipaddress.ip_address(gateway)
        if ip.version != cidr.version or ip not in cidr or (
                cidr.version == 4 and ip in (cidr.network_address, cidr.broadcast_address)):
            raise exc.InvalidInput(
                error_message=f"Gateway IP {gateway} is not valid on subnet {cidr}")

    def _check_dns_and_routes(self, subnet_id: str, version: int, data: dict) -> None:
        dns = data.get("dns_nameservers") or []
        if len(dns) > self.options.max_dns_nameservers:
            raise exc.DNSNameServersExhausted(subnet_id=subnet_id,
                                              quota=self.options.max_dns_nameservers)
        if len(set(dns)) != len(dns):
            raise exc.InvalidInput(error_message="Duplicate nameserver in dns_nameservers")
        routes = data.get("host_routes") or []
        if len(routes) > self.options.max_subnet_host_routes:
            raise exc.HostRoutesExhausted(subnet_id=subnet_id,
                                          quota=self.options.max_subnet_host_routes)
        for route in routes:
            if (ipaddress.ip_network(route["destination"]).version != version
                    or ipaddress.ip_address(route["nexthop"]).version != version):
                raise exc.InvalidInput(
                    error_message=f"Host route {route} does not match ip_version {version}")

    def get_subnet(self, ctx, subnet_id: str) -> dict:
        with self._read() as session:
            return views.subnet_dict(self._get_subnet(session, ctx, subnet_id))

    def get_subnets(self, ctx, filters: dict | None = None) -> list[dict]:
        query = select(Subnet).order_by(Subnet.created_at, Subnet.id)
        clause = policy.subnet_visibility_clause(ctx, Subnet)
        if clause is not None:
            query = query.where(clause)
        query = self._pushdown(query, filters, SUBNET_COLUMNS)
        shared = (filters or {}).get("shared")
        if shared:      # Neutron's filter-only attribute: the network's ``shared``
            query = query.where(Subnet.network.has(Network.shared.in_(shared)))
        with self._read() as session:
            return [views.subnet_dict(s) for s in session.scalars(query)]

    def update_subnet(self, ctx, subnet_id: str, data: dict,
                      if_revision: int | None = None) -> dict:
        def work(tx):
            session = tx.session
            subnet = self._get_subnet(session, ctx, subnet_id)
            net = self._get_network(session, ctx, subnet.network_id, lock=True)
            session.refresh(subnet)
            policy.check_modify(ctx, subnet, "subnet", "update")
            self._check_revision(subnet, if_revision)
            cidr = ipaddress.ip_network(subnet.cidr)
            gateway = data["gateway_ip"] if "gateway_ip" in data else subnet.gateway_ip
            self._check_gateway(cidr, gateway)
            if "allocation_pools" in data or "gateway_ip" in data:
                pools = data.get("allocation_pools") or subnet.allocation_pools
                data["allocation_pools"] = ipam.validate_pools(cidr, pools, gateway)
            self._check_dns_and_routes(subnet.id, subnet.ip_version, data)
            was_dhcp = subnet.enable_dhcp
            changed = False
            for attr in ("name", "description", "gateway_ip", "allocation_pools",
                         "enable_dhcp", "dns_nameservers", "host_routes"):
                if attr in data and getattr(subnet, attr) != data[attr]:
                    setattr(subnet, attr, data[attr])
                    changed = True
            if changed:
                subnet.bump_revision()
            session.flush()
            if subnet.enable_dhcp and not was_dhcp:
                self._add_dhcp_address(tx, net, subnet)
            elif was_dhcp and not subnet.enable_dhcp:
                self._remove_dhcp_address(tx, net, subnet)
            self.registry.publish("subnet", PRECOMMIT_UPDATE, context=ctx, tx=tx,
                                  subnet=subnet, request=data)
            tx.notify(DHCP_AGENT, "subnet_update_end",
                      lambda: {"network_id": net.id, "subnet": views.subnet_dict(subnet)})
            return subnet
        return self._write(work, self._subnet_view)

    def delete_subnet(self, ctx, subnet_id: str) -> None:
        def work(tx):
            session = tx.session
            subnet = self._get_subnet(session, ctx, subnet_id)
            net = self._get_network(session, ctx, subnet.network_id, lock=True)
            policy.check_modify(ctx, subnet, "subnet", "delete")
            self.registry.publish("subnet", PRECOMMIT_DELETE, context=ctx, tx=tx, subnet=subnet)
            owners = session.scalars(
                select(Port.device_owner).join(IPAllocation, IPAllocation.port_id == Port.id)
                .where(IPAllocation.subnet_id == subnet.id)).all()
            if any(owner not in AUTO_DELETE_PORT_OWNERS for owner in owners):
                raise exc.SubnetInUse(subnet_id=subnet.id)
            payload = {"network_id": net.id, "subnet": views.subnet_dict(subnet)}
            self._remove_dhcp_address(tx, net, subnet)
            net.subnets.remove(subnet)
            net.bump_revision()
            session.flush()
            tx.notify(DHCP_AGENT, "subnet_delete_end", payload)
        self._write(work)
