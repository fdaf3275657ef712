"""The server side of the L3 agent's calls (topic ``q-l3-plugin``), per docs/design.md."""


class L3RpcEndpoint:
    def __init__(self, l3):
        self.l3 = l3

    def sync_routers(self, host: str, router_ids: list[str] | None = None) -> list[dict]:
        return self.l3.sync_routers(host, router_ids)

    def update_floatingip_statuses(self, router_id: str, fip_statuses: dict) -> None:
        self.l3.update_floatingip_statuses(router_id, fip_statuses)
        return None

    def get_ports_for_metadata(self, ip_address: str, router_id: str | None = None,
                               network_id: str | None = None) -> list[dict]:
        return self.l3.get_ports_for_metadata(ip_address, router_id, network_id)

    def get_router_ids(self, host: str) -> list[str]:
        return self.l3.router_ids_on_host(host)
