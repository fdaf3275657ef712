"""Models -> the dicts the API returns and the agents receive (Neutron's attribute names)."""
import datetime
import json

from sqlalchemy import JSON, DateTime, Table, Text, type_coerce

from neutrino.db.models import Agent, Network, Port, Subnet

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
AGENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def raw_columns(table: Table) -> list:
    """The table's columns, JSON and timestamps left as the driver returns them.

    Big lists are built from these rows: SQLite hands back text that
    ``timestamp`` and ``loads`` turn into API values far cheaper than the ORM
    types would (PostgreSQL's driver already returns Python values).
    """
    return [type_coerce(c, Text).label(c.name) if isinstance(c.type, (JSON, DateTime)) else c
            for c in table.c]


_EMPTY = {"[]": [], "{}": {}, "null": None}


def loads(value):
    if isinstance(value, str):
        return _EMPTY[value] if value in _EMPTY else json.loads(value)
    return value


def timestamp(value, fmt: str = TIME_FORMAT) -> str | None:
    if not value:
        return None
    if isinstance(value, str):
        if fmt == TIME_FORMAT:
            return f"{value[:10]}T{value[11:19]}Z"
        value = datetime.datetime.fromisoformat(value)
    if fmt == TIME_FORMAT:
        return value.isoformat(timespec="seconds") + "Z"
    return value.strftime(fmt)


def standard_attrs(obj) -> dict:
    return {
        "id": obj.id,
        "name": obj.name,
        "description": obj.description,
        "project_id": obj.project_id,
        "tenant_id": obj.project_id,
        "tags": list(loads(obj.tags) or []),
        "created_at": timestamp(obj.created_at),
        "updated_at": timestamp(obj.updated_at),
        "revision_number": obj.revision_number,
    }


def network_dict(net: Network, subnet_ids: list[str] | None = None) -> dict:
    d = standard_attrs(net)
    d.update({
        "admin_state_up": net.admin_state_up,
        "status": net.status,
        "shared": net.shared,
        "router:external": net.external,
        "port_security_enabled": net.port_security_enabled,
        "mtu": net.mtu,
        "subnets": subnet_ids if subnet_ids is not None else [s.id for s in net.subnets],
        "provider:network_type": net.network_type,
        "provider:physical_network": net.physical_network,
        "provider:segmentation_id": net.segmentation_id,
    })
    return d


def subnet_dict(subnet: Subnet) -> dict:
    d = standard_attrs(subnet)
    d.update({
        "network_id": subnet.network_id,
        "ip_version": subnet.ip_version,
        "cidr": subnet.cidr,
        "gateway_ip": subnet.gateway_ip,
        "allocation_pools": [dict(p) for p in subnet.allocation_pools],
        "enable_dhcp": subnet.enable_dhcp,
        "dns_nameservers": list(subnet.dns_nameservers),
        "host_routes": [dict(r) for r in subnet.host_routes],
        "ipv6_ra_mode": subnet.ipv6_ra_mode,
        "ipv6_address_mode": subnet.ipv6_address_mode,
        "subnetpool_id": subnet.subnetpool_id,
        "segment_id": subnet.segment_id,
        "service_types": list(subnet.service_types),
    })
    return d


def port_dict(port: Port, fixed_ips: list[dict] | None = None,
              security_groups: list[str] | None = None) -> dict:
    """``port`` is a model, or a row of the ports table with the two lists given.

    One dict literal, each attribute read once: agents and clients list ports
    many times a second, and a model's attribute reads are not free.
    """
    if fixed_ips is None:
        fixed_ips = [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                     for a in port.fixed_ips]
    if security_groups is None:
        security_groups = [b.security_group_id for b in port.security_group_bindings]
    return {
        **standard_attrs(port),
        "network_id": port.network_id,
        "mac_address": port.mac_address,
        "admin_state_up": port.admin_state_up,
        "status": port.status,
        "device_id": port.device_id,
        "device_owner": port.device_owner,
        "fixed_ips": fixed_ips,
        "security_groups": security_groups,
        "port_security_enabled": port.port_security_enabled,
        "allowed_address_pairs": [dict(p) for p in loads(port.allowed_address_pairs)],
        "extra_dhcp_opts": [dict(o) for o in loads(port.extra_dhcp_opts)],
        "binding:host_id": port.binding_host_id,
        "binding:vif_type": port.binding_vif_type,
        "binding:vif_details": dict(loads(port.binding_vif_details)),
        "binding:profile": dict(loads(port.binding_profile)),
        "binding:vnic_type": port.binding_vnic_type,
    }


def agent_dict(agent: Agent, alive: bool) -> dict:
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "binary": agent.binary,
        "host": agent.host,
        "topic": agent.topic,
        "alive": alive,
        "admin_state_up": agent.admin_state_up,
        "heartbeat_timestamp": timestamp(agent.heartbeat_timestamp, AGENT_TIME_FORMAT),
        "started_at": timestamp(agent.started_at, AGENT_TIME_FORMAT),
        "created_at": timestamp(agent.created_at, AGENT_TIME_FORMAT),
        "configurations": dict(agent.configurations or {}),
        "availability_zone": agent.availability_zone,
        "description": agent.description,
        "resources_synced": None,
    }
