"""Where a request's context comes from.

``NoAuth`` is Neutron's noauth mode: ``X-Project-Id`` and ``X-Roles`` headers
set the context and any ``X-Auth-Token`` is accepted; a request without them
is an admin of the default project (local use). Identity replaces this object
with one that validates tokens; the API only calls ``source(request)``.
"""
from starlette.requests import Request

from neutrino.server.context import DEFAULT_PROJECT, Context


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
