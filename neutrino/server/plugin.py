"""The core plugin: networks, subnets, ports, agents, tags, with Neutron's rules.

Each area is a mixin in its own module; this class wires them to the
database, the options, the notifier and the event registry. Public methods
take a ``Context`` and plain dicts (the API's validated request bodies) and
return plain dicts; every write is one transaction (``_write``) whose
notifications are sent after it commits.
"""
from contextlib import contextmanager
from typing import Callable

from sqlalchemy import Select

from neutrino.db.engine import Database
from neutrino.db.migrate import upgrade
from neutrino.server import exceptions as exc
from neutrino.server import segments
from neutrino.server.agents import AgentsMixin
from neutrino.server.config import ServerOptions
from neutrino.server.dhcp import DhcpPortMixin
from neutrino.server.events import Registry
from neutrino.server.networks import NetworksMixin
from neutrino.server.notify import NotifierLike, NullNotifier
from neutrino.server.ports import PortsMixin
from neutrino.server.securitygroups import SecurityGroupsMixin
from neutrino.server.subnets import SubnetsMixin
from neutrino.server.tags import TagsMixin
from neutrino.server.transaction import Tx, run_write


class Plugin(NetworksMixin, SubnetsMixin, PortsMixin, DhcpPortMixin, AgentsMixin, TagsMixin,
             SecurityGroupsMixin):
    def __init__(self, db: Database, options: ServerOptions | None = None,
                 notifier: NotifierLike | None = None, registry: Registry | None = None):
        self.db = db
        self.options = options or ServerOptions()
        self.notifier = notifier or NullNotifier()
        self.registry = registry or Registry()

    def start(self) -> None:
        """Bring the schema to head and the VNI pool in line with the options."""
        upgrade(self.db.engine)
        self._write(lambda tx: segments.sync_vni_pool(tx.session, self.options))

    def _write(self, work: Callable[[Tx], object], view: Callable | None = None):
        if view is None:
            return run_write(self.db, self.notifier, work)

        def work_then_view(tx):
            result = work(tx)
            return lambda: view(result)
        return run_write(self.db, self.notifier, work_then_view)

    @contextmanager
    def _read(self):
        with self.db.reader() as session:
            yield session

    def create_bulk(self, resource: str, ctx, items: list[dict]) -> list[dict]:
        """Create several resources of one kind in one transaction (all or nothing)."""
        create = getattr(self, f"_create_{resource}")
        view = getattr(self, f"_{resource}_view")

        def work(tx):
            objs = [create(tx, ctx, item) for item in items]
            return lambda: [view(o) for o in objs]
        return self._write(work)

    @staticmethod
    def _check_revision(obj, expected: int | None) -> None:
        if expected is not None and obj.revision_number != expected:
            raise exc.RevisionNumberConstraintFailed(expected=expected,
                                                     current=obj.revision_number)

    @staticmethod
    def _pushdown(query: Select, filters: dict | None, columns: dict) -> Select:
        """Apply the filters that map to plain columns in SQL (the API re-checks all)."""
        for attr, values in (filters or {}).items():
            column = columns.get(attr)
            if column is not None and values:
                query = query.where(column.in_(values))
        return query
