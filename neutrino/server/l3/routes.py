"""Extra routes of a router: replace (update), add_extraroutes, remove_extraroutes."""
import ipaddress

from neutrino.db.models import Subnet
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import scheduler
from neutrino.server.l3.constants import MAX_ROUTES


def _key(route: dict) -> tuple[str, str]:
    return (str(ipaddress.ip_network(route["destination"])),
            str(ipaddress.ip_address(route["nexthop"])))


def _unique(routes: list[dict]) -> list[dict]:
    seen = {}
    for route in routes:
        seen.setdefault(_key(route), None)
    return [{"destination": d, "nexthop": n} for d, n in seen]


class ExtraRoutesMixin:
    def _check_routes(self, session, router, routes: list[dict]) -> None:
        """Each nexthop must be on a subnet of the router and not one of its own addresses."""
        if len(routes) > MAX_ROUTES:
            raise l3_exc.RoutesExhausted(router_id=router.id, quota=MAX_ROUTES)
        cidrs, own = [], set()
        for port in scheduler.router_ports(session, router.id):
            for alloc in port.fixed_ips:
                own.add(alloc.ip_address)
                cidrs.append(ipaddress.ip_network(session.get(Subnet, alloc.subnet_id).cidr))
        for route in routes:
            nexthop = ipaddress.ip_address(route["nexthop"])
            if ipaddress.ip_network(route["destination"]).version != nexthop.version:
                raise l3_exc.InvalidRoutes(routes=routes,
                                           reason="the nexthop and destination differ in "
                                                  "IP version")
            if not any(nexthop in cidr for cidr in cidrs):
                raise l3_exc.InvalidRoutes(routes=routes,
                                           reason="the nexthop is not connected with router")
            if str(nexthop) in own:
                raise l3_exc.InvalidRoutes(routes=routes, reason="the nexthop is used by router")

    def _replace_routes(self, session, router, routes: list[dict] | None) -> bool:
        wanted = _unique(routes or [])
        self._check_routes(session, router, wanted)
        if wanted == _unique(router.routes or []):
            return False
        router.routes = wanted
        return True

    def add_extraroutes(self, ctx, router_id: str, routes: list[dict]) -> dict:
        return self._change_routes(ctx, router_id, routes,
                                   lambda old, given: old + [r for r in given if r not in old])

    def remove_extraroutes(self, ctx, router_id: str, routes: list[dict]) -> dict:
        return self._change_routes(ctx, router_id, routes,
                                   lambda old, given: [r for r in old if r not in given])

    def _change_routes(self, ctx, router_id: str, routes: list[dict], combine) -> dict:
        def work(tx):
            router = self._get_router(tx.session, ctx, router_id, lock=True,
                                     action="update")
            old = _unique(router.routes or [])
            if self._replace_routes(tx.session, router, combine(old, _unique(routes))):
                router.bump_revision()
                self._notify_routers(tx, [router.id])
            return router
        return self._write(work, self._router_view)
