"""Neutron's API exceptions: the class name is the error ``type``, the base the HTTP code.

The plugin raises these; the API layer turns any of them into
``{"NeutronError": {"type", "message", "detail": ""}}`` with ``code``.
"""


class NeutronException(Exception):
    code = 500
    message = "An unknown exception occurred."

    def __init__(self, message: str | None = None, **kwargs):
        self.kwargs = kwargs
        super().__init__(message or self.message.format(**kwargs))

    @property
    def type(self) -> str:
        return type(self).__name__


class BadRequest(NeutronException):
    code = 400
    message = "Bad {resource} request: {msg}."


class InvalidInput(BadRequest):
    message = "Invalid input for operation: {error_message}."


class HTTPBadRequest(BadRequest):
    """Raised for request bodies and query strings that fail validation, as Neutron's WSGI layer does."""
    message = "{msg}"


class NotAuthorized(NeutronException):
    code = 403
    message = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    message = "({action}) is disallowed by policy."


class NotFound(NeutronException):
    code = 404
    message = "An unknown exception occurred."


class ResourceNotFound(NotFound):
    message = "The resource could not be found."


class NetworkNotFound(NotFound):
    message = "Network {net_id} could not be found."


class SubnetNotFound(NotFound):
    message = "Subnet {subnet_id} could not be found."


class PortNotFound(NotFound):
    message = "Port {port_id} could not be found."


class AgentNotFound(NotFound):
    message = "Agent {id} could not be found."


class ExtensionNotFound(NotFound):
    message = "Extension with alias {alias} does not exist."


class TagNotFound(NotFound):
    message = "Tag {tag} could not be found for {resource} {resource_id}."


class Conflict(NeutronException):
    code = 409
    message = "A conflict occurred."


class NetworkMTUSubnetConflict(Conflict):
    message = "MTU of {net_id} is not valid, subnet requires a minimum of {mtu}"


class InUse(Conflict):
    message = "The resource is in use."


class NetworkInUse(InUse):
    message = ("Unable to complete operation on network {net_id}. "
               "There are one or more ports still in use on the network.")


class SubnetInUse(InUse):
    message = ("Unable to complete operation on subnet {subnet_id}: "
               "One or more ports have an IP allocation from this subnet.")


class IpAddressInUse(InUse):
    message = ("Unable to complete operation for network {net_id}. "
               "The IP address {ip_address} is in use.")


class MacAddressInUse(InUse):
    message = ("Unable to complete operation for network {net_id}. "
               "The mac address {mac} is in use.")


class IpAddressGenerationFailure(Conflict):
    message = "No more IP addresses available on network {net_id}."


class TunnelIdInUse(InUse):
    message = "Unable to create the network. The tunnel ID {tunnel_id} is in use."


class FlatNetworkInUse(InUse):
    message = ("Unable to create the flat network. "
               "Physical network {physical_network} is in use.")


class GatewayConflictWithAllocationPools(InUse):
    message = "Gateway ip {ip_address} conflicts with allocation pool {pool}."


class PreconditionFailed(NeutronException):
    code = 412
    message = "Precondition failed."


class RevisionNumberConstraintFailed(PreconditionFailed):
    message = "Constrained to {expected}, but current revision is {current}."


class ServiceUnavailable(NeutronException):
    code = 503
    message = "The service is unavailable."


class NoNetworkAvailable(ServiceUnavailable):
    message = "Unable to create the network. No tenant network is available for allocation."


class MacAddressGenerationFailure(ServiceUnavailable):
    message = "Unable to generate unique mac on network {net_id}."


class InvalidAllocationPool(BadRequest):
    message = "The allocation pool {pool} is not valid."


class OutOfBoundsAllocationPool(BadRequest):
    message = "The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}."


class OverlappingAllocationPools(Conflict):
    message = "Found overlapping allocation pools: {pool_1} {pool_2} for subnet {subnet_cidr}."


class InvalidIpForSubnet(BadRequest):
    message = "IP address {ip_address} is not a valid IP for the specified subnet."


class InvalidIpForNetwork(BadRequest):
    message = "IP address {ip_address} is not a valid IP for any of the subnets on the specified network."


class DNSNameServersExhausted(BadRequest):
    message = ("Unable to complete operation for {subnet_id}. "
               "The number of DNS nameservers exceeds the limit {quota}.")


class HostRoutesExhausted(BadRequest):
    message = ("Unable to complete operation for {subnet_id}. "
               "The number of host routes exceeds the limit {quota}.")


class PortSecurityAndIPRequiredForSecurityGroups(InvalidInput):
    message = "Port security must be enabled and port must have an IP address in order to use security groups."


class AddressPairAndPortSecurityRequired(Conflict):
    message = "Port Security must be enabled in order to have allowed address pairs on a port."
