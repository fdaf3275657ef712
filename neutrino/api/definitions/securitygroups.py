"""security-groups and security-group-rules, as Neutron's attribute maps say.

As in Neutron, a rule's group ids are not checked for UUID syntax: an id that
names no group is a 404 (SecurityGroupNotFound), whatever it looks like.
"""
from neutrino.api import extensions
from neutrino.api import validators as v
from neutrino.api.attributes import Attr, ResourceSpec, attrs
from neutrino.api.definitions.standard import BOOL_FILTER, int_filter, standard_attributes
from neutrino.server import securitygroup_errors as sg_exc
from neutrino.server import securitygroup_rules as rules

extensions.register("security-group", "security-group", "The security groups extension.")
extensions.register("stateful-security-group", "Stateful security group",
                    "Indicates if the security group is stateful or not")


def name_not_default(value):
    """Only the server makes groups called ``default`` (Neutron: 409 on POST and PUT)."""
    value = v.string(255)(value)
    if value.lower() == "default":
        raise sg_exc.SecurityGroupDefaultAlreadyExists()
    return value


def _group_attributes() -> list[Attr]:
    return [a if a.name != "name" else Attr("name", name_not_default, allow_post=True,
                                            allow_put=True)
            for a in standard_attributes()]


SECURITY_GROUP = ResourceSpec(
    "security_group", "security_groups",
    attrs(*_group_attributes(),
          Attr("stateful", v.boolean, allow_post=True, allow_put=True, filter=BOOL_FILTER),
          Attr("shared", filter=BOOL_FILTER),
          Attr("security_group_rules", filter=None, sortable=False)),
    path="security-groups", extensions=("security-group", "stateful-security-group"),
    not_found=lambda i: sg_exc.SecurityGroupNotFound(id=i))

SECURITY_GROUP_RULE = ResourceSpec(
    "security_group_rule", "security_group_rules",
    attrs(Attr("id", v.uuid_str, allow_post=True),
          Attr("project_id", v.nullable(v.string(255)), allow_post=True),
          Attr("tenant_id", v.nullable(v.string(255)), allow_post=True),
          Attr("description", v.string(255), allow_post=True, allow_put=True),
          Attr("created_at"), Attr("updated_at"),
          Attr("revision_number", filter=int_filter),
          Attr("security_group_id", v.string(255), allow_post=True, required=True),
          Attr("direction", rules.direction, allow_post=True, required=True),
          Attr("ethertype", rules.ethertype, allow_post=True),
          Attr("protocol", rules.protocol, allow_post=True),
          Attr("port_range_min", rules.port, allow_post=True, filter=int_filter),
          Attr("port_range_max", rules.port, allow_post=True, filter=int_filter),
          Attr("remote_ip_prefix", rules.ip_prefix, allow_post=True),
          Attr("normalized_cidr"),
          Attr("remote_group_id", v.nullable(v.string(255)), allow_post=True),
          Attr("remote_address_group_id"),
          Attr("belongs_to_default_sg", filter=BOOL_FILTER)),
    path="security-group-rules", taggable=False, extensions=("security-group",),
    not_found=lambda i: sg_exc.SecurityGroupRuleNotFound(id=i))
