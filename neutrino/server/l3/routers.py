"""Routers: create, show, list, update, delete (with Neutron's in-use rules)."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from neutrino.db.engine import session_of
from neutrino.db.models import Port, Router, RouterPort, new_id
from neutrino.server import policy
from neutrino.server.events import PRECOMMIT_CREATE
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import scheduler, views
from neutrino.server.l3.constants import L3_AGENT_TOPIC, ROUTER_INTERFACE

ROUTER_COLUMNS = {
    "id": Router.id, "name": Router.name, "project_id": Router.project_id,
    "tenant_id": Router.project_id, "status": Router.status,
    "admin_state_up": Router.admin_state_up, "description": Router.description,
}


class RoutersMixin:
    def _get_router(self, session, ctx, router_id: str, lock: bool = False,
                    action: str | None = None) -> Router:
        """The router if ``ctx`` may see it (else 404); with ``action``, may also change it."""
        query = select(Router).where(Router.id == router_id)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        router = session.execute(query).scalar()
        if router is None or not policy.owns(ctx, router):
            raise l3_exc.RouterNotFound(router_id=router_id)
        if action:
            policy.check_modify(ctx, router, "router", action)
        return router

    def _gw_port(self, session, router: Router) -> Port | None:
        if not router.gw_port_id:
            return None
        return session.execute(select(Port).options(selectinload(Port.fixed_ips))
                               .where(Port.id == router.gw_port_id)).scalar()

    def _router_view_in(self, session, router: Router) -> dict:
        return views.router_dict(router, self._gw_port(session, router))

    def _router_view(self, router: Router) -> dict:
        return self._router_view_in(session_of(router), router)

    # -- API ------------------------------------------------------------------

    def create_router(self, ctx, data: dict) -> dict:
        return self._write(lambda tx: self._create_router(tx, ctx, data), self._router_view)

    def _create_router(self, tx, ctx, data: dict) -> Router:
        session = tx.session
        project_id = policy.check_project(ctx, data.get("project_id"))
        self._check_gateway_policy(ctx, "create", data.get("external_gateway_info"))
        router = Router(id=data.get("id") or new_id(), project_id=project_id,
                        name=data.get("name", ""), description=data.get("description", ""),
                        admin_state_up=data.get("admin_state_up", True), status="ACTIVE",
                        enable_snat=True, routes=[], tags=[], revision_number=0)
        session.add(router)
        session.flush()
        self.core.registry.publish("router", PRECOMMIT_CREATE, context=ctx, tx=tx,
                                   router=router, request=data)
        scheduler.schedule(session, router, self.options.agent_down_time)
        if data.get("external_gateway_info"):
            self._set_gateway(tx, ctx, router, data["external_gateway_info"])
        self._notify_routers(tx, [router.id])
        return router

    def get_router(self, ctx, router_id: str) -> dict:
        with self._read() as session:
            return self._router_view_in(session, self._get_router(session, ctx, router_id))

    def get_routers(self, ctx, filters: dict | None = None) -> list[dict]:
        query = select(Router).order_by(Router.created_at, Router.id)
        if not ctx.is_admin:
            query = query.where(Router.project_id == ctx.project_id)
        query = self.core._pushdown(query, filters, ROUTER_COLUMNS)
        with self._read() as session:
            routers = list(session.scalars(query))
            gw_ids = [r.gw_port_id for r in routers if r.gw_port_id]
            gw_ports = {p.id: p for p in session.scalars(
                select(Port).options(selectinload(Port.fixed_ips))
                .where(Port.id.in_(gw_ids)))} if gw_ids else {}
            return [views.router_dict(r, gw_ports.get(r.gw_port_id)) for r in routers]

    def update_router(self, ctx, router_id: str, data: dict,
                      if_revision: int | None = None) -> dict:
        def work(tx):
            router = self._get_router(tx.session, ctx, router_id, lock=True, action="update")
            self.core._check_revision(router, if_revision)
            changed = False
            for attr in ("name", "description", "admin_state_up"):
                if attr in data and getattr(router, attr) != data[attr]:
                    setattr(router, attr, data[attr])
                    changed = True
            if "external_gateway_info" in data:
                self._check_gateway_policy(ctx, "update", data["external_gateway_info"])
                changed |= self._update_gateway(tx, ctx, router, data["external_gateway_info"])
            if "routes" in data:
                changed |= self._replace_routes(tx.session, router, data["routes"])
            if changed:
                router.bump_revision()
            self._notify_routers(tx, [router.id])
            return router
        return self._write(work, self._router_view)

    def delete_router(self, ctx, router_id: str) -> None:
        def work(tx):
            session = tx.session
            router = self._get_router(session, ctx, router_id, lock=True, action="delete")
            interfaces = session.scalar(select(RouterPort.port_id).where(
                RouterPort.router_id == router.id, RouterPort.port_type == ROUTER_INTERFACE))
            if interfaces:
                raise l3_exc.RouterInUse(router_id=router.id)
            self._clear_gateway(tx, router)
            session.delete(router)
            tx.notify(L3_AGENT_TOPIC, "router_deleted", {"router_id": router.id})
        self._write(work)
