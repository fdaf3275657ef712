"""Attributes most resources share (Neutron's standard attributes)."""
from neutrino.api import validators as v
from neutrino.api.attributes import Attr
from neutrino.api.validators import boolean, integer

BOOL_FILTER = boolean


def int_filter(value):
    return integer()(value)


def standard_attributes() -> list[Attr]:
    return [
        Attr("id", v.uuid_str, allow_post=True),
        Attr("name", v.string(255), allow_post=True, allow_put=True),
        Attr("description", v.string(255), allow_post=True, allow_put=True),
        Attr("project_id", v.string(255), allow_post=True),
        Attr("tenant_id", v.string(255), allow_post=True),
        Attr("tags", filter=None, sortable=False),
        Attr("created_at"),
        Attr("updated_at"),
        Attr("revision_number", filter=int_filter),
    ]
