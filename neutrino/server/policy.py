"""Neutron's default policy between projects, in one place.

Visibility: a non-admin sees its own project's resources, plus shared and
external networks, the subnets of shared networks and the ports on networks it
owns. Everything else answers 404 so that its existence is not revealed.
Roles (Neutron's secure defaults): admin may do anything, member writes in its
project, reader only reads (403 on any write). Callers only use these functions.
"""
from sqlalchemy import or_, select

from neutrino.db.models import Network
from neutrino.server import exceptions as exc
from neutrino.server.context import Context

ADMIN_ONLY_ATTRIBUTES: dict[str, set[str]] = {
    "network": {"provider:network_type", "provider:physical_network",
                "provider:segmentation_id"},
    "port": {"binding:host_id", "binding:vif_type", "binding:vif_details",
             "binding:profile"},
}
"""Attributes hidden from non-admins and refused when a non-admin sets them."""

ADMIN_ONLY_ON_WRITE: dict[str, set[str]] = {
    "network": {"shared", "router:external"},
    "port": {"mac_address"},
}
"""Attributes non-admins see but may not set (Neutron: create/update_network:shared)."""


WRITER_ROLES = {"admin", "member"}

CREATE_DEFAULTS: dict[str, dict[str, object]] = {
    "network": {"shared": False, "router:external": False, "provider:network_type": None,
                "provider:physical_network": None, "provider:segmentation_id": None},
}
"""On create Neutron only checks an attribute that differs from its default."""


def can_write(ctx: Context) -> bool:
    """A context without roles is internal (the server itself); a reader-only one is not."""
    return ctx.is_admin or not ctx.roles or bool(WRITER_ROLES & set(ctx.roles))


def check_write(ctx: Context, action: str) -> None:
    if not can_write(ctx):
        raise exc.PolicyNotAuthorized(action=action)


def attribute_visible(ctx: Context, resource: str, attr: str) -> bool:
    return ctx.is_admin or attr not in ADMIN_ONLY_ATTRIBUTES.get(resource, ())


def check_attributes_settable(ctx: Context, resource: str, action: str, body: dict) -> None:
    if ctx.is_admin:
        return
    check_write(ctx, f"{action}_{resource}")
    forbidden = ADMIN_ONLY_ATTRIBUTES.get(resource, set()) | ADMIN_ONLY_ON_WRITE.get(resource, set())
    defaults = CREATE_DEFAULTS.get(resource, {}) if action == "create" else {}
    for attr in body:
        if attr in forbidden:
            if attr == "mac_address" and action == "create":
                continue
            if attr in defaults and body[attr] == defaults[attr]:
                continue
            raise exc.PolicyNotAuthorized(action=f"rule:{action}_{resource}:{attr}")


def check_admin(ctx: Context, action: str) -> None:
    if not ctx.is_admin:
        raise exc.PolicyNotAuthorized(action=f"rule:{action}")


def check_project(ctx: Context, project_id: str | None) -> str:
    """The project a new resource belongs to: the caller's unless an admin says otherwise."""
    check_write(ctx, "create")
    if not project_id or project_id == ctx.project_id:
        return ctx.project_id
    if not ctx.is_admin:
        raise exc.HTTPBadRequest(msg="Specifying 'project_id' or 'tenant_id' other than the "
                                     "authenticated project in request requires admin privileges")
    return project_id


def owns(ctx: Context, obj) -> bool:
    return ctx.is_admin or obj.project_id == ctx.project_id


def network_visible(ctx: Context, net: Network) -> bool:
    return owns(ctx, net) or net.shared or net.external


def network_visibility_clause(ctx: Context):
    """SQL condition selecting the networks ``ctx`` may see (None: all)."""
    if ctx.is_admin:
        return None
    return or_(Network.project_id == ctx.project_id, Network.shared.is_(True),
               Network.external.is_(True))


def subnet_visible(ctx: Context, subnet, net: Network) -> bool:
    return owns(ctx, subnet) or net.shared


def subnet_visibility_clause(ctx: Context, model):
    if ctx.is_admin:
        return None
    shared_nets = select(Network.id).where(Network.shared.is_(True))
    return or_(model.project_id == ctx.project_id, model.network_id.in_(shared_nets))


def port_visible(ctx: Context, port, net: Network) -> bool:
    return owns(ctx, port) or net.project_id == ctx.project_id


def port_visibility_clause(ctx: Context, model):
    if ctx.is_admin:
        return None
    own_nets = select(Network.id).where(Network.project_id == ctx.project_id)
    return or_(model.project_id == ctx.project_id, model.network_id.in_(own_nets))


def check_modify(ctx: Context, obj, resource: str, action: str) -> None:
    """A visible resource the caller does not own may be read but not changed (403)."""
    check_write(ctx, f"{action}_{resource}")
    if not owns(ctx, obj):
        raise exc.PolicyNotAuthorized(action=f"rule:{action}_{resource}")


NETWORK_OWNER_PORT_ATTRIBUTES = ("mac_address", "port_security_enabled",
                                 "allowed_address_pairs")
"""Port attributes only the network's owner (or an admin) may set, e.g. on a shared network."""


def check_port_on_network(ctx: Context, net: Network, data: dict, action: str) -> None:
    """Neutron's ``<action>_port:<attr>`` rules that need ``admin_or_network_owner``.

    A project with a port on someone else's (shared) network may not choose its
    MAC, IP addresses, port security, address pairs or a ``network:*`` owner.
    """
    if ctx.is_admin or net.project_id == ctx.project_id:
        return
    for attr in NETWORK_OWNER_PORT_ATTRIBUTES:
        if data.get(attr) not in (None, []):
            raise exc.PolicyNotAuthorized(action=f"rule:{action}_port:{attr}")
    if any(isinstance(ip, dict) and ip.get("ip_address") for ip in data.get("fixed_ips") or []):
        raise exc.PolicyNotAuthorized(action=f"rule:{action}_port:fixed_ips:ip_address")
    if str(data.get("device_owner") or "").startswith("network:"):
        raise exc.PolicyNotAuthorized(action=f"rule:{action}_port:device_owner")


def check_use_network(ctx: Context, net: Network, resource: str) -> None:
    """Creating a subnet needs the network's owner; a port also accepts a shared network."""
    if owns(ctx, net):
        return
    if resource == "port" and net.shared:
        return
    raise exc.PolicyNotAuthorized(action=f"rule:create_{resource}:network")
