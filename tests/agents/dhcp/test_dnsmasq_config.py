import uuid

import pytest

from neutrino.agents.dhcp import dnsmasq_config as cfg

NET = "5d5c1e2a-8f39-4c53-9a52-1f5a8c3c9e01"
SUB = "0b1a7c2e-3d4f-4a5b-8c6d-7e8f9a0b1c2d"
SUB2 = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
DHCP_PORT = "3e399bf2-31aa-4bde-9f00-111111111111"
VM_PORT = "7c0ffee0-1234-4abc-8def-222222222222"


def network(**extra):
    net = {
        "id": NET, "name": "private", "admin_state_up": True, "mtu": 1450,
        "subnets": [{"id": SUB, "cidr": "10.11.11.0/24", "ip_version": 4, "enable_dhcp": True,
                     "gateway_ip": "10.11.11.1", "dns_nameservers": [], "host_routes": []}],
        "ports": [
            {"id": DHCP_PORT, "mac_address": "fa:16:3e:00:00:02", "device_owner": "network:dhcp",
             "device_id": "reserved_dhcp_port",
             "fixed_ips": [{"subnet_id": SUB, "ip_address": "10.11.11.2"}]},
            {"id": VM_PORT, "mac_address": "fa:16:3e:3d:0f:f6", "device_owner": "compute:nova",
             "device_id": "vm1", "fixed_ips": [{"subnet_id": SUB, "ip_address": "10.11.11.57"}]},
        ]}
    net.update(extra)
    return net


def test_names_follow_neutron():
    assert cfg.namespace_name(NET) == f"qdhcp-{NET}"
    assert cfg.tap_name(DHCP_PORT) == "tap3e399bf2-31"
    assert cfg.agent_device_id("controller", NET) == \
        f"dhcp{uuid.uuid5(uuid.NAMESPACE_DNS, 'controller')}-{NET}"


def test_plan_devices_and_files(tmp_path):
    net = network()
    plan = cfg.build_plan(net, net["ports"][0], str(tmp_path))
    assert plan.namespace == f"qdhcp-{NET}"
    assert plan.interface == "tap3e399bf2-31"
    assert plan.mac == "fa:16:3e:00:00:02" and plan.mtu == 1450
    assert plan.addresses == ("10.11.11.2/24",)
    assert plan.gateway == "10.11.11.1" and plan.gateway_onlink is False
    assert plan.files["host"] == (
        "fa:16:3e:00:00:02,host-10-11-11-2.openstacklocal,10.11.11.2\n"
        "fa:16:3e:3d:0f:f6,host-10-11-11-57.openstacklocal,10.11.11.57\n")
    assert plan.files["addn_hosts"].splitlines()[1] == \
        "10.11.11.57\thost-10-11-11-57.openstacklocal host-10-11-11-57"
    assert plan.files["opts"] == f"tag:subnet-{SUB},option:router,10.11.11.1\n"
    assert plan.port_ids == tuple(sorted([DHCP_PORT, VM_PORT]))


def test_command_line_is_neutrons(tmp_path):
    net = network()
    plan = cfg.build_plan(net, net["ports"][0], str(tmp_path))
    d = f"{tmp_path}/dhcp/{NET}"
    assert list(plan.cmdline) == [
        "dnsmasq", "--no-hosts", "--no-resolv", f"--pid-file={d}/pid",
        f"--dhcp-hostsfile={d}/host", f"--addn-hosts={d}/addn_hosts",
        f"--dhcp-optsfile={d}/opts", f"--dhcp-leasefile={d}/leases",
        "--dhcp-match=set:ipxe,175", "--dhcp-userclass=set:ipxe6,iPXE",
        "--local-service", "--bind-dynamic", "--bridge-interface=tap3e399bf2-31,tap*",
        f"--dhcp-range=set:subnet-{SUB},10.11.11.0,static,255.255.255.0,86400s",
        "--dhcp-option-force=option:mtu,1450", "--dhcp-lease-max=256",
        "--conf-file=/dev/null", "--domain=openstacklocal"]


def test_dns_routes_and_extra_options():
    net = network()
    net["subnets"][0].update(dns_nameservers=["192.0.2.53", "192.0.2.54"],
                             host_routes=[{"destination": "172.16.0.0/16",
                                           "nexthop": "10.11.11.9"}])
    net["subnets"].append({"id": SUB2, "cidr": "10.22.0.0/24", "ip_version": 4,
                           "enable_dhcp": False, "gateway_ip": None})
    net["ports"][1]["extra_dhcp_opts"] = [{"opt_name": "tftp-server", "opt_value": "10.0.0.9"},
                                          {"opt_name": "119", "opt_value": "example.org"},
                                          {"opt_name": "dns-server", "opt_value": "::1",
                                           "ip_version": 6}]
    subnets = cfg.dhcp_subnets(net)
    routes = "10.22.0.0/24,0.0.0.0,172.16.0.0/16,10.11.11.9,0.0.0.0/0,10.11.11.1"
    assert cfg.opts_file(net, subnets).splitlines() == [
        f"tag:subnet-{SUB},option:dns-server,192.0.2.53,192.0.2.54",
        f"tag:subnet-{SUB},option:classless-static-route,{routes}",
        f"tag:subnet-{SUB},249,{routes}",
        f"tag:subnet-{SUB},option:router,10.11.11.1",
        f"tag:port-{VM_PORT},option:tftp-server,10.0.0.9",
        f"tag:port-{VM_PORT},119,example.org"]
    assert f"10.11.11.57,set:port-{VM_PORT}" in cfg.host_file(net, {SUB})


def test_no_gateway_and_dns_suppressed(tmp_path):
    net = network()
    net["subnets"][0].update(gateway_ip=None, dns_nameservers=["0.0.0.0"])
    plan = cfg.build_plan(net, net["ports"][0], str(tmp_path))
    assert plan.gateway is None
    assert plan.files["opts"] == (f"tag:subnet-{SUB},option:dns-server\n"
                                  f"tag:subnet-{SUB},option:router\n")


def test_gateway_outside_subnet_is_onlink(tmp_path):
    net = network()
    net["subnets"][0]["gateway_ip"] = "10.99.0.1"
    plan = cfg.build_plan(net, net["ports"][0], str(tmp_path))
    assert plan.gateway == "10.99.0.1" and plan.gateway_onlink is True


def test_nothing_to_serve(tmp_path):
    net = network()
    net["subnets"][0]["enable_dhcp"] = False
    assert cfg.build_plan(net, net["ports"][0], str(tmp_path)) is None
    net = network(admin_state_up=False)
    assert cfg.build_plan(net, net["ports"][0], str(tmp_path)) is None


def test_dhcp_port_choice():
    net = network()
    assert cfg.find_dhcp_port(net, "controller")["id"] == DHCP_PORT
    mine = dict(net["ports"][0], id="ffffffff-0000-4000-8000-000000000000",
                device_id=cfg.agent_device_id("controller", NET))
    net["ports"].append(mine)
    assert cfg.find_dhcp_port(net, "controller")["id"] == mine["id"]
    net["ports"] = [p for p in net["ports"] if p["device_owner"] != "network:dhcp"]
    assert cfg.find_dhcp_port(net, "controller") is None


def test_dhcp_port_without_mac_is_an_error(tmp_path):
    net = network()
    port = dict(net["ports"][0], mac_address="")
    with pytest.raises(Exception, match="no MAC"):
        cfg.build_plan(net, port, str(tmp_path))


def test_unused_leases_are_those_the_hosts_file_no_longer_gives():
    hosts = ("fa:16:3e:00:00:01,host-10-0-0-3.openstacklocal,10.0.0.3\n"
             "fa:16:3e:00:00:02,host-10-0-0-4.openstacklocal,10.0.0.4,set:port-x\n")
    leases = ("1800000000 fa:16:3e:00:00:01 10.0.0.3 vm1 *\n"
              "1800000000 FA:16:3E:00:00:02 10.0.0.9 vm2 01:fa:16:3e:00:00:02\n"
              "1800000000 fa:16:3e:00:00:05 10.0.0.5 gone *\n"
              "1800000000 1234 fd00::5 v6 00:01\n"
              "garbage\n")
    assert cfg.unused_leases(leases, hosts) == [
        ("10.0.0.9", "fa:16:3e:00:00:02", "01:fa:16:3e:00:00:02"),   # its IP changed
        ("10.0.0.5", "fa:16:3e:00:00:05", None)]                       # its port is gone
    assert cfg.unused_leases("", hosts) == []
