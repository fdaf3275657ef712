"""The accounts a fresh cloud starts with, as DevStack makes them.

Project and user ``admin`` (role admin), project and user ``demo`` (role member).
Running it again resets the passwords and keeps ids, so a lab can call it on every start.
"""
from neutrino.identity.store import IdentityStore


def ensure_account(store: IdentityStore, name: str, password: str, role: str,
                   project_name: str | None = None) -> dict:
    """Project ``project_name`` (default: ``name``) and user ``name`` holding ``role`` on it."""
    roles = store.ensure_roles()
    project_name = project_name or name
    projects = store.list_projects(name=project_name)
    project = projects[0] if projects else store.create_project(project_name)
    users = store.list_users(name=name)
    if users:
        user = store.update_user(users[0]["id"], {"password": password, "enabled": True,
                                                  "default_project_id": project["id"]})
    else:
        user = store.create_user(name, password, default_project_id=project["id"])
    store.grant(project["id"], user["id"], roles[role])
    return {"project_id": project["id"], "user_id": user["id"]}


def bootstrap(store: IdentityStore, admin_password: str,
              demo_password: str | None = None) -> dict:
    """Returns {"admin": {"project_id", "user_id"}, "demo": {...}} (demo when asked)."""
    out = {"admin": ensure_account(store, "admin", admin_password, "admin")}
    if demo_password:
        out["demo"] = ensure_account(store, "demo", demo_password, "member")
    return out
