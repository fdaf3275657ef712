"""The official openstack CLI and openstacksdk, unchanged, against Neutrino with keystone auth.

Every command must exit 0 and print nothing on stderr (no client warning).
The seed scenario with routers, floating IPs and security groups runs through
../shared/clients/cli-smoke.sh once the server advertises those extensions.
"""
import os
import subprocess
import uuid

import pytest

from tests.clients.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, HARNESS

pytestmark = pytest.mark.clients

SEED_EXTENSIONS = {"router", "external-net", "security-group"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_token_issue_for_admin_and_demo(keystone_cloud):
    for cloud in ("neutrino-admin", "neutrino-demo"):
        token = keystone_cloud.osc(cloud, "token", "issue", "-f", "json")
        assert token["id"] and token["project_id"] and token["user_id"]
    assert ADMIN_PASSWORD not in keystone_cloud.log.read_text()
    assert DEMO_PASSWORD not in keystone_cloud.log.read_text()


def test_project_user_and_role_commands(keystone_cloud):
    c, admin = keystone_cloud, "neutrino-admin"
    project, user = unique("proj"), unique("user")
    created = c.osc(admin, "project", "create", project, "--domain", "default",
                    "--description", "made by the CLI", "-f", "json")
    assert created["name"] == project and created["domain_id"] == "default"
    assert project in c.osc(admin, "project", "list", "-f", "value", "-c", "Name").split()
    c.osc(admin, "user", "create", user, "--password", "Pw-of-the-user-3", "--project", project,
          "-f", "json")
    assert user in c.osc(admin, "user", "list", "-f", "value", "-c", "Name").split()
    c.osc(admin, "role", "add", "--project", project, "--user", user, "member")
    rows = c.osc(admin, "role", "assignment", "list", "--project", project, "--names",
                 "-f", "json")
    assert [(r["Role"], r["User"]) for r in rows] == [("member", f"{user}@Default")]
    c.osc(admin, "role", "remove", "--project", project, "--user", user, "member")
    assert c.osc(admin, "role", "assignment", "list", "--project", project, "-f", "json") == []
    c.osc(admin, "user", "delete", user)
    c.osc(admin, "project", "delete", project)
    assert project not in c.osc(admin, "project", "list", "-f", "value", "-c", "Name").split()
    c.osc_fails("neutrino-demo", "project", "create", unique("nope"))


def test_network_subnet_port_lifecycle_by_name(keystone_cloud):
    c, demo = keystone_cloud, "neutrino-demo"
    net, sub, port = unique("net"), unique("sub"), unique("port")
    created = c.osc(demo, "network", "create", net, "-f", "json")
    assert created["status"] == "ACTIVE" and created["admin_state_up"] is True
    subnet = c.osc(demo, "subnet", "create", sub, "--network", net, "--subnet-range",
                   "10.11.11.0/24", "-f", "json")
    assert subnet["gateway_ip"] == "10.11.11.1"
    assert subnet["allocation_pools"] == [{"start": "10.11.11.2", "end": "10.11.11.254"}]
    p = c.osc(demo, "port", "create", port, "--network", net, "--fixed-ip",
              f"subnet={sub},ip-address=10.11.11.50", "-f", "json")
    assert p["fixed_ips"][0]["ip_address"] == "10.11.11.50"
    assert net in c.osc(demo, "network", "list", "-f", "value", "-c", "Name").split()
    assert c.osc(demo, "subnet", "list", "--network", net, "-f", "value", "-c", "ID").split() == [
        subnet["id"]]
    assert p["id"] in c.osc(demo, "port", "list", "--network", net, "-f", "value", "-c", "ID")
    shown = c.osc(demo, "network", "show", net, "-f", "json")
    assert shown["subnets"] == [subnet["id"]]
    assert shown.get("provider:network_type") is None
    c.osc(demo, "network", "set", net, "--description", "renamed later")
    c.osc(demo, "subnet", "set", sub, "--dns-nameserver", "192.0.2.53")
    c.osc(demo, "port", "set", port, "--name", port + "-b")
    assert c.osc(demo, "network", "show", net, "-f", "json")["description"] == "renamed later"
    assert c.osc(demo, "subnet", "show", sub, "-f", "json")["dns_nameservers"] == ["192.0.2.53"]
    assert c.osc(demo, "port", "show", port + "-b", "-f", "json")["id"] == p["id"]
    c.osc(demo, "port", "delete", port + "-b")
    c.osc(demo, "subnet", "delete", sub)
    c.osc(demo, "network", "delete", net)
    c.osc_fails(demo, "network", "show", created["id"])
    assert net not in c.osc(demo, "network", "list", "-f", "value", "-c", "Name").split()


def test_admin_external_network_and_demo_limits(keystone_cloud):
    c = keystone_cloud
    name = unique("ext")
    ext = c.osc("neutrino-admin", "network", "create", name, "--external",
                "--provider-network-type", "vxlan", "-f", "json")
    assert ext["router:external"] is True and ext["provider:network_type"] == "vxlan"
    seen = c.osc("neutrino-demo", "network", "list", "--external", "-f", "value", "-c", "ID")
    assert ext["id"] in seen
    err = c.osc_fails("neutrino-demo", "network", "create", unique("x"), "--external")
    assert "403" in err or "disallowed by policy" in err
    c.osc("neutrino-admin", "network", "delete", ext["id"])


def test_agent_list_extensions_and_quotas(keystone_cloud):
    c = keystone_cloud
    c.osc("neutrino-admin", "network", "agent", "list", "-f", "json")
    aliases = c.osc("neutrino-admin", "extension", "list", "--network", "-f", "value",
                    "-c", "Alias").split()
    assert "quotas" in aliases and "external-net" in aliases
    rows = c.osc("neutrino-demo", "quota", "show", "-f", "json")
    quota = {row["Resource"]: row["Limit"] for row in rows}
    assert quota["networks"] == 100 and quota["ports"] == 500 and quota["routers"] == 10


SDK_SCENARIO = r"""
import json, sys, openstack
conn = openstack.connect(cloud="neutrino-demo")
name = sys.argv[1]
net = conn.network.create_network(name=name)
sub = conn.network.create_subnet(name=name, network_id=net.id, ip_version=4,
                                 cidr="10.22.0.0/24")
port = conn.network.create_port(name=name, network_id=net.id)
found = conn.network.find_network(name)
cloud_net = conn.get_network(name)
ports = [p.id for p in conn.network.ports(network_id=net.id)]
conn.network.update_port(port, description="sdk")
described = conn.network.get_port(port.id).description
conn.network.delete_port(port)
conn.delete_subnet(sub.id)
conn.network.delete_network(net)
gone = conn.network.find_network(name) is None
print(json.dumps({"net": net.id, "found": found.id, "cloud": cloud_net.id, "ports": ports,
                  "port": port.id, "ip": port.fixed_ips[0]["ip_address"],
                  "described": described, "gone": gone}))
"""


def test_openstacksdk_scenario(keystone_cloud):
    name = unique("sdk")
    out = keystone_cloud.sdk(SDK_SCENARIO, name)
    assert out["found"] == out["cloud"] == out["net"]
    assert out["port"] in out["ports"] and out["ip"].startswith("10.22.0.")
    assert out["described"] == "sdk" and out["gone"] is True


def test_seed_scenario_with_cli_smoke(keystone_cloud):
    """The harness's full seed scenario (router, floating IP, security group) as the demo user."""
    c = keystone_cloud
    aliases = set(c.osc("neutrino-admin", "extension", "list", "--network", "-f", "value",
                        "-c", "Alias").split())
    missing = SEED_EXTENSIONS - aliases
    if missing:
        pytest.skip(f"the server does not offer {sorted(missing)} yet")
    env = dict(c.env, OSC=str(c.venv / "bin" / "openstack"), SMOKE_PREFIX=unique("seed") + "-",
               SMOKE_ADMIN_PASSWORD=ADMIN_PASSWORD, SMOKE_USER="demo",
               SMOKE_PASSWORD=DEMO_PASSWORD, SMOKE_PROJECT="demo", SMOKE_TIMEOUT="180")
    done = subprocess.run(["bash", str(HARNESS / "cli-smoke.sh"), c.identity_url], env=env,
                          capture_output=True, text=True, timeout=3600)
    failures = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert done.returncode == 0 and not failures, "\n".join(failures) or done.stdout[-2000:]
    assert done.stdout.strip().splitlines()[-1].endswith(" 0 failed")


def test_clients_venv_is_outside_the_repository(clients_venv):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert not str(clients_venv.resolve()).startswith(repo + os.sep)
