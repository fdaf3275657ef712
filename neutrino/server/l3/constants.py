"""Device owners, agent type, topics and limits of the L3 service (Neutron's values)."""
ROUTER_INTERFACE = "network:router_interface"
ROUTER_GATEWAY = "network:router_gateway"
FLOATINGIP = "network:floatingip"
ROUTER_OWNERS = (ROUTER_INTERFACE, ROUTER_GATEWAY)

L3_AGENT_TYPE = "L3 agent"
L3_PLUGIN_TOPIC = "q-l3-plugin"
L3_AGENT_TOPIC = "l3_agent"

MAX_ROUTES = 30
"""Neutron's ``max_routes``: extra routes per router."""

FIP_STATUSES = ("ACTIVE", "DOWN", "ERROR")
