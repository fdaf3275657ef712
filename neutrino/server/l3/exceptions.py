"""Neutron's L3 API exceptions (neutron_lib.exceptions.l3 and friends)."""
from neutrino.server.exceptions import BadRequest, InUse, NotFound


class RouterNotFound(NotFound):
    message = "Router {router_id} could not be found."


class FloatingIPNotFound(NotFound):
    message = "Floating IP {floatingip_id} could not be found."


class RouterInterfaceNotFound(NotFound):
    message = "Router {router_id} does not have an interface with id {port_id}."


class RouterInterfaceNotFoundForSubnet(NotFound):
    message = "Router {router_id} has no interface on subnet {subnet_id}."


class ExternalGatewayForFloatingIPNotFound(NotFound):
    message = ("External network {external_network_id} is not reachable from subnet "
               "{subnet_id}.  Therefore, cannot associate Port {port_id} with a Floating IP.")


class RouterInUse(InUse):
    message = "Router {router_id} {reason}."

    def __init__(self, **kwargs):
        kwargs.setdefault("reason", "still has ports")
        super().__init__(**kwargs)


class RouterInterfaceInUseByFloatingIP(InUse):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be "
               "deleted, as it is required by one or more floating IPs.")


class RouterInterfaceInUseByRoute(InUse):
    message = ("Router interface for subnet {subnet_id} on router {router_id} cannot be "
               "deleted, as it is required by one or more routes.")


class RouterExternalGatewayInUseByFloatingIp(InUse):
    message = ("Gateway cannot be updated for router {router_id}, since a gateway to "
               "external network {net_id} is required by one or more floating IPs.")


class ExternalNetworkInUse(InUse):
    message = ("External network {net_id} cannot be updated to be made non-external, "
               "since it has existing gateway ports.")


class FloatingIPPortAlreadyAssociated(InUse):
    message = ("Cannot associate floating IP {floating_ip_address} ({fip_id}) with port "
               "{port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating "
               "IP on external network {net_id}.")


class PortInUse(InUse):
    message = ("Unable to complete operation on port {port_id} for network {net_id}. "
               "Port already has an attached device {device_id}.")


class ServicePortInUse(InUse):
    message = "Port {port_id} cannot be deleted directly via the port API: {reason}."


class SubnetMismatchForPort(BadRequest):
    message = "Subnet on port {port_id} does not match the requested subnet {subnet_id}."


class InvalidRoutes(BadRequest):
    message = "Invalid format for routes: {routes}, {reason}."


class RoutesExhausted(BadRequest):
    message = ("Unable to complete operation for {router_id}. The number of routes exceeds "
               "the maximum {quota}.")


def router_bad_request(msg: str) -> BadRequest:
    return BadRequest(resource="router", msg=msg)


def floatingip_bad_request(msg: str) -> BadRequest:
    return BadRequest(resource="floatingip", msg=msg)


class InvalidL3Agent(NotFound):
    message = "Agent {id} is not a L3 Agent or has been disabled."


class RouterHostedByL3Agent(InUse):
    message = "The router {router_id} has been already hosted by the L3 Agent {agent_id}."


class RouterNotHostedByL3Agent(NotFound):
    message = "The router {router_id} is not hosted by L3 agent {agent_id}."


class GatewayIpInUse(InUse):
    message = ("Current gateway ip {ip_address} already in use by port {port_id}. "
               "Unable to update.")
