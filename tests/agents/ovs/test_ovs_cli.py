"""``neutrino agent ...``: argument errors, and the real process on a real node."""
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from neutrino.cli import agent as cli
from neutrino.cli.main import main as neutrino_main
from neutrino.errors import NeutrinoError
from neutrino.linux import ovs_daemons, proc
from neutrino.rpc import RpcServer


def test_bridge_mappings_parse():
    assert cli.parse_mappings("extnet:br-ex, other:br-o") == {"extnet": "br-ex",
                                                             "other": "br-o"}
    assert cli.parse_mappings("") == {}


@pytest.mark.parametrize("text", ["extnet", "extnet:", ":br-ex", "a:br-ex,a:br-x",
                                  "a:br-much-too-long"])
def test_bad_bridge_mappings(text):
    with pytest.raises(NeutrinoError):
        cli.parse_mappings(text)


def test_bad_input_is_one_line_and_non_zero(capsys):
    assert neutrino_main(["agent", "ovs", "--host", "h", "--transport-url", "memory://",
                          "--local-ip", "not-an-ip"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "not-an-ip" in err
    assert neutrino_main(["agent", "ovs", "--host", "h"]) == 1
    capsys.readouterr()
    assert neutrino_main(["agent", "ovs", "--host", "h", "--transport-url", "memory://",
                          "--local-ip", "10.0.0.1", "--firewall-driver", "nftables"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nftables" in err
    assert neutrino_main(["agent", "nope"]) == 1
    assert neutrino_main(["agent", "--help"]) == 0


class Endpoint:
    def __init__(self):
        self.up, self.reports = set(), []
        self.port = str(uuid.uuid4())

    def get_devices_details_list(self, devices, agent_id, host):
        return [{"device": d, "port_id": d, "network_id": "net-1", "mac_address":
                 "fa:16:3e:00:00:01", "admin_state_up": True, "network_type": "vxlan",
                 "segmentation_id": 77, "physical_network": None, "mtu": 1450,
                 "fixed_ips": [], "device_owner": "network:dhcp", "device_id": "x",
                 "port_security_enabled": False, "security_groups": [],
                 "allowed_address_pairs": [], "revision_number": 1,
                 "binding_vif_type": "ovs"} if d == self.port else
                {"device": d, "no_such_port": True} for d in devices]

    def update_device_list(self, devices_up, devices_down, agent_id, host):
        self.up |= set(devices_up)
        return {"devices_up": devices_up, "devices_down": devices_down,
                "failed_devices_up": [], "failed_devices_down": []}

    def tunnel_sync(self, tunnel_ip, tunnel_type, host):
        return {"tunnels": [{"ip_address": tunnel_ip, "host": host}]}

    def get_ports_on_host(self, host):
        return []

    def report_state(self, agent_state, time):
        self.reports.append(agent_state)
        return "alive"


@pytest.mark.dataplane
def test_agent_process_in_a_node_over_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    tmp = tempfile.mkdtemp(prefix="nt-ovscli-")
    ns = f"nt-ovscli-{secrets.token_hex(3)}"
    rundir = os.path.join(tmp, "run")
    sock = os.path.join(tmp, "redis.sock")
    redis = agent = None
    servers = []
    try:
        redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock,
                                  "--save", "", "--appendonly", "no"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and time.monotonic() < deadline:
            time.sleep(0.01)
        url = f"redis+socket://{sock}"
        endpoint = Endpoint()
        servers = [RpcServer(url, t, endpoint).start()
                   for t in ("q-plugin", "q-reports-plugin")]
        proc.run(["ip", "netns", "add", ns])
        ovs_daemons.start_ovs(rundir, os.path.join(tmp, "db"), os.path.join(tmp, "log"),
                              netns=ns)
        neutrino = os.path.join(os.path.dirname(os.path.realpath(__file__)),
                                "../../../.venv/bin/neutrino")
        with open(os.path.join(tmp, "agent.log"), "w") as log:
            agent = subprocess.Popen(
                proc.in_netns([neutrino, "agent", "ovs", "--host", "node1",
                               "--transport-url", url, "--local-ip", "10.168.7.5",
                               "--state-dir", os.path.join(tmp, "state"),
                               "--report-interval", "0.5"], ns),
                env=dict(os.environ, OVS_RUNDIR=rundir), stdout=log,
                stderr=subprocess.STDOUT)
        vsctl = ["env", f"OVS_RUNDIR={rundir}", "ovs-vsctl", "--timeout=10"]

        def bridges():
            return proc.run(vsctl + ["list-br"], netns=ns).out.split()
        deadline = time.monotonic() + 20
        while "br-tun" not in bridges() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {"br-int", "br-tun"} <= set(bridges())
        tap = "tap" + endpoint.port[:11]
        proc.run(vsctl + ["add-port", "br-int", tap, "--", "set", "Interface", tap,
                          "type=internal", f"external_ids:iface-id={endpoint.port}"], netns=ns)
        deadline = time.monotonic() + 10
        while endpoint.port not in endpoint.up and time.monotonic() < deadline:
            time.sleep(0.02)
        assert endpoint.port in endpoint.up
        assert proc.run(vsctl + ["get", "Port", tap, "tag"], netns=ns).out.strip() == "1"
        assert endpoint.reports and endpoint.reports[0]["start_flag"] is True
        agent.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert agent.wait(timeout=15) == 0
        # Event-driven stop, no interpreter teardown: ~0.05 s here (a
        # listener polling every second, or the teardown, showed as 0.2-1 s).
        assert time.monotonic() - stopping < 1.5
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
            agent.wait()
        for s in servers:
            s.stop()
        ovs_daemons.stop_ovs(rundir)
        proc.run(["ip", "netns", "del", ns], check=False)
        if redis is not None:
            redis.kill()
            redis.wait()
        shutil.rmtree(tmp, ignore_errors=True)
