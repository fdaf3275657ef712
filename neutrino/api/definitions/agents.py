"""The agents collection (`openstack network agent list`)."""
from neutrino.api import validators as v
from neutrino.api.attributes import Attr, ResourceSpec, attrs
from neutrino.api.definitions.standard import BOOL_FILTER

AGENT = ResourceSpec(
    "agent", "agents",
    attrs(Attr("id"), Attr("agent_type"), Attr("binary"), Attr("host"), Attr("topic"),
          Attr("alive", filter=BOOL_FILTER),
          Attr("admin_state_up", v.boolean, allow_put=True, filter=BOOL_FILTER),
          Attr("description", v.nullable(v.string(255)), allow_put=True),
          Attr("heartbeat_timestamp"), Attr("started_at"), Attr("created_at"),
          Attr("configurations", filter=None, sortable=False),
          Attr("availability_zone"), Attr("resources_synced", filter=None)),
    taggable=False, extensions=("agent",))
