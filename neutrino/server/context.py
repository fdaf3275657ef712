"""Who is calling: the request context every plugin call runs with.

The API builds it from the request through a context source (noauth headers
today, Keystone tokens later); the plugin only reads it.
"""
from dataclasses import dataclass

DEFAULT_PROJECT = "admin"


@dataclass(frozen=True)
class Context:
    project_id: str
    roles: tuple[str, ...] = ()
    user_id: str | None = None
    is_admin: bool = False
    request_id: str | None = None

    @classmethod
    def admin(cls, project_id: str = DEFAULT_PROJECT) -> "Context":
        return cls(project_id=project_id, roles=("admin",), is_admin=True)

    @classmethod
    def member(cls, project_id: str) -> "Context":
        return cls(project_id=project_id, roles=("member",))
