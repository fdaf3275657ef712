"""Routers and floating IPs as the API shows them (Neutron's attribute names)."""
from neutrino.db.models import FloatingIP, Port, Router
from neutrino.server.views import timestamp


def _standard(obj) -> dict:
    return {
        "id": obj.id, "project_id": obj.project_id, "tenant_id": obj.project_id,
        "description": obj.description, "tags": list(obj.tags or []),
        "created_at": timestamp(obj.created_at), "updated_at": timestamp(obj.updated_at),
        "revision_number": obj.revision_number,
    }


def gateway_info(router: Router, gw_port: Port | None) -> dict | None:
    if gw_port is None:
        return None
    return {"network_id": gw_port.network_id, "enable_snat": router.enable_snat,
            "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                                   for a in gw_port.fixed_ips]}


def router_dict(router: Router, gw_port: Port | None) -> dict:
    d = _standard(router)
    d.update({
        "name": router.name,
        "admin_state_up": router.admin_state_up,
        "status": router.status,
        "external_gateway_info": gateway_info(router, gw_port),
        "routes": [dict(r) for r in router.routes or []],
    })
    return d


def port_details(port: Port | None) -> dict | None:
    """The fip-port-details extension: what a floating IP's user sees of its port."""
    if port is None:
        return None
    return {"name": port.name, "network_id": port.network_id,
            "mac_address": port.mac_address, "admin_state_up": port.admin_state_up,
            "status": port.status, "device_id": port.device_id,
            "device_owner": port.device_owner}


def floatingip_dict(fip: FloatingIP, fixed_port: Port | None) -> dict:
    d = _standard(fip)
    d.update({
        "floating_ip_address": fip.floating_ip_address,
        "floating_network_id": fip.floating_network_id,
        "router_id": fip.router_id,
        "port_id": fip.fixed_port_id,
        "fixed_ip_address": fip.fixed_ip_address,
        "status": fip.status,
        "port_details": port_details(fixed_port),
    })
    return d


def interface_info(router_id: str, port: Port, subnet_ids: list[str]) -> dict:
    """The answer of add/remove_router_interface (Neutron's _make_router_interface_info)."""
    return {"id": router_id, "tenant_id": port.project_id, "project_id": port.project_id,
            "port_id": port.id, "network_id": port.network_id,
            "subnet_id": subnet_ids[0] if subnet_ids else None, "subnet_ids": subnet_ids}
