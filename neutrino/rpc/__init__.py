"""Messaging between the server and the agents (contract: docs/design.md "Messaging").

Only the standard library is imported here; kombu is loaded when a broker URL
other than ``memory://`` is used.
"""
from neutrino.rpc.client import RpcClient
from neutrino.rpc.errors import RemoteError, RpcError, RpcTimeout, TransportError
from neutrino.rpc.notify import NotificationListener, Notifier
from neutrino.rpc.server import RpcServer

__all__ = ["RpcClient", "RpcServer", "Notifier", "NotificationListener",
           "RemoteError", "RpcError", "RpcTimeout", "TransportError"]
