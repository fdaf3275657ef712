"""The external gateway of a router: its port on an external network and SNAT mode."""
from sqlalchemy import delete, select

from neutrino.db.models import FloatingIP, RouterPort
from neutrino.server import exceptions as exc
from neutrino.server.context import Context
from neutrino.server.l3 import exceptions as l3_exc
from neutrino.server.l3 import scheduler
from neutrino.server.l3.constants import ROUTER_GATEWAY

ADMIN = Context.admin()
ADMIN_ONLY_GATEWAY_KEYS = ("enable_snat", "external_fixed_ips")
"""Neutron's policy: only an admin chooses the SNAT mode or the gateway's addresses."""


def _same_fixed_ips(wanted: list[dict], current: list[tuple[str, str]]) -> list[dict] | None:
    """``wanted`` with entries matching a current address made exact; None if nothing changes."""
    free = list(current)
    exact, changed = [], False
    for entry in wanted:
        match = next((c for c in free
                      if entry.get("subnet_id", c[0]) == c[0]
                      and entry.get("ip_address", c[1]) == c[1]), None)
        if match is None:
            exact.append(entry)
            changed = True
        else:
            free.remove(match)
            exact.append({"subnet_id": match[0], "ip_address": match[1]})
    return exact if changed or free else None


class GatewayMixin:
    @staticmethod
    def _check_gateway_policy(ctx, action: str, info: dict | None) -> None:
        if ctx.is_admin or not info:
            return
        for key in ADMIN_ONLY_GATEWAY_KEYS:
            if key in info:
                raise exc.PolicyNotAuthorized(
                    action=f"rule:{action}_router:external_gateway_info:{key}")

    def _set_gateway(self, tx, ctx, router, info: dict) -> None:
        session = tx.session
        net = self.core._get_network(session, ctx, info["network_id"])
        if not net.external:
            raise l3_exc.router_bad_request(f"Network {net.id} is not an external network")
        self._check_router_subnets(session, router, list(net.subnets))
        host = scheduler.router_host(session, router.id)
        port = self.core._create_port(tx, ADMIN, {
            "network_id": net.id, "name": "", "admin_state_up": True,
            "device_owner": ROUTER_GATEWAY, "device_id": router.id,
            "binding:host_id": host or "", "fixed_ips": info.get("external_fixed_ips")})
        if not port.fixed_ips:
            raise l3_exc.router_bad_request(f"No IPs available for external network {net.id}")
        port.project_id = ""
        session.add(RouterPort(router_id=router.id, port_id=port.id, port_type=ROUTER_GATEWAY))
        router.gw_port_id = port.id
        router.enable_snat = info.get("enable_snat", True)
        session.flush()

    def _clear_gateway(self, tx, router) -> None:
        session = tx.session
        port = self._gw_port(session, router)
        if port is None:
            return
        in_use = session.scalar(select(FloatingIP.id).where(
            FloatingIP.router_id == router.id,
            FloatingIP.floating_network_id == port.network_id))
        if in_use:
            raise l3_exc.RouterExternalGatewayInUseByFloatingIp(router_id=router.id,
                                                                net_id=port.network_id)
        router.gw_port_id = None
        session.execute(delete(RouterPort).where(RouterPort.port_id == port.id))
        session.flush()
        self._delete_port(tx, port)

    def _update_gateway(self, tx, ctx, router, info: dict | None) -> bool:
        """Apply a new external_gateway_info ({} or None clears it); whether it changed."""
        current = self._gw_port(tx.session, router)
        if not info:
            if current is None:
                return False
            self._clear_gateway(tx, router)
            return True
        if current is None or current.network_id != info["network_id"]:
            self._clear_gateway(tx, router)
            self._set_gateway(tx, ctx, router, info)
            return True
        changed = False
        snat = info.get("enable_snat", True)
        if snat != router.enable_snat:
            router.enable_snat = snat
            changed = True
        if "external_fixed_ips" in info:
            wanted = _same_fixed_ips(info["external_fixed_ips"] or [],
                                     [(a.subnet_id, a.ip_address) for a in current.fixed_ips])
            if wanted is not None:
                if not wanted:
                    raise l3_exc.router_bad_request(
                        f"No IPs available for external network {current.network_id}")
                self.core._update_port(tx, ADMIN, current.id, {"fixed_ips": wanted})
                changed = True
        return changed
