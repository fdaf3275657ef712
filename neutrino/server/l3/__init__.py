"""Routers and floating IPs (Neutron's L3 service plugin) and the L3 agent's RPC endpoint."""
from neutrino.server.l3.plugin import L3Plugin
from neutrino.server.l3.rpc import L3RpcEndpoint

__all__ = ["L3Plugin", "L3RpcEndpoint"]
