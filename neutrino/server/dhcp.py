"""The DHCP port of a network, managed as Neutron does.

The first DHCP-enabled subnet of a network creates a port owned by
``network:dhcp`` (device_id ``reserved_dhcp_port`` until the DHCP agent claims
it) on the lowest free pool address; later DHCP subnets add an address to it;
disabling DHCP or deleting the subnet removes that address, and the port goes
when it has none left.
"""
from sqlalchemy import select

from neutrino.db.models import IPAllocation, Network, Port, Subnet, new_id
from neutrino.server import binding, views
from neutrino.server.notify import DHCP_AGENT

DHCP_OWNER = "network:dhcp"
RESERVED_DEVICE_ID = "reserved_dhcp_port"


class DhcpPortMixin:
    def _dhcp_port(self, session, net: Network) -> Port | None:
        return session.scalars(select(Port).where(Port.network_id == net.id,
                                                  Port.device_owner == DHCP_OWNER)
                               .order_by(Port.created_at)).first()

    def _add_dhcp_address(self, tx, net: Network, subnet: Subnet) -> None:
        session = tx.session
        address = self._next_address(session, subnet, set())
        if address is None:
            return
        alloc = IPAllocation(subnet_id=subnet.id, network_id=net.id, ip_address=address)
        port = self._dhcp_port(session, net)
        if port is not None:
            port.fixed_ips.append(alloc)
            port.bump_revision()
            session.flush()
            self._notify_port_updated(tx, port)
            return
        port = Port(id=new_id(), project_id=net.project_id, network_id=net.id,
                    mac_address=self._random_mac(self.options.base_mac),
                    device_owner=DHCP_OWNER, device_id=RESERVED_DEVICE_ID,
                    admin_state_up=True, status="DOWN",
                    port_security_enabled=net.port_security_enabled,
                    name="", description="", tags=[], revision_number=0,
                    allowed_address_pairs=[], extra_dhcp_opts=[], binding_host_id="",
                    binding_profile={}, binding_vnic_type="normal")
        port.fixed_ips = [alloc]
        binding.bind(session, port, self.options.agent_down_time)
        session.add(port)
        session.flush()
        tx.notify(DHCP_AGENT, "port_create_end",
                  lambda: {"network_id": net.id, "port": views.port_dict(port)})

    def _remove_dhcp_address(self, tx, net: Network, subnet: Subnet) -> None:
        session = tx.session
        for port in session.scalars(select(Port).where(Port.network_id == net.id,
                                                       Port.device_owner == DHCP_OWNER)):
            mine = [a for a in port.fixed_ips if a.subnet_id == subnet.id]
            if not mine:
                continue
            if len(mine) == len(port.fixed_ips):
                self._notify_port_deleted(tx, port)
                session.delete(port)
            else:
                for alloc in mine:
                    port.fixed_ips.remove(alloc)
                port.bump_revision()
                self._notify_port_updated(tx, port)
        session.flush()
