"""Neutron's security-group, port-security and address-pair errors (name = ``type``)."""
from neutrino.server.exceptions import BadRequest, Conflict, InUse, InvalidInput, NotFound


class SecurityGroupNotFound(NotFound):
    message = "Security group {id} does not exist"


class SecurityGroupRuleNotFound(NotFound):
    message = "Security group rule {id} does not exist"


class SecurityGroupInUse(InUse):
    message = "Security Group {id} {reason}."

    def __init__(self, **kwargs):
        kwargs.setdefault("reason", "in use")
        super().__init__(**kwargs)


class SecurityGroupCannotRemoveDefault(InUse):
    message = "Insufficient rights for removing default security group."


class SecurityGroupCannotUpdateDefault(InUse):
    message = "Updating default security group not allowed."


class SecurityGroupDefaultAlreadyExists(InUse):
    message = "Default security group already exists."


class SecurityGroupConflict(Conflict):
    message = "Error {reason} while attempting the operation."


class SecurityGroupRuleExists(InUse):
    message = "Security group rule already exists. Rule id is {rule_id}."


class SecurityGroupRuleInvalidProtocol(InvalidInput):
    message = ("Security group rule protocol {protocol} not supported. Only protocol values "
               "{values} and integer representations [0 to 255] are supported.")


class SecurityGroupRemoteGroupAndRemoteIpPrefix(InvalidInput):
    message = "Only remote_ip_prefix or remote_group_id may be provided."


class SecurityGroupProtocolRequiredWithPorts(InvalidInput):
    message = "Must also specify protocol if port range is given."


class SecurityGroupInvalidPortRange(InvalidInput):
    message = "For TCP/UDP protocols, port_range_min must be <= port_range_max"


class SecurityGroupInvalidPortValue(InvalidInput):
    message = "Invalid value for port {port}"


class SecurityGroupInvalidIcmpValue(InvalidInput):
    message = "Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255."


class SecurityGroupMissingIcmpType(InvalidInput):
    message = ("ICMP code (port-range-max) {value} is provided but ICMP type "
               "(port-range-min) is missing.")


class SecurityGroupInvalidProtocolForPort(InvalidInput):
    message = ("Invalid protocol {protocol} for port range, only supported for TCP, UDP, "
               "UDPLITE, SCTP and DCCP.")


class SecurityGroupEthertypeConflictWithProtocol(InvalidInput):
    message = "Invalid ethertype {ethertype} for protocol {protocol}."


class SecurityGroupRuleParameterConflict(InvalidInput):
    message = "Conflicting value ethertype {ethertype} for CIDR {cidr}"


class InvalidCIDR(BadRequest):
    message = "Invalid CIDR {input} given as IP prefix."


class PortSecurityPortHasSecurityGroup(InUse):
    message = ("Port has security group associated. Cannot disable port security or IP "
               "address until security group is removed")


class DuplicateAddressPairInRequest(InvalidInput):
    message = ("Request contains duplicate address pair: mac_address {mac_address} "
               "ip_address {ip_address}.")


class AllowedAddressPairExhausted(BadRequest):
    message = "The number of allowed address pair exceeds the maximum {quota}."
