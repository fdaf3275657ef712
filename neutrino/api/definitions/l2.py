"""networks, subnets, ports: what clients may send, as Neutron's attribute maps say."""
from neutrino.api import validators as v
from neutrino.api.attributes import Attr, ResourceSpec, attrs
from neutrino.api.definitions.standard import BOOL_FILTER, int_filter, standard_attributes

IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
VNIC_TYPES = ("normal", "direct", "macvtap", "baremetal", "direct-physical",
              "virtio-forwarder", "smart-nic", "vdpa", "remote-managed")

def ip_version(value) -> int:
    """Neutron converts to int first: tempest sends ``"ip_version": "4"``."""
    return v.one_of(4, 6)(v.integer()(value))


NETWORK = ResourceSpec(
    "network", "networks",
    attrs(*standard_attributes(),
          Attr("admin_state_up", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("status"),
          Attr("shared", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("router:external", v.boolean, allow_post=True, allow_put=True,
               filter=BOOL_FILTER),
          Attr("port_security_enabled", v.boolean, allow_post=True, allow_put=True,
               filter=BOOL_FILTER),
          Attr("mtu", v.integer(0), allow_post=True, allow_put=True, filter=int_filter),
          Attr("subnets", filter=str, sortable=False),
          Attr("provider:network_type", v.string(32), allow_post=True, allow_put=True),
          Attr("provider:physical_network", v.nullable(v.string(64)), allow_post=True,
               allow_put=True),
          Attr("provider:segmentation_id", v.nullable(v.integer(0)), allow_post=True,
               allow_put=True, filter=int_filter)),
    extensions=("external-net", "provider", "net-mtu", "net-mtu-writable", "port-security"))

SUBNET = ResourceSpec(
    "subnet", "subnets",
    attrs(*standard_attributes(),
          Attr("network_id", v.uuid_str, allow_post=True, required=True),
          Attr("ip_version", ip_version, allow_post=True, filter=int_filter),
          Attr("cidr", v.subnet_cidr, allow_post=True, required=True),
          Attr("gateway_ip", v.nullable(v.ip_address), allow_post=True, allow_put=True),
          Attr("allocation_pools", v.nullable(v.list_of(v.allocation_pool)), allow_post=True,
               allow_put=True, filter=None, sortable=False),
          Attr("enable_dhcp", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("dns_nameservers", v.nullable(v.list_of(v.ip_address)), allow_post=True,
               allow_put=True, sortable=False),
          Attr("host_routes", v.nullable(v.list_of(v.host_route)), allow_post=True,
               allow_put=True, filter=None, sortable=False),
          Attr("ipv6_ra_mode", v.nullable(v.one_of(*IPV6_MODES)), allow_post=True),
          Attr("ipv6_address_mode", v.nullable(v.one_of(*IPV6_MODES)), allow_post=True),
          Attr("subnetpool_id", v.nullable(v.uuid_str)),
          Attr("segment_id"),
          Attr("shared", filter=BOOL_FILTER, sortable=False, visible=False),
          Attr("service_types", v.list_of(v.string(255)), allow_post=True, sortable=False)))

PORT = ResourceSpec(
    "port", "ports",
    attrs(*standard_attributes(),
          Attr("network_id", v.uuid_str, allow_post=True, required=True),
          Attr("mac_address", v.mac_address, allow_post=True, allow_put=True),
          Attr("admin_state_up", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("status"),
          Attr("device_id", v.string(255), allow_post=True, allow_put=True),
          Attr("device_owner", v.string(255), allow_post=True, allow_put=True),
          Attr("fixed_ips", v.list_of(v.fixed_ip), allow_post=True, allow_put=True,
               sortable=False),
          Attr("security_groups", v.nullable(v.list_of(v.uuid_str, unique=True)), allow_post=True,
               allow_put=True, sortable=False),
          Attr("port_security_enabled", v.boolean, allow_post=True, allow_put=True,
               filter=BOOL_FILTER),
          Attr("allowed_address_pairs", v.nullable(v.list_of(v.address_pair)),
               allow_post=True, allow_put=True, filter=None, sortable=False),
          Attr("extra_dhcp_opts", v.nullable(v.list_of(v.dhcp_opt)), allow_post=True,
               allow_put=True, filter=None, sortable=False),
          Attr("binding:host_id", v.nullable(v.string(255)), allow_post=True, allow_put=True),
          Attr("binding:vif_type"),
          Attr("binding:vif_details", filter=None, sortable=False),
          Attr("binding:profile", v.nullable(v.dict_value), allow_post=True, allow_put=True,
               filter=None, sortable=False),
          Attr("binding:vnic_type", v.one_of(*VNIC_TYPES), allow_post=True, allow_put=True)),
    extensions=("binding", "allowed-address-pairs", "extra_dhcp_opt", "port-security"))
