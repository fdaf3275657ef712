"""The L3 service plugin: routers and floating IPs beside the core plugin.

It shares the core's database, options, notifier and event registry, uses the
core's port machinery (IPAM, binding, DHCP notifications) for the ports it
owns, and keeps Neutron's rules for routers and floating IPs. Every public
method is one transaction; ``routers_updated`` / ``router_deleted`` go to the
L3 agent on fanout topic ``l3_agent`` after it commits.
"""
from typing import Callable

from neutrino.db.models import Port
from neutrino.server.l3.agent_scheduler import AgentSchedulerMixin
from neutrino.server.l3.constants import L3_AGENT_TOPIC
from neutrino.server.l3.floatingips import FloatingIPsMixin
from neutrino.server.l3.gateway import GatewayMixin
from neutrino.server.l3.hooks import CoreHooksMixin
from neutrino.server.l3.interfaces import InterfacesMixin
from neutrino.server.l3.routers import RoutersMixin
from neutrino.server.l3.routes import ExtraRoutesMixin
from neutrino.server.l3.sync import L3SyncMixin
from neutrino.server.tags import TagsMixin
from neutrino.server.transaction import Tx

L3_NOTIFIED = "_l3_router_ids"


class L3Plugin(RoutersMixin, GatewayMixin, InterfacesMixin, ExtraRoutesMixin,
               FloatingIPsMixin, L3SyncMixin, AgentSchedulerMixin, CoreHooksMixin, TagsMixin):
    def __init__(self, core):
        self.core = core
        self.options = core.options
        self._subscribe(core.registry)

    def _write(self, work: Callable[[Tx], object], view: Callable | None = None):
        return self.core._write(work, view)

    def _read(self):
        return self.core._read()

    def create_bulk(self, resource: str, ctx, items: list[dict]) -> list[dict]:
        """Several routers or floating IPs in one transaction (all or nothing)."""
        create = getattr(self, f"_create_{resource}")
        view = getattr(self, f"_{resource}_view")

        def work(tx):
            objs = [create(tx, ctx, item) for item in items]
            return lambda: [view(o) for o in objs]
        return self._write(work)

    def _notify_routers(self, tx: Tx, router_ids) -> None:
        """One ``routers_updated`` per transaction, naming every router it touched."""
        ids = [i for i in router_ids if i]
        if not ids:
            return
        pending = getattr(tx, L3_NOTIFIED, None)
        if pending is None:
            pending = []
            setattr(tx, L3_NOTIFIED, pending)
            tx.notify(L3_AGENT_TOPIC, "routers_updated", lambda: {"router_ids": list(pending)})
        pending.extend(i for i in ids if i not in pending)

    def _delete_port(self, tx: Tx, port: Port) -> None:
        """Remove a port the L3 service owns (the port API refuses to)."""
        self.core._notify_port_deleted(tx, port)
        tx.session.delete(port)
        tx.session.flush()
