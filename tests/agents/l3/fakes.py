"""Router dicts in the server's shape, a recording driver and a fake q-l3-plugin."""
from __future__ import annotations

import copy
import threading

GW_PORT = "1270ddd4-bbaa-4c1e-9d3e-0f0e0d0c0b0a"
QR_PORT = "4742c3a4-a5bb-4d2e-8f3a-1a2b3c4d5e6f"
VM_PORT = "3e399bf2-3111-4a5b-9c8d-7e6f5a4b3c2d"
ROUTER = "0f23c70d-5302-422a-8862-f34486b37b5d"
FIP = "b0b0b0b0-0000-4000-8000-000000000001"


def router(router_id=ROUTER, gw_port=GW_PORT, qr_port=QR_PORT, gateway="172.24.4.10",
           internal="10.0.0.1", fips=(("172.24.4.20", "10.0.0.57"),), enable_snat=True,
           ext_cidr="172.24.4.0/24", ext_gateway="172.24.4.1", int_cidr="10.0.0.0/24",
           routes=()):
    ext_sub, int_sub = f"sub-ext-{router_id[:4]}", f"sub-int-{router_id[:4]}"
    r = {"id": router_id, "name": "router1", "project_id": "p1", "admin_state_up": True,
         "status": "ACTIVE", "revision_number": 1, "enable_snat": enable_snat,
         "routes": [{"destination": d, "nexthop": n} for d, n in routes],
         "external_gateway_info": None, "gw_port": None, "_interfaces": [], "_floatingips": []}
    if gateway:
        r["external_gateway_info"] = {"network_id": "ext-net", "enable_snat": enable_snat,
                                      "external_fixed_ips": [{"subnet_id": ext_sub,
                                                              "ip_address": gateway}]}
        r["gw_port"] = {"id": gw_port, "mac_address": "fa:16:3e:aa:00:01",
                        "network_id": "ext-net", "device_owner": "network:router_gateway",
                        "fixed_ips": [{"subnet_id": ext_sub, "ip_address": gateway}],
                        "subnets": [{"id": ext_sub, "cidr": ext_cidr,
                                     "gateway_ip": ext_gateway}], "mtu": 1500}
        for i, (fip, fixed) in enumerate(fips):
            r["_floatingips"].append({"id": FIP[:-1] + str(i + 1), "floating_ip_address": fip,
                                      "fixed_ip_address": fixed, "port_id": VM_PORT,
                                      "status": "DOWN"})
    if internal:
        r["_interfaces"].append({"id": qr_port, "mac_address": "fa:16:3e:bb:00:01",
                                 "network_id": "int-net",
                                 "device_owner": "network:router_interface",
                                 "fixed_ips": [{"subnet_id": int_sub, "ip_address": internal}],
                                 "subnets": [{"id": int_sub, "cidr": int_cidr,
                                              "gateway_ip": internal}], "mtu": 1450})
    return r


class RecordingDriver:
    """Records apply/remove calls; owns the routers it applied, like the real one."""

    def __init__(self, fail: set | None = None):
        self.calls: list[tuple] = []
        self.plans: dict = {}
        self.fail = fail or set()
        self.node_netns = None
        self.changed = threading.Condition()

    def routers(self) -> set[str]:
        return set(self.plans)

    def apply(self, plan, full=False):
        with self.changed:
            self.calls.append(("apply", plan.router_id, full))
            self.changed.notify_all()
        if plan.router_id in self.fail:
            raise RuntimeError("boom")
        self.plans[plan.router_id] = plan
        return "applied"

    def proxy_pid(self, router_id):
        return None

    def remove(self, router_id):
        with self.changed:
            self.calls.append(("remove", router_id))
            self.plans.pop(router_id, None)
            self.changed.notify_all()


class FakeL3Plugin:
    """The q-l3-plugin and q-reports-plugin endpoints of the contract."""

    def __init__(self, routers=()):
        self.routers = {r["id"]: r for r in routers}
        self.statuses: list[tuple] = []
        self.reports: list[dict] = []
        self.sync_calls: list = []
        self.metadata_ports: dict = {}
        self.lock = threading.Condition()

    def sync_routers(self, host, router_ids=None):
        self.sync_calls.append(router_ids)
        ids = self.routers if router_ids is None else router_ids
        return [copy.deepcopy(self.routers[i]) for i in ids if i in self.routers]

    def update_floatingip_statuses(self, router_id, fip_statuses):
        with self.lock:
            self.statuses.append((router_id, dict(fip_statuses)))
            for fip in self.routers.get(router_id, {}).get("_floatingips", []):
                if fip["id"] in fip_statuses:
                    fip["status"] = fip_statuses[fip["id"]]
            self.lock.notify_all()

    def get_ports_for_metadata(self, ip_address, router_id=None, network_id=None):
        return copy.deepcopy(self.metadata_ports.get((router_id or network_id, ip_address), []))

    def report_state(self, agent_state, time):
        self.reports.append(agent_state)
        return "alive"
