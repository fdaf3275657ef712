"""Security-group rules as Neutron checks and normalises them.

The converters (``protocol``, ``port``, ``ip_prefix``, ``ethertype``) run on
the request body, as Neutron's attribute converters do; ``validate`` runs in
the plugin on the whole rule (port ranges against the protocol, ethertype
against the protocol and the prefix); ``duplicate_key`` is what two rules
must share to be the same rule (SecurityGroupRuleExists).
"""
import ipaddress

from neutrino.server import securitygroup_errors as sg_exc

IPV4, IPV6 = "IPv4", "IPv6"
DIRECTIONS = ("ingress", "egress")
IP_PROTOCOL_MAP = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
    "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
    "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89,
    "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
"""neutron-lib's IP_PROTOCOL_MAP: the names a rule may use."""
ANY = "any"
PORT_PROTOCOLS = {"tcp": 6, "udp": 17, "udplite": 136, "sctp": 132, "dccp": 33}
ICMP_NUMBERS = (1, 58)
IPV6_ONLY = {"ipv6-encap", "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts",
             "ipv6-route", "41", "44", "58", "59", "60", "43"}
IPV6_ICMP_LEGACY = ("icmp", "icmpv6")
MAX_PORT = 65535
ANY_PREFIXES = ("0.0.0.0/0", "::/0")


def protocol(value):
    """A name (lower-cased) or a number 0..255 kept as a string; None/"any" = any."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad_protocol(value)
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if 0 <= number <= 255:
            return str(number)
        raise _bad_protocol(value)
    if isinstance(value, str):
        name = value.lower()
        if name == ANY:
            return None
        if name in IP_PROTOCOL_MAP:
            return name
    raise _bad_protocol(value)


def _bad_protocol(value) -> sg_exc.SecurityGroupRuleInvalidProtocol:
    return sg_exc.SecurityGroupRuleInvalidProtocol(
        protocol=value, values=[None, ANY] + sorted(IP_PROTOCOL_MAP))


def port(value):
    """A port (or ICMP type/code) value: None or an integer 0..65535."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise sg_exc.SecurityGroupInvalidPortValue(port=value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise sg_exc.SecurityGroupInvalidPortValue(port=value) from None
    if isinstance(value, float) and value != number or not 0 <= number <= MAX_PORT:
        raise sg_exc.SecurityGroupInvalidPortValue(port=value)
    return number


def ip_prefix(value):
    """An address or CIDR with its prefix length; host bits are kept, as Neutron does."""
    if value is None or value == "":
        return None
    try:
        return str(ipaddress.ip_interface(value))
    except (TypeError, ValueError):
        raise sg_exc.InvalidCIDR(input=value) from None


def normalized_cidr(prefix: str | None) -> str | None:
    return str(ipaddress.ip_interface(prefix).network) if prefix else None


def ethertype(value):
    if isinstance(value, str) and value.lower() in ("ipv4", "ipv6"):
        return IPV4 if value.lower() == "ipv4" else IPV6
    raise ValueError(f"'{value}' is not in {[IPV4, IPV6]}")


def direction(value):
    if value not in DIRECTIONS:
        raise ValueError(f"'{value}' is not in {list(DIRECTIONS)}")
    return value


def protocol_number(proto: str | None) -> int | None:
    if proto is None:
        return None
    return int(proto) if proto.isdigit() else IP_PROTOCOL_MAP[proto]


def validate(rule: dict) -> dict:
    """Check a rule (keys as the API names them) and return it normalised."""
    rule = dict(rule)
    proto, ether = rule.get("protocol"), rule.get("ethertype", IPV4)
    if ether == IPV6 and proto in IPV6_ICMP_LEGACY:
        proto = rule["protocol"] = "ipv6-icmp"
    if ether == IPV4 and proto in IPV6_ONLY:
        raise sg_exc.SecurityGroupEthertypeConflictWithProtocol(ethertype=ether, protocol=proto)
    if rule.get("remote_ip_prefix") and rule.get("remote_group_id"):
        raise sg_exc.SecurityGroupRemoteGroupAndRemoteIpPrefix()
    prefix = rule.get("remote_ip_prefix")
    if prefix and f"IPv{ipaddress.ip_interface(prefix).version}" != ether:
        raise sg_exc.SecurityGroupRuleParameterConflict(ethertype=ether, cidr=prefix)
    _validate_port_range(rule)
    return rule


def _validate_port_range(rule: dict) -> None:
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if low is None and high is None:
        return
    proto = rule.get("protocol")
    if proto is None:
        raise sg_exc.SecurityGroupProtocolRequiredWithPorts()
    number = protocol_number(proto)
    if number in PORT_PROTOCOLS.values():
        if low == 0 or high == 0:
            raise sg_exc.SecurityGroupInvalidPortValue(port=0)
        if low is None or high is None or low > high:
            raise sg_exc.SecurityGroupInvalidPortRange()
        if (low, high) == (1, MAX_PORT):
            rule["port_range_min"] = rule["port_range_max"] = None
    elif number in ICMP_NUMBERS:
        for attr, field in (("port_range_min", "type"), ("port_range_max", "code")):
            value = rule.get(attr)
            if value is not None and not 0 <= value <= 255:
                raise sg_exc.SecurityGroupInvalidIcmpValue(field=field, attr=attr, value=value)
        if low is None:
            raise sg_exc.SecurityGroupMissingIcmpType(value=high)
    else:
        raise sg_exc.SecurityGroupInvalidProtocolForPort(protocol=proto)


def duplicate_key(rule: dict) -> tuple:
    """Two rules with the same key are the same rule: 6 is tcp, 0.0.0.0/0 is no prefix."""
    prefix = rule.get("remote_ip_prefix")
    cidr = None if prefix is None else normalized_cidr(prefix)
    return (rule["direction"], rule["ethertype"], protocol_number(rule.get("protocol")),
            rule.get("port_range_min"), rule.get("port_range_max"),
            None if cidr in ANY_PREFIXES else cidr, rule.get("remote_group_id"))


def template_rules(group_id: str, default: bool) -> list[dict]:
    """The rules a new group starts with (Neutron's default-rule templates).

    Every group may send anywhere; the ``default`` group also lets its own
    members in.
    """
    rules = [{"direction": "egress", "ethertype": e} for e in (IPV4, IPV6)]
    if default:
        rules += [{"direction": "ingress", "ethertype": e, "remote_group_id": group_id}
                  for e in (IPV4, IPV6)]
    return rules
