"""Attribute validators: each takes the raw JSON value and returns it converted,
or raises ``ValueError`` with the reason Neutron would give."""
import ipaddress
import re
import uuid
from typing import Any, Callable

Validator = Callable[[Any], Any]

MAC_RE = re.compile(r"^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$")
TRUE = {"true", "1", "yes", "on"}
FALSE = {"false", "0", "no", "off"}


def string(max_len: int = 255) -> Validator:
    def check(value):
        if not isinstance(value, str):
            raise ValueError(f"'{value}' is not a valid string")
        if len(value) > max_len:
            raise ValueError(f"'{value}' exceeds maximum length of {max_len}")
        return value
    return check


def boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
    raise ValueError(f"'{value}' cannot be converted to boolean")


def integer(low: int | None = None, high: int | None = None) -> Validator:
    def check(value):
        if isinstance(value, bool):
            raise ValueError(f"'{value}' is not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"'{value}' is not an integer") from None
        if isinstance(value, float) and value != number:
            raise ValueError(f"'{value}' is not an integer")
        if low is not None and number < low:
            raise ValueError(f"'{number}' is too small - must be at least '{low}'")
        if high is not None and number > high:
            raise ValueError(f"'{number}' is too large - must be no larger than '{high}'")
        return number
    return check


def nullable(inner: Validator) -> Validator:
    def check(value):
        return None if value is None else inner(value)
    return check


def uuid_str(value):
    if not isinstance(value, str):
        raise ValueError(f"'{value}' is not a valid UUID")
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid UUID") from None
    return value


def ip_address(value):
    if not isinstance(value, str):
        raise ValueError(f"'{value}' is not a valid IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IP address") from None


def subnet_cidr(value):
    """A network address with its prefix; host bits set is refused as Neutron does."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"'{value}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IP subnet") from None
    if str(net) != value and str(ipaddress.ip_interface(value)) != str(net):
        raise ValueError(f"'{value}' isn't a recognized IP subnet cidr, '{net}' is recommended")
    return str(net)


def ip_or_cidr(value):
    if isinstance(value, str) and "/" in value:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            raise ValueError(f"'{value}' is not a valid IP subnet") from None
    return ip_address(value)


def mac_address(value):
    if not isinstance(value, str) or not MAC_RE.match(value):
        raise ValueError(f"'{value}' is not a valid MAC address")
    mac = value.lower().replace("-", ":")
    if mac == "00:00:00:00:00:00" or int(mac.split(":")[0], 16) & 1:
        raise ValueError(f"'{value}' is not a valid MAC address")
    return mac


def one_of(*choices) -> Validator:
    def check(value):
        if value not in choices:
            raise ValueError(f"'{value}' is not in {list(choices)}")
        return value
    return check


def dict_value(value):
    if not isinstance(value, dict):
        raise ValueError(f"'{value}' is not a dictionary")
    return value


def list_of(inner: Validator, unique: bool = False) -> Validator:
    def check(value):
        if not isinstance(value, list):
            raise ValueError(f"'{value}' is not a list")
        items = [inner(v) for v in value]
        if unique and len(set(map(str, items))) != len(items):
            raise ValueError(f"Duplicate items in the list: '{value}'")
        return items
    return check


def record(required: dict[str, Validator], optional: dict[str, Validator] | None = None,
           defaults: dict | None = None) -> Validator:
    """A dict with known keys, e.g. an allocation pool {start, end}."""
    optional = optional or {}

    def check(value):
        if not isinstance(value, dict):
            raise ValueError(f"'{value}' is not a dictionary")
        unknown = set(value) - set(required) - set(optional)
        if unknown:
            raise ValueError(f"Unrecognized keys {sorted(unknown)} in '{value}'")
        missing = set(required) - set(value)
        if missing:
            raise ValueError(f"Missing keys {sorted(missing)} in '{value}'")
        out = dict(defaults or {})
        for key, val in value.items():
            out[key] = (required.get(key) or optional[key])(val)
        return out
    return check


allocation_pool = record({"start": ip_address, "end": ip_address})
host_route = record({"destination": subnet_cidr, "nexthop": ip_address})
fixed_ip = record({}, {"subnet_id": uuid_str, "ip_address": ip_address})
address_pair = record({"ip_address": ip_or_cidr}, {"mac_address": mac_address})
dhcp_opt = record({"opt_name": string(64), "opt_value": nullable(string(255))},
                  {"ip_version": one_of(4, 6)}, defaults={"ip_version": 4})
