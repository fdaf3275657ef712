"""Where a request's context comes from.

``NoAuth`` is Neutron's noauth mode: ``X-Project-Id`` and ``X-Roles`` headers
set the context and any ``X-Auth-Token`` is accepted; a request without them
is an admin of the default project (local use). ``KeystoneAuth`` validates
``X-Auth-Token`` (a project-scoped Keystone token); the API only calls
``source(request)``.
"""
from typing import Callable

from starlette.requests import Request

from neutrino.server.context import DEFAULT_PROJECT, Context
from neutrino.server.exceptions import NeutronException


class NoAuth:
    def __init__(self, default_project: str = DEFAULT_PROJECT):
        self.default_project = default_project

    def __call__(self, request: Request) -> Context:
        headers = request.headers
        project = headers.get("x-project-id") or headers.get("x-tenant-id")
        roles_header = headers.get("x-roles")
        if not project and roles_header is None:
            return Context.admin(self.default_project)
        roles = tuple(r.strip().lower() for r in (roles_header or "member").split(",")
                      if r.strip())
        return Context(project_id=project or self.default_project, roles=roles,
                       user_id=headers.get("x-user-id"), is_admin="admin" in roles,
                       request_id=headers.get("x-openstack-request-id"))


class AuthenticationRequired(NeutronException):
    """401 with one fixed message: a missing, bad, expired and revoked token look the same."""
    code = 401
    message = "Authentication required"

    @property
    def type(self) -> str:
        return "HTTPUnauthorized"


class KeystoneAuth:
    """``validate(token) -> Context | None`` is the identity service's check (None: 401)."""

    def __init__(self, validate: Callable[[str | None], Context | None]):
        self.validate = validate

    def __call__(self, request: Request) -> Context:
        ctx = self.validate(request.headers.get("x-auth-token"))
        if ctx is None:
            raise AuthenticationRequired()
        request_id = request.headers.get("x-openstack-request-id")
        if request_id:
            ctx = Context(project_id=ctx.project_id, roles=ctx.roles, user_id=ctx.user_id,
                          is_admin=ctx.is_admin, request_id=request_id)
        return ctx
