"""The agent's side of the server contract (docs/design.md, "Messaging").

``PluginApi`` wraps the q-plugin / q-reports-plugin calls; ``listen`` opens
the fanout notifications the agent reacts to. Tests pass any object with the
same methods instead (see tests/agents/ovs/fakes.py).
"""
from __future__ import annotations

import datetime
from typing import Callable

TOPICS = ("q-agent-notifier-port-update", "q-agent-notifier-port-delete",
          "q-agent-notifier-network-update", "q-agent-notifier-network-delete",
          "q-agent-notifier-tunnel-update", "q-agent-notifier-security_group-update")


class PluginApi:
    def __init__(self, url: str, host: str, agent_id: str, timeout: float = 10):
        from neutrino.rpc import RpcClient
        self.host = host
        self.agent_id = agent_id
        self._plugin = RpcClient(url, "q-plugin", timeout=timeout)
        self._reports = RpcClient(url, "q-reports-plugin", timeout=timeout)

    def report_state(self, agent_state: dict):
        now = datetime.datetime.now(datetime.timezone.utc).isoformat()
        return self._reports.call("report_state", agent_state=agent_state, time=now)

    def get_devices_details_list(self, devices: list[str]) -> list[dict]:
        return self._plugin.call("get_devices_details_list", devices=list(devices),
                                 agent_id=self.agent_id, host=self.host)

    def update_device_list(self, devices_up: list[str], devices_down: list[str]) -> dict:
        return self._plugin.call("update_device_list", devices_up=list(devices_up),
                                 devices_down=list(devices_down),
                                 agent_id=self.agent_id, host=self.host)

    def tunnel_sync(self, tunnel_ip: str) -> dict:
        return self._plugin.call("tunnel_sync", tunnel_ip=tunnel_ip, tunnel_type="vxlan",
                                 host=self.host)

    def get_ports_on_host(self) -> list[str]:
        return self._plugin.call("get_ports_on_host", host=self.host)

    def security_group_info_for_devices(self, devices: list[str]) -> dict:
        return self._plugin.call("security_group_info_for_devices", devices=list(devices))

    def close(self) -> None:
        for client in (self._plugin, self._reports):
            close = getattr(client, "close", None)
            if close:
                close()


def listen(url: str, host: str, callback: Callable) -> Callable[[], None]:
    """Start the fanout listener; return the function that stops it."""
    from neutrino.rpc import NotificationListener
    listener = NotificationListener(url, TOPICS, callback, host=host)
    listener.start()
    return listener.stop
