"""The server side of the agents' RPC calls (topics ``q-plugin`` and ``q-reports-plugin``).

One method per call of docs/design.md, with its argument names; each is a thin
translation to the plugin, run as the admin (agents are trusted).
"""
from neutrino.server.context import Context


class RpcEndpoint:
    def __init__(self, plugin):
        self.plugin = plugin
        self.admin = Context.admin()

    def report_state(self, agent_state: dict, time: str | None = None) -> str:
        return self.plugin.report_state(agent_state)

    def get_devices_details_list(self, devices: list[str], agent_id: str = "",
                                 host: str = "") -> list[dict]:
        return self.plugin.get_devices_details(list(devices), host)

    def update_device_list(self, devices_up: list[str] = (), devices_down: list[str] = (),
                           agent_id: str = "", host: str = "") -> dict:
        return self.plugin.set_devices_status(list(devices_up), list(devices_down), host)

    def tunnel_sync(self, tunnel_ip: str, tunnel_type: str = "vxlan", host: str = "") -> dict:
        return self.plugin.tunnel_sync(tunnel_ip, tunnel_type, host)

    def get_ports_on_host(self, host: str) -> list[str]:
        return self.plugin.get_port_ids_on_host(host)

    def get_active_networks_info(self, host: str = "") -> list[dict]:
        return self.plugin.get_dhcp_networks()

    def get_network_info(self, network_id: str, host: str = "") -> dict | None:
        return self.plugin.get_dhcp_network(network_id)

    def update_dhcp_port(self, port_id: str, port: dict) -> dict:
        port = (port or {}).get("port", port or {})
        wanted = {k: v for k, v in port.items()
                  if k in ("device_id", "binding:host_id")}
        return self.plugin.update_port(self.admin, port_id, wanted)

    def security_group_info_for_devices(self, devices: list[str]) -> dict:
        return self.plugin.security_group_info_for_devices(list(devices))

    def dhcp_ready_on_ports(self, port_ids: list[str]) -> None:
        """dnsmasq serves these ports: their DHCP provisioning blocks go."""
        self.plugin.dhcp_ready(list(port_ids))
