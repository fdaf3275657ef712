"""Identity data in Neutrino's database: accounts, role assignments, tokens.

A token is a random string handed to the client once; the database keeps its
SHA-256 digest. Validation re-reads the user, project and role assignments,
so disabling or deleting any of them, or removing the last role, ends every
token at once; revoked and expired tokens fail the same way (``Unauthorized``
without a reason). Roles imply others as in Keystone: admin > member > reader.
"""
import datetime
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from neutrino.db.engine import Database
from neutrino.db.models import Project, Role, RoleAssignment, Token, User, utcnow
from neutrino.db.models.identity import DEFAULT_DOMAIN_ID
from neutrino.identity import errors
from neutrino.identity.passwords import hash_password, verify_password
from neutrino.server.context import Context

DEFAULT_DOMAIN = {"id": DEFAULT_DOMAIN_ID, "name": "Default"}
STANDARD_ROLES = ("admin", "member", "reader")
IMPLIES = {"admin": ("member",), "member": ("reader",)}
DEFAULT_TOKEN_TTL = 3600
CACHE_SECONDS = 5.0
CACHE_MAX = 10000


def new_id() -> str:
    return uuid.uuid4().hex


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def effective_roles(names: set[str]) -> set[str]:
    out, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in out:
            out.add(name)
            todo.extend(IMPLIES.get(name, ()))
    return out


def domain_of(domain_id: str) -> dict:
    if domain_id != DEFAULT_DOMAIN_ID:
        raise errors.NotFound("domain", domain_id)
    return dict(DEFAULT_DOMAIN)


def project_dict(p: Project) -> dict:
    return {"id": p.id, "name": p.name, "domain_id": p.domain_id, "description": p.description,
            "enabled": p.enabled, "is_domain": False, "parent_id": p.domain_id, "tags": [],
            "options": {}}


def user_dict(u: User) -> dict:
    d = {"id": u.id, "name": u.name, "domain_id": u.domain_id, "enabled": u.enabled,
         "password_expires_at": None, "options": {}, "description": u.description}
    if u.default_project_id:
        d["default_project_id"] = u.default_project_id
    if u.email:
        d["email"] = u.email
    return d


def role_dict(r: Role) -> dict:
    return {"id": r.id, "name": r.name, "domain_id": None, "description": None, "options": {}}


@dataclass(frozen=True)
class TokenInfo:
    """What a token stands for, as validated now."""
    user: dict
    project: dict | None
    roles: list[dict]
    methods: list[str]
    issued_at: datetime.datetime
    expires_at: datetime.datetime

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r["name"] for r in self.roles)


class IdentityStore:
    def __init__(self, db: Database, token_ttl: int = DEFAULT_TOKEN_TTL):
        self.db = db
        self.token_ttl = token_ttl
        self._cache: dict[str, tuple[float, Context, datetime.datetime]] = {}
        self._cache_lock = threading.Lock()

    # -- helpers --------------------------------------------------------------

    def _write(self, work):
        try:
            with self.db.writer() as session:
                result = work(session)
        except IntegrityError:
            raise errors.Conflict("Conflict occurred attempting to store the resource: "
                                  "a duplicate entry already exists.") from None
        self.forget_cached()
        return result

    def forget_cached(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    @staticmethod
    def _one(session, model, ident: str, kind: str):
        obj = session.get(model, ident)
        if obj is None:
            raise errors.NotFound(kind, ident)
        return obj

    # -- roles ----------------------------------------------------------------

    def ensure_roles(self) -> dict[str, str]:
        """Create the standard roles that are missing; name -> id."""
        def work(session):
            have = {r.name: r.id for r in session.scalars(select(Role))}
            for name in STANDARD_ROLES:
                if name not in have:
                    role = Role(id=new_id(), name=name)
                    session.add(role)
                    have[name] = role.id
            return have
        return self._write(work)

    def list_roles(self, name: str | None = None) -> list[dict]:
        query = select(Role).order_by(Role.name)
        if name is not None:
            query = query.where(Role.name == name)
        with self.db.reader() as session:
            return [role_dict(r) for r in session.scalars(query)]

    def get_role(self, role_id: str) -> dict:
        with self.db.reader() as session:
            return role_dict(self._one(session, Role, role_id, "role"))

    def create_role(self, name: str) -> dict:
        def work(session):
            role = Role(id=new_id(), name=name)
            session.add(role)
            session.flush()
            return role_dict(role)
        return self._write(work)

    def delete_role(self, role_id: str) -> None:
        self._write(lambda s: s.delete(self._one(s, Role, role_id, "role")))

    # -- projects -------------------------------------------------------------

    def create_project(self, name: str, domain_id: str = DEFAULT_DOMAIN_ID,
                       description: str = "", enabled: bool = True,
                       project_id: str | None = None) -> dict:
        domain_of(domain_id)

        def work(session):
            project = Project(id=project_id or new_id(), name=name, domain_id=domain_id,
                              description=description or "", enabled=enabled)
            session.add(project)
            session.flush()
            return project_dict(project)
        return self._write(work)

    def get_project(self, project_id: str) -> dict:
        with self.db.reader() as session:
            return project_dict(self._one(session, Project, project_id, "project"))

    def list_projects(self, name: str | None = None, domain_id: str | None = None,
                      enabled: bool | None = None, ids: set[str] | None = None) -> list[dict]:
        query = select(Project).order_by(Project.name)
        if name is not None:
            query = query.where(Project.name == name)
        if domain_id is not None:
            query = query.where(Project.domain_id == domain_id)
        if enabled is not None:
            query = query.where(Project.enabled.is_(enabled))
        if ids is not None:
            query = query.where(Project.id.in_(ids))
        with self.db.reader() as session:
            return [project_dict(p) for p in session.scalars(query)]

    def update_project(self, project_id: str, changes: dict) -> dict:
        def work(session):
            project = self._one(session, Project, project_id, "project")
            for key in ("name", "description", "enabled"):
                if key in changes:
                    setattr(project, key, changes[key])
            session.flush()
            return project_dict(project)
        return self._write(work)

    def delete_project(self, project_id: str) -> None:
        def work(session):
            project = self._one(session, Project, project_id, "project")
            session.execute(delete(RoleAssignment).where(RoleAssignment.project_id == project.id))
            session.execute(delete(Token).where(Token.project_id == project.id))
            session.delete(project)
        self._write(work)

    # -- users ----------------------------------------------------------------

    def create_user(self, name: str, password: str | None = None,
                    domain_id: str = DEFAULT_DOMAIN_ID, default_project_id: str | None = None,
                    enabled: bool = True, email: str | None = None,
                    description: str = "") -> dict:
        domain_of(domain_id)
        hashed = hash_password(password) if password else None

        def work(session):
            user = User(id=new_id(), name=name, domain_id=domain_id, password_hash=hashed,
                        enabled=enabled, default_project_id=default_project_id, email=email,
                        description=description or "")
            session.add(user)
            session.flush()
            return user_dict(user)
        return self._write(work)

    def get_user(self, user_id: str) -> dict:
        with self.db.reader() as session:
            return user_dict(self._one(session, User, user_id, "user"))

    def list_users(self, name: str | None = None, domain_id: str | None = None,
                   enabled: bool | None = None) -> list[dict]:
        query = select(User).order_by(User.name)
        if name is not None:
            query = query.where(User.name == name)
        if domain_id is not None:
            query = query.where(User.domain_id == domain_id)
        if enabled is not None:
            query = query.where(User.enabled.is_(enabled))
        with self.db.reader() as session:
            return [user_dict(u) for u in session.scalars(query)]

    def update_user(self, user_id: str, changes: dict) -> dict:
        hashed = hash_password(changes["password"]) if changes.get("password") else None

        def work(session):
            user = self._one(session, User, user_id, "user")
            for key in ("name", "enabled", "default_project_id", "email", "description"):
                if key in changes:
                    setattr(user, key, changes[key])
            if hashed:
                user.password_hash = hashed
                session.execute(delete(Token).where(Token.user_id == user.id))
            session.flush()
            return user_dict(user)
        return self._write(work)

    def delete_user(self, user_id: str) -> None:
        def work(session):
            user = self._one(session, User, user_id, "user")
            session.execute(delete(RoleAssignment).where(RoleAssignment.user_id == user.id))
            session.execute(delete(Token).where(Token.user_id == user.id))
            session.delete(user)
        self._write(work)

    # -- role assignments -----------------------------------------------------

    def grant(self, project_id: str, user_id: str, role_id: str) -> None:
        def work(session):
            self._one(session, Project, project_id, "project")
            self._one(session, User, user_id, "user")
            self._one(session, Role, role_id, "role")
            if session.get(RoleAssignment, (user_id, project_id, role_id)) is None:
                session.add(RoleAssignment(user_id=user_id, project_id=project_id,
                                           role_id=role_id))
        self._write(work)

    def revoke_grant(self, project_id: str, user_id: str, role_id: str) -> None:
        def work(session):
            grant = session.get(RoleAssignment, (user_id, project_id, role_id))
            if grant is None:
                raise errors.NotFound("role assignment",
                                      f"role {role_id} of user {user_id} on project {project_id}")
            session.delete(grant)
        self._write(work)

    def has_grant(self, project_id: str, user_id: str, role_id: str) -> bool:
        with self.db.reader() as session:
            return session.get(RoleAssignment, (user_id, project_id, role_id)) is not None

    def assignments(self, user_id: str | None = None, project_id: str | None = None,
                    role_id: str | None = None) -> list[dict]:
        """Direct assignments joined with names: {"user", "project", "role"} dicts."""
        query = (select(RoleAssignment, User, Project, Role)
                 .join(User, User.id == RoleAssignment.user_id)
                 .join(Project, Project.id == RoleAssignment.project_id)
                 .join(Role, Role.id == RoleAssignment.role_id)
                 .order_by(User.name, Project.name, Role.name))
        if user_id is not None:
            query = query.where(RoleAssignment.user_id == user_id)
        if project_id is not None:
            query = query.where(RoleAssignment.project_id == project_id)
        if role_id is not None:
            query = query.where(RoleAssignment.role_id == role_id)
        with self.db.reader() as session:
            return [{"user": user_dict(u), "project": project_dict(p), "role": role_dict(r)}
                    for _a, u, p, r in session.execute(query)]

    def _roles_on(self, session, user_id: str, project_id: str) -> list[dict]:
        assigned = session.scalars(
            select(Role).join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id,
                   RoleAssignment.project_id == project_id)).all()
        if not assigned:
            return []
        names = effective_roles({r.name for r in assigned})
        roles = session.scalars(select(Role).where(Role.name.in_(names))).all()
        return [{"id": r.id, "name": r.name} for r in sorted(roles, key=lambda r: r.name)]

    # -- authentication and tokens -------------------------------------------

    def _find_user(self, session, ref: dict) -> User | None:
        if ref.get("id"):
            return session.get(User, ref["id"])
        name = ref.get("name")
        domain = ref.get("domain") or {}
        domain_id = domain.get("id")
        if domain_id is None and domain.get("name") is not None:
            domain_id = DEFAULT_DOMAIN_ID if domain["name"] == DEFAULT_DOMAIN["name"] else None
            if domain_id is None:
                return None
        if not name or domain_id is None:
            raise errors.ValidationError("A user name needs a domain (id or name).")
        return session.scalars(select(User).where(User.name == name,
                                                  User.domain_id == domain_id)).first()

    def _find_project(self, session, ref: dict) -> Project | None:
        if ref.get("id"):
            return session.get(Project, ref["id"])
        name = ref.get("name")
        domain = ref.get("domain") or {}
        domain_id = domain.get("id")
        if domain_id is None and domain.get("name") is not None:
            domain_id = DEFAULT_DOMAIN_ID if domain["name"] == DEFAULT_DOMAIN["name"] else None
            if domain_id is None:
                return None
        if not name or domain_id is None:
            raise errors.ValidationError("A project name needs a domain (id or name).")
        return session.scalars(select(Project).where(Project.name == name,
                                                     Project.domain_id == domain_id)).first()

    def check_password(self, user_ref: dict, password: str) -> str:
        """The id of the user these credentials belong to, or Unauthorized."""
        with self.db.reader() as session:
            user = self._find_user(session, user_ref)
            stored = user.password_hash if user is not None else None
            enabled = user is not None and user.enabled
            user_id = user.id if user is not None else None
        if not verify_password(password, stored) or not enabled:
            raise errors.Unauthorized()
        return user_id

    def resolve_project(self, ref: dict) -> str:
        with self.db.reader() as session:
            project = self._find_project(session, ref)
            if project is None or not project.enabled:
                raise errors.Unauthorized()
            return project.id

    def issue(self, user_id: str, project_id: str | None, methods: list[str],
              expires_at: datetime.datetime | None = None) -> tuple[str, TokenInfo]:
        """A new token for the user, scoped to the project (None: unscoped)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        limit = now + datetime.timedelta(seconds=self.token_ttl)
        expires = min(expires_at, limit) if expires_at else limit

        def work(session):
            row = Token(digest=digest(token), user_id=user_id, project_id=project_id,
                        methods=",".join(methods), issued_at=now, expires_at=expires,
                        revoked=False)
            session.add(row)
            session.flush()
            return self._info(session, row)
        with self.db.writer() as session:
            info = work(session)
        if info is None:
            raise errors.Unauthorized()
        return token, info

    def _info(self, session, row: Token) -> TokenInfo | None:
        if row.revoked or row.expires_at <= utcnow():
            return None
        user = session.get(User, row.user_id)
        if user is None or not user.enabled:
            return None
        project, roles = None, []
        if row.project_id is not None:
            p = session.get(Project, row.project_id)
            if p is None or not p.enabled:
                return None
            roles = self._roles_on(session, user.id, p.id)
            if not roles:
                return None
            project = {"id": p.id, "name": p.name, "domain": domain_of(p.domain_id)}
        return TokenInfo(
            user={"id": user.id, "name": user.name, "domain": domain_of(user.domain_id),
                  "password_expires_at": None},
            project=project, roles=roles, methods=row.methods.split(","),
            issued_at=row.issued_at, expires_at=row.expires_at)

    def validate(self, token: str | None) -> TokenInfo:
        if not token:
            raise errors.Unauthorized()
        with self.db.reader() as session:
            row = session.get(Token, digest(token))
            info = self._info(session, row) if row is not None else None
        if info is None:
            raise errors.Unauthorized()
        return info

    def revoke(self, token: str) -> None:
        def work(session):
            row = session.get(Token, digest(token))
            if row is None or row.revoked:
                raise errors.NotFound("token", "(the given token)")
            row.revoked = True
        self._write(work)

    def purge_expired(self) -> int:
        """Remove tokens that expired (revocation rows included) a while ago."""
        cutoff = utcnow() - datetime.timedelta(seconds=self.token_ttl)
        with self.db.writer() as session:
            return session.execute(delete(Token).where(Token.expires_at < cutoff)).rowcount

    def context_for(self, token: str | None) -> Context | None:
        """The request context a project-scoped token gives the Networking API (None: 401)."""
        if not token:
            return None
        key = digest(token)
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now and hit[2] > utcnow():
            return hit[1]
        try:
            info = self.validate(token)
        except errors.Unauthorized:
            return None
        if info.project is None:
            return None
        names = info.role_names
        ctx = Context(project_id=info.project["id"], roles=names, user_id=info.user["id"],
                      is_admin="admin" in names)
        with self._cache_lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (now + CACHE_SECONDS, ctx, info.expires_at)
        return ctx
