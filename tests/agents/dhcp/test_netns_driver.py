import os
import shutil
import tempfile

from neutrino.agents.dhcp import dnsmasq_config as cfg
from neutrino.agents.dhcp.netns_driver import DhcpDriver

NET = "5d5c1e2a-8f39-4c53-9a52-1f5a8c3c9e01"
SUB = "0b1a7c2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"


def plan_in(state_dir):
    port = {"id": "3e399bf2-31aa-4bde-9f00-111111111111", "mac_address": "fa:16:3e:00:00:02",
            "device_owner": "network:dhcp",
            "fixed_ips": [{"subnet_id": SUB, "ip_address": "10.0.0.2"}]}
    net = {"id": NET, "mtu": 1450, "ports": [port],
           "subnets": [{"id": SUB, "cidr": "10.0.0.0/24", "enable_dhcp": True, "gateway_ip": None}]}
    return cfg.build_plan(net, port, str(state_dir))


def test_neutron_command_line_when_nobody_can_read_the_files():
    base = tempfile.mkdtemp(prefix="neutrino-dhcp-")   # below /tmp (1777) and / (755)
    try:
        os.chmod(base, 0o755)
        plan = plan_in(base)
        assert DhcpDriver.command_line(plan) == plan.cmdline
    finally:
        shutil.rmtree(base)


def test_user_root_when_a_parent_is_private(tmp_path):
    private = tmp_path / "private"
    (private / "state").mkdir(parents=True)
    os.chmod(private, 0o700)
    plan = plan_in(private / "state")
    assert DhcpDriver.command_line(plan) == (*plan.cmdline, "--user=root")


def test_files_written_only_when_changed(tmp_path):
    plan = plan_in(tmp_path)
    driver = DhcpDriver()
    assert sorted(map(os.path.basename, driver._write_files(plan))) == sorted(plan.files)
    assert driver._write_files(plan) == []
    assert open(os.path.join(plan.conf_dir, "host")).read() == plan.files["host"]
    assert os.stat(os.path.join(plan.conf_dir, "opts")).st_mode & 0o777 == 0o644


def test_served_networks_are_those_with_a_conf_dir(tmp_path):
    assert DhcpDriver.served_networks(str(tmp_path)) == set()
    DhcpDriver()._write_files(plan_in(tmp_path))
    assert DhcpDriver.served_networks(str(tmp_path)) == {NET}
