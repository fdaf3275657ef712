"""Fakes for the OVS agent tests: a server that answers the agent's calls."""
import threading
import uuid

import pytest

from neutrino.agents.ovs.state import AgentConfig


class FakeServer:
    """Answers the q-plugin calls the way docs/design.md specifies."""

    def __init__(self, endpoints=()):
        self.networks = {}
        self.ports = {}
        self.groups = {}        # sg id -> {"stateful": bool, "rules": [...]}
        self.endpoints = list(endpoints)
        self.calls = []
        self.up = set()
        self.down = set()
        self.reports = []
        self.fail = False
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def network(self, network_type="vxlan", segmentation_id=1707, physical_network=None):
        net_id = str(uuid.uuid4())
        self.networks[net_id] = {"network_type": network_type,
                                 "segmentation_id": segmentation_id,
                                 "physical_network": physical_network}
        return net_id

    def port(self, network_id, ip="10.0.0.5", mac=None, **extra):
        port_id = str(uuid.uuid4())
        mac = mac or "fa:16:3e:%02x:%02x:%02x" % tuple(uuid.uuid4().bytes[:3])
        self.ports[port_id] = dict({
            "device": port_id, "port_id": port_id, "network_id": network_id,
            "mac_address": mac, "admin_state_up": True, "mtu": 1450,
            "fixed_ips": [{"subnet_id": "s", "ip_address": ip}],
            "device_owner": "compute:nova", "device_id": "vm",
            "port_security_enabled": True, "security_groups": [],
            "allowed_address_pairs": [], "revision_number": 1,
            "binding_vif_type": "ovs"}, **self.networks[network_id], **extra)
        return port_id

    def _record(self, name, **args):
        if self.fail:
            raise ConnectionError("server down")
        with self.lock:
            self.calls.append((name, args))

    def get_devices_details_list(self, devices):
        self._record("get_devices_details_list", devices=list(devices))
        return [dict(self.ports[d]) if d in self.ports else
                {"device": d, "no_such_port": True} for d in devices]

    def update_device_list(self, devices_up, devices_down):
        self._record("update_device_list", devices_up=list(devices_up),
                     devices_down=list(devices_down))
        with self.lock:
            self.up |= set(devices_up)
            self.up -= set(devices_down)
            self.down |= set(devices_down)
            self.down -= set(devices_up)
            self.changed.notify_all()
        return {"devices_up": devices_up, "devices_down": devices_down,
                "failed_devices_up": [], "failed_devices_down": []}

    def tunnel_sync(self, tunnel_ip):
        self._record("tunnel_sync", tunnel_ip=tunnel_ip)
        if tunnel_ip not in self.endpoints:
            self.endpoints.append(tunnel_ip)
        return {"tunnels": [{"ip_address": ip, "host": f"h{i}"}
                            for i, ip in enumerate(self.endpoints)]}

    def get_ports_on_host(self):
        self._record("get_ports_on_host")
        return list(self.ports)

    def group(self, rules=(), stateful=True):
        sg_id = str(uuid.uuid4())
        self.groups[sg_id] = {"stateful": stateful, "rules": [
            dict(rule, id=str(uuid.uuid4()), security_group_id=sg_id) for rule in rules]}
        return sg_id

    def security_group_info_for_devices(self, devices):
        """The contract's answer: ports, their groups' rules, remote members."""
        self._record("security_group_info_for_devices", devices=list(devices))
        ports = {d: dict(self.ports[d]) for d in devices if d in self.ports}
        used = {sg for p in ports.values() for sg in p["security_groups"]}
        rules = {sg: list(self.groups[sg]["rules"]) for sg in used}
        remote = {r["remote_group_id"] for rs in rules.values() for r in rs
                  if r.get("remote_group_id")}
        members = {sg: {"IPv4": [], "IPv6": []} for sg in remote}
        for port in self.ports.values():
            for sg in set(port["security_groups"]) & remote:
                ips = [ip["ip_address"] for ip in port["fixed_ips"]]
                ips += [pair["ip_address"] for pair in port["allowed_address_pairs"]]
                for ip in ips:
                    members[sg]["IPv6" if ":" in ip else "IPv4"].append(ip)
        return {"devices": ports, "security_groups": rules, "sg_member_ips": members,
                "stateful": {sg: self.groups[sg]["stateful"] for sg in used}}

    def report_state(self, agent_state):
        self._record("report_state", agent_state=agent_state)
        self.reports.append(agent_state)
        return "alive"

    def wait_up(self, port_id, timeout=10):
        with self.lock:
            return self.changed.wait_for(lambda: port_id in self.up, timeout)

    def calls_of(self, name):
        return [args for call, args in self.calls if call == name]


class RecordingFirewall:
    def __init__(self):
        self.calls = []
        self.fail = False

    def _call(self, kind, ports, groups, members):
        if self.fail:
            raise RuntimeError("iptables-restore failed")
        self.calls.append((kind, [p["id"] for p in ports], groups, members))

    def update(self, ports, groups, members):
        self._call("update", ports, groups, members)

    def resync(self, ports, groups, members):
        self._call("resync", ports, groups, members)


@pytest.fixture
def fw():
    """A firewall driver that records what the agent hands it."""
    return RecordingFirewall()


@pytest.fixture
def server_factory():
    return FakeServer


@pytest.fixture
def server():
    return FakeServer(endpoints=["10.168.7.11", "10.168.7.12"])


@pytest.fixture
def config():
    return AgentConfig(host="compute01", local_ip="10.168.7.11",
                       bridge_mappings={"extnet": "br-ex"})
