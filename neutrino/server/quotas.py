"""Neutron's quotas: per-project limits, and their enforcement on every create.

Enforcement is one generic hook: ``Quotas`` subscribes to ``precommit_create``
of every resource in ``DEFAULTS``. A service's create publishes
``registry.publish(<resource>, PRECOMMIT_CREATE, context=ctx, tx=tx,
<resource>=obj)`` after flushing ``obj`` (which has ``project_id``); the hook
takes the (project, resource) lock row (not on SQLite, whose single writer the
flush already holds), counts the project's rows of ``type(obj)`` in the same
transaction and raises ``OverQuota`` when the count passes the limit, so the
whole create rolls back. Concurrent creates queue on the lock row (PostgreSQL)
or on the single writer (SQLite), so the count is exact.
"""
import functools

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects import postgresql

from neutrino.db.engine import Database
from neutrino.db.models import (FloatingIP, Network, Port, QuotaLimit, QuotaLock, Router,
                                SecurityGroup, SecurityGroupRule, Subnet)
from neutrino.server import exceptions as exc
from neutrino.server.events import PRECOMMIT_CREATE, Registry

DEFAULTS = {"network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
            "security_group": 10, "security_group_rule": 100}
UNLIMITED = -1
MAX_LIMIT = 2 ** 31 - 1
MODELS = {"network": Network, "subnet": Subnet, "port": Port, "router": Router,
          "floatingip": FloatingIP, "security_group": SecurityGroup,
          "security_group_rule": SecurityGroupRule}
"""Whose rows count as usage (quota details); enforcement counts ``type(obj)``."""


@functools.cache
def _usage(model: type):
    """The count of a project's (bound as ``project``) ``model`` rows, built once per model."""
    return select(func.count()).select_from(model).where(model.project_id == bindparam("project"))


@functools.cache
def _limit_and_usage(model: type):
    """(the project's own limit or None, its count of ``model`` rows), built once per model."""
    return select(
        select(QuotaLimit.limit).where(QuotaLimit.project_id == bindparam("project"),
                                       QuotaLimit.resource == bindparam("resource"))
        .scalar_subquery(),
        _usage(model).scalar_subquery())


class OverQuota(exc.Conflict):
    message = "Quota exceeded for resources: {overs}."


class InvalidQuotaValue(exc.BadRequest):
    message = "Change would make usage greater than the new limit for: {unders}."


class Quotas:
    def __init__(self, db: Database, registry: Registry, defaults: dict | None = None):
        self.db = db
        self.defaults = dict(defaults or DEFAULTS)
        self.models: dict[str, type] = dict(MODELS)
        for resource in self.defaults:
            registry.subscribe(resource, PRECOMMIT_CREATE, self._on_create)

    def register(self, resource: str, model: type) -> None:
        """The model whose rows count as ``resource`` (for usage before its first create)."""
        self.models[resource] = model

    # -- enforcement ----------------------------------------------------------

    def _on_create(self, resource: str, event: str, tx, **kwargs) -> None:
        obj = kwargs.get(resource)
        if obj is None or not getattr(obj, "project_id", None):
            return
        self.models.setdefault(resource, type(obj))
        self.enforce(tx.session, resource, obj.project_id, type(obj))

    def enforce(self, session, resource: str, project_id: str, model: type) -> None:
        """Raise OverQuota when the project holds more ``model`` rows than its limit.

        Call after the new rows are flushed, inside the creating transaction.
        On SQLite that flush already holds the database's one write lock, so
        limit and usage are read in one statement without a lock row.
        """
        if self.db.is_sqlite:
            limit, used = session.execute(_limit_and_usage(model),
                                          {"project": project_id, "resource": resource}).one()
            limit = self.defaults[resource] if limit is None else limit
        else:
            limit = self._limit(session, project_id, resource)
            if limit == UNLIMITED:
                return
            self._lock(session, project_id, resource)
            used = session.scalar(_usage(model), {"project": project_id})
        if limit != UNLIMITED and used > limit:
            raise OverQuota(overs=resource)

    def _lock(self, session, project_id: str, resource: str) -> None:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(postgresql.insert(QuotaLock).values(project_id=project_id,
                                                                resource=resource)
                            .on_conflict_do_nothing())
        elif session.get(QuotaLock, (project_id, resource)) is None:
            session.add(QuotaLock(project_id=project_id, resource=resource))
            session.flush()
        session.execute(select(QuotaLock).where(QuotaLock.project_id == project_id,
                                                QuotaLock.resource == resource)
                        .with_for_update())

    # -- limits ---------------------------------------------------------------

    def _limit(self, session, project_id: str, resource: str) -> int:
        value = session.scalar(select(QuotaLimit.limit).where(
            QuotaLimit.project_id == project_id, QuotaLimit.resource == resource))
        return self.defaults[resource] if value is None else value

    def _custom(self, session, project_id: str) -> dict:
        return {r: v for r, v in session.execute(
            select(QuotaLimit.resource, QuotaLimit.limit)
            .where(QuotaLimit.project_id == project_id))}

    def get_limits(self, project_id: str) -> dict:
        with self.db.reader() as session:
            return {**self.defaults, **self._custom(session, project_id)}

    def get_custom_projects(self) -> list[dict]:
        """Projects with at least one non-default limit, with all their limits."""
        with self.db.reader() as session:
            projects = session.scalars(select(QuotaLimit.project_id).distinct()).all()
            return [{"project_id": p, "tenant_id": p,
                     **self.defaults, **self._custom(session, p)} for p in sorted(projects)]

    def set_limits(self, project_id: str, changes: dict[str, int],
                   check_limit: bool = False) -> dict:
        """``check_limit``: refuse a limit below what the project already uses (400)."""
        unknown = [r for r in changes if r not in self.defaults]
        if unknown:
            raise exc.HTTPBadRequest(msg=f"Unrecognized attribute(s) '{', '.join(unknown)}'")
        for resource, value in changes.items():
            if not UNLIMITED <= value <= MAX_LIMIT:
                raise exc.InvalidInput(error_message=f"'{value}' is not in the range "
                                                     f"[-1, {MAX_LIMIT}] for {resource}")
        with self.db.writer() as session:
            if check_limit:
                unders = [r for r, v in changes.items()
                          if v != UNLIMITED and self._used(session, project_id, r) > v]
                if unders:
                    raise InvalidQuotaValue(unders=", ".join(unders))
            for resource, value in changes.items():
                row = session.scalar(select(QuotaLimit).where(
                    QuotaLimit.project_id == project_id, QuotaLimit.resource == resource))
                if row is None:
                    session.add(QuotaLimit(project_id=project_id, resource=resource,
                                           limit=value))
                else:
                    row.limit = value
        return self.get_limits(project_id)

    def reset(self, project_id: str) -> None:
        with self.db.writer() as session:
            session.execute(delete(QuotaLimit).where(QuotaLimit.project_id == project_id))

    def _used(self, session, project_id: str, resource: str) -> int:
        model = self.models.get(resource)
        if model is None:
            return 0
        return session.scalar(_usage(model), {"project": project_id})

    def get_details(self, project_id: str) -> dict:
        limits = self.get_limits(project_id)
        with self.db.reader() as session:
            used = {r: self._used(session, project_id, r) for r in limits}
        return {r: {"limit": limits[r], "used": used[r], "reserved": 0} for r in limits}
