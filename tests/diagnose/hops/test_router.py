"""Router hops over a made-up snapshot: forwarding, route, SNAT, floating IP, em4."""
from neutrino.diagnose.context import Ctx
from neutrino.diagnose.endpoints import Endpoint
from neutrino.diagnose.hops import router
from neutrino.diagnose.snapshot import Link, Namespace, Node, Snapshot
from neutrino.lab.layout import Lab

RID = "r" * 36
NS = f"qrouter-{RID}"
QR = "qr-" + "p" * 11
QG = "qg-" + "g" * 11
NAT = f"""*nat
:neutron-l3-agent-snat - [0:0]
:neutron-l3-agent-float-snat - [0:0]
-A neutron-l3-agent-snat -o {QG} -j SNAT --to-source 203.0.113.5 --random-fully
-A neutron-l3-agent-float-snat -s 10.0.0.7/32 -j SNAT --to-source 203.0.113.9 --random-fully
COMMIT
"""


def _ctx(ip_forward=True, nat=NAT, em4_up=True, enable_snat=True, fips=()):
    ns = Namespace(NS, {QR: Link(QR, None, 1450, True, "m", ["10.0.0.1/24"], None, None),
                        QG: Link(QG, None, 1500, True, "n", ["203.0.113.5/24"], None, None)},
                   routes=[{"dst": "default", "gateway": "203.0.113.1", "dev": QG},
                           {"dst": "10.0.0.0/24", "dev": QR}], ip_forward=ip_forward, nat=nat)
    node = Node("controller", "10.168.7.10", True, True,
                bridges={"br-int": ["int-br-ex", QR, QG], "br-ex": ["em4", "phy-br-ex"]},
                namespaces={NS: ns})
    node.root.links["em4"] = Link("em4", "veth", 1500, em4_up, "e", [], None, None)
    snap = Snapshot(Lab("x", "/tmp/x"), {"controller": node}, {})
    snap.routers = [{"id": RID, "name": "r1", "external_gateway_info": {
        "network_id": "ext", "enable_snat": enable_snat}}]
    snap.floatingips = list(fips)
    return Ctx(snap.lab, snap)


SRC = Endpoint("instance", "vm1", "10.0.0.7", "fa", "compute01", "net", "port", instance="vm1")
RTR = Endpoint("router", "router", "10.0.0.1", "fb", "controller", "net", "p" * 36, netns=NS)


def test_snat_through_the_gateway_to_em4():
    hops = router.hops(_ctx(), SRC, RTR, "198.51.100.1")
    assert all(h.ok for h in hops), [h.reason for h in hops]
    assert [h.device for h in hops] == [QR, NS, QG, "br-ex", "em4"]
    assert "SNAT 10.0.0.7 -> 203.0.113.5" in hops[2].what


def test_floating_ip_names_its_id():
    fip = {"id": "fip-1", "floating_ip_address": "203.0.113.9", "fixed_ip_address": "10.0.0.7",
           "port_id": "port", "router_id": RID}
    hops = router.hops(_ctx(fips=[fip]), SRC, RTR, "198.51.100.1")
    assert "floating IP fip-1" in hops[2].what and hops[2].ok


def test_ip_forward_off_is_the_drop_with_a_sysctl_fix():
    hops = router.hops(_ctx(ip_forward=False), SRC, RTR, "198.51.100.1")
    assert not hops[-1].ok and "forwarding is off" in hops[-1].reason
    assert "net.ipv4.ip_forward=1" in hops[-1].fix


def test_snat_disabled_without_floating_ip():
    nat = NAT.replace(f"-A neutron-l3-agent-snat -o {QG} -j SNAT --to-source 203.0.113.5 "
                      "--random-fully\n", "")
    hops = router.hops(_ctx(nat=nat, enable_snat=False), SRC, RTR, "198.51.100.1")
    assert not hops[-1].ok and "SNAT is disabled" in hops[-1].reason
    assert hops[-1].fix_api["body"]["router"]["external_gateway_info"]["enable_snat"] is True


def test_em4_down():
    hops = router.hops(_ctx(em4_up=False), SRC, RTR, "198.51.100.1")
    assert hops[-1].device == "em4" and not hops[-1].ok
    assert hops[-1].fix.endswith("ip link set em4 up")


def test_no_gateway_means_no_route():
    ctx = _ctx()
    ns = ctx.snap.nodes["controller"].namespaces[NS]
    ns.routes = [r for r in ns.routes if r["dst"] != "default"]
    ctx.snap.routers[0]["external_gateway_info"] = None
    hops = router.hops(ctx, SRC, RTR, "198.51.100.1")
    assert "no route to 198.51.100.1" in hops[-1].reason
    assert hops[-1].fix.startswith("openstack router set --external-gateway")
