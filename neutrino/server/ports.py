"""Ports: MAC and fixed IP allocation, binding, status from the agents."""
import ipaddress
import random
from collections import namedtuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import selectinload

from neutrino.db.models import (IPAllocation, Network, Port, PortSecurityGroupBinding,
                                Subnet, new_id, utcnow)
from neutrino.server import binding, ipam, nova, policy, provisioning, views
from neutrino.server import exceptions as exc
from neutrino.server.events import PRECOMMIT_CREATE, PRECOMMIT_DELETE, PRECOMMIT_UPDATE
from neutrino.server.notify import DHCP_AGENT, PORT_DELETE, PORT_UPDATE
from neutrino.server.transaction import shared_view

ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:router_centralized_snat", "network:router_ha_interface")
"""Owners that may hold a subnet's gateway address."""

PORT_COLUMNS = {
    "id": Port.id, "name": Port.name, "network_id": Port.network_id,
    "project_id": Port.project_id, "tenant_id": Port.project_id,
    "device_id": Port.device_id, "device_owner": Port.device_owner,
    "mac_address": Port.mac_address, "status": Port.status,
    "admin_state_up": Port.admin_state_up, "binding:host_id": Port.binding_host_id,
}
SIMPLE_UPDATES = {"name": "name", "description": "description",
                  "admin_state_up": "admin_state_up", "device_id": "device_id",
                  "device_owner": "device_owner", "mac_address": "mac_address",
                  "port_security_enabled": "port_security_enabled",
                  "allowed_address_pairs": "allowed_address_pairs",
                  "extra_dhcp_opts": "extra_dhcp_opts",
                  "binding:host_id": "binding_host_id", "binding:profile": "binding_profile",
                  "binding:vnic_type": "binding_vnic_type"}

NONE_MEANS = {"binding_host_id": "", "binding_profile": {}, "allowed_address_pairs": [],
              "extra_dhcp_opts": []}
"""What a null in an update means for attributes stored as empty values."""

PortRow = namedtuple("PortRow", [c.name for c in Port.__table__.c])
"""A ports-table row with fast attribute access (SQLAlchemy's Row is slower per attribute)."""

_PORTS = Port.__table__
_ALLOCS = IPAllocation.__table__
_BINDINGS = PortSecurityGroupBinding.__table__
_PORT_ROWS = select(*views.raw_columns(_PORTS))
_FIXED_IPS = select(_ALLOCS.c.port_id, _ALLOCS.c.subnet_id,
                    _ALLOCS.c.ip_address).order_by(_ALLOCS.c.id)
_GROUPS = select(_BINDINGS.c.port_id, _BINDINGS.c.security_group_id)
_IDS = bindparam("ids", expanding=True)
_LOCK_PORTS = (select(_PORTS.c.id).where(_PORTS.c.id.in_(_IDS)).order_by(_PORTS.c.id)
               .with_for_update())
_BY_IDS = (_PORT_ROWS.where(_PORTS.c.id.in_(_IDS)), _FIXED_IPS.where(_ALLOCS.c.port_id.in_(_IDS)),
           _GROUPS.where(_BINDINGS.c.port_id.in_(_IDS)))
_SET_STATUS = (_PORTS.update().where(_PORTS.c.id == bindparam("b_id"))
               .values(status=bindparam("b_status"), revision_number=bindparam("b_revision"),
                       updated_at=bindparam("b_updated_at")))
_SUBNET_ADDRESSES = select(_ALLOCS.c.ip_address).where(
    _ALLOCS.c.subnet_id == bindparam("subnet_id"))
_ADDRESS_OWNER = select(_ALLOCS.c.port_id).where(_ALLOCS.c.network_id == bindparam("network_id"),
                                                 _ALLOCS.c.ip_address == bindparam("address"))
_SEGMENTS = select(Network.id, Network.network_type, Network.segmentation_id,
                   Network.physical_network, Network.mtu)
"""Statements built once: building a select costs more CPU than SQLite takes to run it."""

PortRecord = tuple[PortRow, list[dict], list[str]]
"""A port as plain data: its row, fixed IPs ({subnet_id, ip_address}) and group ids."""


def port_records(conn, query, ids=None) -> dict[str, PortRecord]:
    """The ports ``query`` (a select of ``_PORT_ROWS``) finds, in its order, by id.

    Three queries and no ORM objects. ``ids``: the ports' ids when known, else
    ``query`` itself selects them again for the fixed IPs and groups.
    """
    rows = [PortRow._make(r) for r in conn.execute(query)]
    found = {r.id: (r, [], []) for r in rows}
    if not found:
        return found
    if ids is None:
        ids = query.with_only_columns(_PORTS.c.id).scalar_subquery()
    else:
        ids = list(found)
    return _with_details(found, conn.execute(_FIXED_IPS.where(_ALLOCS.c.port_id.in_(ids))),
                         conn.execute(_GROUPS.where(_BINDINGS.c.port_id.in_(ids))))


def _with_details(found: dict[str, PortRecord], fixed_ips, groups) -> dict[str, PortRecord]:
    """Fill the records' fixed IPs and group ids from (port, subnet, address)
    and (port, group) rows; rows of ports made since the ports were read
    (SQLite reads have no snapshot) are left out."""
    for port_id, subnet_id, address in fixed_ips:
        if port_id in found:
            found[port_id][1].append({"subnet_id": subnet_id, "ip_address": address})
    for port_id, sg_id in groups:
        if port_id in found:
            found[port_id][2].append(sg_id)
    return found


def records_by_id(conn, port_ids: list[str]) -> dict[str, PortRecord]:
    """The ports of these ids, as port_records does, with statements built once."""
    if not port_ids:
        return {}
    ports, fixed_ips, groups = _BY_IDS
    ids = {"ids": port_ids}
    found = {r.id: (r, [], []) for r in map(PortRow._make, conn.execute(ports, ids))}
    if not found:
        return found
    return _with_details(found, conn.execute(fixed_ips, ids), conn.execute(groups, ids))


def lock_ports(conn, port_ids: list[str]) -> None:
    """Lock the ports' rows, in id order, until the transaction ends (PostgreSQL).

    Status changes decided from provisioning blocks take it first, so two of
    them about one port (DHCP ready, L2 up) run one after the other and the
    later sees what the earlier left. SQLite has one writer at a time anyway.
    """
    if port_ids and conn.dialect.name != "sqlite":
        conn.execute(_LOCK_PORTS, {"ids": port_ids}).all()


def record_dict(record: PortRecord) -> dict:
    return views.port_dict(*record)


def _port_query():
    return select(Port).options(selectinload(Port.fixed_ips),
                                selectinload(Port.security_group_bindings))


class PortsMixin:
    def _get_port(self, session, ctx, port_id: str) -> Port:
        port = session.execute(_port_query().where(Port.id == port_id)).scalar()
        if port is None:
            raise exc.PortNotFound(port_id=port_id)
        if not ctx.is_admin:
            net = session.get(Network, port.network_id)
            if not policy.port_visible(ctx, port, net):
                raise exc.PortNotFound(port_id=port_id)
        return port

    def _port_for_update(self, session, ctx, port_id: str) -> tuple[Port, Network]:
        """The port and its network, the network row locked first.

        Every write on a network's ports and addresses takes that lock
        (PostgreSQL), so the port read after it is the committed one.
        """
        network_id = session.execute(select(Port.network_id)
                                     .where(Port.id == port_id)).scalar()
        if network_id is None:
            raise exc.PortNotFound(port_id=port_id)
        net = session.execute(select(Network).where(Network.id == network_id)
                              .with_for_update()
                              .execution_options(populate_existing=True)).scalar()
        port = session.execute(_port_query().where(Port.id == port_id)
                               .execution_options(populate_existing=True)).scalar()
        if port is None or net is None or not policy.port_visible(ctx, port, net):
            raise exc.PortNotFound(port_id=port_id)
        return port, net

    def _port_view(self, port: Port) -> dict:
        return shared_view(port, views.port_dict)

    # -- IPAM -----------------------------------------------------------------

    def _used_addresses(self, session, subnet: Subnet) -> list[int]:
        rows = session.execute(_SUBNET_ADDRESSES, {"subnet_id": subnet.id}).scalars().all()
        return sorted(map(ipam.to_int, rows))

    def _next_address(self, session, subnet: Subnet, taken_now: set[str]) -> str | None:
        used = self._used_addresses(session, subnet)
        if taken_now:
            used = sorted(set(used) | {ipam.to_int(a) for a in taken_now})
        return ipam.first_free(subnet.allocation_pools, used, subnet.gateway_ip)

    def _address_taken(self, session, net_id: str, address: str, port_id: str | None) -> bool:
        owner = session.execute(_ADDRESS_OWNER,
                                {"network_id": net_id, "address": address}).scalar()
        return owner is not None and owner != port_id

    def _allocate(self, session, net: Network, requested: list[dict] | None,
                  device_owner: str, port: Port | None = None) -> list[tuple[str, str]]:
        """(subnet_id, address) for each wanted fixed IP.

        Without a request: the lowest free address of the first IPv4 subnet that
        has one, and likewise for IPv6. A port's current address given again is
        kept (port updates).
        """
        subnets = {s.id: s for s in net.subnets}
        if requested is None:
            result = []
            for version in (4, 6):
                group = [s for s in net.subnets if s.ip_version == version]
                if not group:
                    continue
                for subnet in group:
                    address = self._next_address(session, subnet, set())
                    if address:
                        result.append((subnet.id, address))
                        break
                else:
                    raise exc.IpAddressGenerationFailure(net_id=net.id)
            return result
        held = {(a.subnet_id, a.ip_address) for a in port.fixed_ips} if port else set()
        port_id = port.id if port else None
        chosen: list[tuple[str, str]] = []
        for entry in requested:
            subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
            if subnet_id is not None and subnet_id not in subnets:
                raise exc.InvalidInput(
                    error_message=f"Failed to create port on network {net.id}, because "
                                  f"fixed_ips included invalid subnet {subnet_id}")
            if address is None:
                subnet = subnets[subnet_id]
                taken = {a for s, a in chosen if s == subnet_id}
                address = self._next_address(session, subnet, taken)
                if address is None:
                    raise exc.IpAddressGenerationFailure(net_id=net.id)
                chosen.append((subnet_id, address))
                continue
            address = str(ipaddress.ip_address(address))
            if subnet_id is None:
                subnet_id = next((s.id for s in net.subnets if ipam.address_in_subnet(
                    address, ipaddress.ip_network(s.cidr))), None)
                if subnet_id is None:
                    raise exc.InvalidIpForNetwork(ip_address=address)
            subnet = subnets[subnet_id]
            if not ipam.address_in_subnet(address, ipaddress.ip_network(subnet.cidr)):
                raise exc.InvalidIpForSubnet(ip_address=address)
            if (subnet_id, address) not in held:
                if address == subnet.gateway_ip and device_owner not in ROUTER_OWNERS:
                    raise exc.IpAddressInUse(net_id=net.id, ip_address=address)
                if (self._address_taken(session, net.id, address, port_id)
                        or any(a == address for _, a in chosen)):
                    raise exc.IpAddressInUse(net_id=net.id, ip_address=address)
            chosen.append((subnet_id, address))
        return chosen

    @staticmethod
    def _random_mac(base: str) -> str:
        prefix = base.split(":")[:3]
        return ":".join(prefix + [f"{random.randrange(256):02x}" for _ in range(3)])

    def _check_mac_free(self, session, net_id: str, mac: str) -> None:
        if session.execute(select(Port.id).where(Port.mac_address == mac)).scalar():
            raise exc.MacAddressInUse(net_id=net_id, mac=mac)

    # -- API ------------------------------------------------------------------

    def create_port(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_port(tx, ctx, data), self._port_view)

    def _create_port(self, tx, ctx, data: dict) -> Port:
        session = tx.session
        policy.check_attributes_settable(ctx, "port", "create", data)
        net = self._get_network(session, ctx, data["network_id"], lock=True)
        policy.check_use_network(ctx, net, "port")
        policy.check_port_on_network(ctx, net, data, "create")
        project_id = policy.check_project(ctx, data.get("project_id"))
        mac = data.get("mac_address")
        if mac:
            self._check_mac_free(session, net.id, mac)
        else:
            mac = self._random_mac(self.options.base_mac)
        device_owner = data.get("device_owner", "")
        port_security = data.get("port_security_enabled", net.port_security_enabled)
        self._check_port_security(port_security, data)
        port = Port(
            id=data.get("id") or new_id(), project_id=project_id, network_id=net.id,
            name=data.get("name", ""), description=data.get("description", ""),
            mac_address=mac, admin_state_up=data.get("admin_state_up", True), status="DOWN",
            device_id=data.get("device_id", ""), device_owner=device_owner,
            port_security_enabled=port_security,
            allowed_address_pairs=self._address_pairs(data.get("allowed_address_pairs"), mac),
            extra_dhcp_opts=data.get("extra_dhcp_opts") or [],
            binding_host_id=data.get("binding:host_id") or "",
            binding_profile=data.get("binding:profile") or {},
            binding_vnic_type=data.get("binding:vnic_type", "normal"),
            tags=[], revision_number=0)
        port.fixed_ips = [
            IPAllocation(subnet_id=s, network_id=net.id, ip_address=a)
            for s, a in self._allocate(session, net, data.get("fixed_ips"), device_owner)]
        port.security_group_bindings = [
            PortSecurityGroupBinding(security_group_id=sg)
            for sg in self._port_security_groups(session, ctx, project_id, data, port_security,
                                                 device_owner)]
        binding.bind(session, port, self.options.agent_down_time)
        session.add(port)
        session.flush()
        self._set_up_blocks(session, port, net, {}, addresses_changed=True)
        self.registry.publish("port", PRECOMMIT_CREATE, context=ctx, tx=tx, port=port,
                              request=data)
        self._notify_sg_members(tx, self._sg_membership(None), port)
        tx.notify(DHCP_AGENT, "port_create_end",
                  lambda: {"network_id": port.network_id, "port": self._port_view(port)})
        return port

    @staticmethod
    def _check_port_security(enabled: bool, data: dict) -> None:
        if enabled:
            return
        if data.get("security_groups"):
            raise exc.PortSecurityAndIPRequiredForSecurityGroups()
        if data.get("allowed_address_pairs"):
            raise exc.AddressPairAndPortSecurityRequired()

    def get_port(self, ctx, port_id: str) -> dict:
        found = self._port_dicts(ctx, {"id": [port_id]})
        if not found:
            raise exc.PortNotFound(port_id=port_id)
        return found[0]

    def get_ports(self, ctx, filters: dict | None = None) -> list[dict]:
        return self._port_dicts(ctx, filters)

    def _port_dicts(self, ctx, filters: dict | None) -> list[dict]:
        """Visible ports matching the column filters, as API dicts.

        Reads plain rows (no ORM objects) in three queries: listing many ports
        is the hot path of agents and clients.
        """
        query = _PORT_ROWS
        clause = policy.port_visibility_clause(ctx, Port)
        if clause is not None:
            query = query.where(clause)
        query = self._pushdown(query, filters, PORT_COLUMNS)
        with self._read() as session:
            found = port_records(session.connection(), query)
        return [views.port_dict(*r) for r in found.values()]

    def update_port(self, ctx, port_id: str, data: dict, if_revision: int | None = None) -> dict:
        return self._write(lambda tx: self._update_port(tx, ctx, port_id, data, if_revision),
                           self._port_view)

    def _update_port(self, tx, ctx, port_id: str, data: dict,
                     if_revision: int | None = None) -> Port:
        session = tx.session
        port, net = self._port_for_update(session, ctx, port_id)
        policy.check_modify(ctx, port, "port", "update")
        policy.check_attributes_settable(ctx, "port", "update", data)
        policy.check_port_on_network(ctx, net, data, "update")
        self._check_revision(port, if_revision)
        before = self._sg_membership(port)
        self._check_port_security_update(port, data)
        if "allowed_address_pairs" in data:
            data = dict(data, allowed_address_pairs=self._address_pairs(
                data["allowed_address_pairs"], data.get("mac_address") or port.mac_address))
        mac_changed = bool(data.get("mac_address")) and data["mac_address"] != port.mac_address
        if mac_changed:
            self._check_mac_free(session, net.id, data["mac_address"])
        old_host, old_status = port.binding_host_id, port.status
        changed = ips_changed = False
        for attr, column in SIMPLE_UPDATES.items():
            if attr in data and getattr(port, column) != data[attr]:
                value = data[attr]
                if value is None:
                    value = NONE_MEANS.get(column)
                setattr(port, column, value)
                changed = True
        if "fixed_ips" in data:
            wanted = self._allocate(session, net, data["fixed_ips"], port.device_owner, port)
            if wanted != [(a.subnet_id, a.ip_address) for a in port.fixed_ips]:
                self._set_fixed_ips(session, port, net.id, wanted)
                changed = ips_changed = True
        if "security_groups" in data:
            wanted_sgs = self._port_security_groups(session, ctx, port.project_id, data,
                                                    port.port_security_enabled, port.device_owner)
            if wanted_sgs != [b.security_group_id for b in port.security_group_bindings]:
                port.security_group_bindings = [
                    PortSecurityGroupBinding(security_group_id=sg) for sg in wanted_sgs]
                changed = True
        if port.binding_host_id != old_host:
            port.status = "DOWN"
        if changed:
            binding.bind(session, port, self.options.agent_down_time)
            port.bump_revision()
        session.flush()
        new_host = port.binding_host_id != old_host
        if ips_changed or mac_changed or new_host:
            held = provisioning.blocks_of(session.connection(), [port.id])
            self._set_up_blocks(session, port, net, held, addresses_changed=ips_changed
                                or mac_changed, went_down=new_host)
        self.registry.publish("port", PRECOMMIT_UPDATE, context=ctx, tx=tx, port=port,
                              request=data)
        self._notify_sg_members(tx, before, port)
        self._notify_port_updated(tx, port)
        nova.notify(tx, nova.status_event(port, old_status, port.status))
        return port

    def _set_up_blocks(self, session, port: Port, net: Network, held: provisioning.Blocks,
                       addresses_changed: bool, went_down: bool = False) -> None:
        conn = session.connection()
        wanted = provisioning.set_up_dhcp(conn, port, net, self.options.agent_down_time,
                                          held.get(port.id, set()), addresses_changed,
                                          went_down)
        provisioning.save(conn, held, {port.id: wanted})

    def _set_fixed_ips(self, session, port: Port, net_id: str,
                       wanted: list[tuple[str, str]]) -> None:
        keep = [a for a in port.fixed_ips if (a.subnet_id, a.ip_address) in wanted]
        for alloc in port.fixed_ips:
            if alloc not in keep:
                session.delete(alloc)
        session.flush()
        have = {(a.subnet_id, a.ip_address) for a in keep}
        port.fixed_ips = keep + [IPAllocation(subnet_id=s, network_id=net_id, ip_address=a)
                                 for s, a in wanted if (s, a) not in have]

    def _notify_port_updated(self, tx, port: Port) -> None:
        tx.notify(PORT_UPDATE, "port_update", lambda: {"port": self._port_view(port)})
        tx.notify(DHCP_AGENT, "port_update_end",
                  lambda: {"network_id": port.network_id, "port": self._port_view(port)})

    def _notify_port_deleted(self, tx, port: Port) -> None:
        payload = views.port_dict(port)
        tx.notify(PORT_DELETE, "port_delete",
                  {"port_id": port.id, "network_id": port.network_id})
        tx.notify(DHCP_AGENT, "port_delete_end",
                  {"network_id": port.network_id, "port": payload})

    def delete_port(self, ctx, port_id: str) -> None:
        def work(tx):
            port, _ = self._port_for_update(tx.session, ctx, port_id)
            policy.check_modify(ctx, port, "port", "delete")
            self.registry.publish("port", PRECOMMIT_DELETE, context=ctx, tx=tx, port=port)
            self._notify_sg_members(tx, self._sg_membership(port), None)
            self._notify_port_deleted(tx, port)
            nova.notify(tx, nova.delete_event(port))
            tx.session.delete(port)
        self._write(work)

    # -- agents ---------------------------------------------------------------

    def get_devices_details(self, devices: list[str], host: str) -> list[dict]:
        """Device dicts for the OVS agent of ``host``; binds ports waiting for it.

        Read as plain rows; a write transaction only when a port is to be bound
        (ports created with their host are bound already).
        """
        with self._read() as session:
            found = records_by_id(session.connection(), devices)
        waiting = [r.id for r, _, _ in found.values() if self._bindable_by(r, host)]
        if waiting:
            self._write(lambda tx: self._bind_for_agent(tx, waiting, host))
        with self._read() as session:
            conn = session.connection()
            if waiting:
                found = records_by_id(conn, devices)
            segments = self._segments_of(conn, {r.network_id for r, _, _ in found.values()})
        return [self._device_dict(found[d], segments[found[d][0].network_id])
                if d in found and found[d][0].network_id in segments
                else {"device": d, "no_such_port": True} for d in devices]

    def _bind_for_agent(self, tx, port_ids: list[str], host: str) -> None:
        for port in tx.session.scalars(select(Port).where(Port.id.in_(port_ids))):
            if self._bindable_by(port, host):
                port.binding_host_id = host
                binding.bind(tx.session, port, self.options.agent_down_time,
                             agent_asking=True)
                port.bump_revision()

    @staticmethod
    def _segments_of(conn, network_ids: set[str]) -> dict[str, tuple]:
        """network id -> (network_type, segmentation_id, physical_network, mtu)."""
        if not network_ids:
            return {}
        return {row[0]: tuple(row[1:]) for row in conn.execute(
            _SEGMENTS.where(Network.id.in_(network_ids)))}

    @staticmethod
    def _bindable_by(port, host: str) -> bool:
        """``port``: a model or a row."""
        if port.binding_vif_type == binding.VIF_TYPE_OVS and port.binding_host_id == host:
            return False
        if port.binding_host_id == host:
            return True
        return not port.binding_host_id and port.device_owner.startswith("network:")

    @staticmethod
    def _device_dict(record: PortRecord, segment: tuple) -> dict:
        port, fixed_ips, security_groups = record
        network_type, segmentation_id, physical_network, mtu = segment
        return {
            "device": port.id, "port_id": port.id, "network_id": port.network_id,
            "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
            "network_type": network_type, "segmentation_id": segmentation_id,
            "physical_network": physical_network, "mtu": mtu,
            "fixed_ips": fixed_ips, "device_owner": port.device_owner,
            "device_id": port.device_id, "port_security_enabled": port.port_security_enabled,
            "security_groups": security_groups,
            "allowed_address_pairs": [dict(p) for p in views.loads(port.allowed_address_pairs)],
            "revision_number": port.revision_number,
            "binding_vif_type": port.binding_vif_type,
        }

    def set_devices_status(self, devices_up: list[str], devices_down: list[str],
                           host: str) -> dict:
        """Ports the agent of ``host`` wired (up) or unplugged (DOWN).

        Up completes the port's L2 provisioning: it turns ACTIVE unless a
        block remains (the DHCP agent has not served it yet; dhcp_ready turns
        it ACTIVE then). Down sets DOWN at once. Plain rows, one SELECT of the
        blocks and one UPDATE for the ports whose status changes; each change
        gets a new revision, a ``port_update_end`` to the DHCP agent and, for
        an instance's port, its Nova event.
        """
        result = {"devices_up": [], "devices_down": [], "failed_devices_up": [],
                  "failed_devices_down": []}

        def work(tx):
            conn = tx.session.connection()
            ids = list(dict.fromkeys([*devices_up, *devices_down]))
            lock_ports(conn, ids)
            ports = records_by_id(conn, ids)
            held = provisioning.blocks_of(conn, list(ports))
            blocks = provisioning.copy(held)
            transitions: list[tuple[str, str, str]] = []
            for devices, up, key in ((devices_up, True, "devices_up"),
                                     (devices_down, False, "devices_down")):
                for device in devices:
                    record = ports.get(device)
                    port = record[0] if record else None
                    if port is not None and port.binding_host_id not in (host, ""):
                        result["failed_" + key].append(device)
                        continue
                    result[key].append(device)
                    if port is None:
                        continue
                    entities = blocks.get(device)
                    if up and entities:
                        entities.discard(provisioning.L2_ENTITY)
                    elif not up and entities and provisioning.DHCP_ENTITY in entities:
                        entities.add(provisioning.L2_ENTITY)
                    status = "DOWN" if not up else "ACTIVE" if not entities else None
                    if status is not None and port.status != status:
                        transitions.append((device, port.status, status))
                        ports[device] = (port._replace(status=status), record[1], record[2])
            provisioning.save(conn, held, blocks)
            self._save_status_changes(tx, ports, transitions)
        self._write(work)
        return result

    def _save_status_changes(self, tx, ports: dict[str, PortRecord],
                             transitions: list[tuple[str, str, str]]) -> None:
        """Store the ports' new status (one UPDATE) and send what each change tells.

        ``transitions``: (port id, old status, new status) in the order they
        happened, a port possibly more than once; ``ports`` holds the final
        rows. Every transition bumps the revision once.
        """
        if not transitions:
            return
        now = utcnow()
        bumps: dict[str, int] = {}
        for device, _, _ in transitions:
            bumps[device] = bumps.get(device, 0) + 1
        changed = {}
        for device, count in bumps.items():
            port, fixed_ips, groups = ports[device]
            port = port._replace(updated_at=now,
                                 revision_number=(port.revision_number or 0) + count)
            changed[device] = ports[device] = (port, fixed_ips, groups)
        tx.session.connection().execute(_SET_STATUS, [
            {"b_id": p.id, "b_status": p.status, "b_revision": p.revision_number,
             "b_updated_at": now} for p, _, _ in changed.values()])
        payloads = {d: {"network_id": r[0].network_id, "port": record_dict(r)}
                    for d, r in changed.items()}
        for device, old, new in transitions:
            tx.notify(DHCP_AGENT, "port_update_end", payloads[device])
            nova.notify(tx, nova.status_event(changed[device][0], old, new))

    def dhcp_ready(self, port_ids: list[str]) -> None:
        """The DHCP agent serves these ports' addresses: their DHCP blocks go.

        A port left without any block turns ACTIVE (the L2 agent reported it
        up before), as set_devices_status would.
        """
        ids = list(dict.fromkeys(port_ids))
        if not ids:
            return

        def work(tx):
            conn = tx.session.connection()
            lock_ports(conn, ids)
            held = provisioning.blocks_of(conn, ids)
            blocks = provisioning.copy(held)
            cleared = []
            for port_id, entities in blocks.items():
                if provisioning.DHCP_ENTITY in entities:
                    entities.discard(provisioning.DHCP_ENTITY)
                    if not entities:
                        cleared.append(port_id)
            provisioning.save(conn, held, blocks)
            ports = records_by_id(conn, cleared)
            transitions = []
            for port_id in cleared:
                record = ports.get(port_id)
                if record is not None and record[0].status != "ACTIVE":
                    transitions.append((port_id, record[0].status, "ACTIVE"))
                    ports[port_id] = (record[0]._replace(status="ACTIVE"), *record[1:])
            self._save_status_changes(tx, ports, transitions)
        self._write(work)

    def get_port_ids_on_host(self, host: str) -> list[str]:
        with self._read() as session:
            return list(session.scalars(select(Port.id).where(Port.binding_host_id == host)))
