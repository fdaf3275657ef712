"""Errors raised by the messaging layer."""
from neutrino.errors import NeutrinoError


class RpcError(NeutrinoError):
    """Base class of every messaging failure."""


class TransportError(RpcError):
    """The broker cannot be reached or the transport URL is wrong."""


class RpcTimeout(RpcError):
    """No reply arrived before the call's deadline."""


class RemoteError(RpcError):
    """The remote endpoint raised; ``exc_type`` names the remote exception class."""

    def __init__(self, exc_type: str, message: str):
        self.exc_type = exc_type
        self.message = message
        super().__init__(f"{exc_type}: {message}")
