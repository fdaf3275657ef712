from neutrino.agents.l3.router_plan import build_plan, external_name, internal_name

from tests.agents.l3.fakes import GW_PORT, QR_PORT, ROUTER, router


def test_names_follow_neutron():
    assert internal_name(QR_PORT) == "qr-4742c3a4-a5"
    assert external_name(GW_PORT) == "qg-1270ddd4-bb"
    assert build_plan(router()).namespace == f"qrouter-{ROUTER}"


def test_plan_of_a_router_with_gateway_interface_and_floating_ip():
    plan = build_plan(router(routes=[("10.9.0.0/16", "10.0.0.254")]))
    (qr,) = plan.internal
    assert (qr.name, qr.mac, qr.mtu, qr.cidrs) == ("qr-4742c3a4-a5", "fa:16:3e:bb:00:01",
                                                   1450, ("10.0.0.1/24",))
    assert plan.gateway.name == "qg-1270ddd4-bb" and plan.gateway.mtu == 1500
    assert plan.gateway_ip == "172.24.4.10"
    assert plan.gateway_cidrs == ("172.24.4.10/24", "172.24.4.20/32")
    assert plan.default_gateway == "172.24.4.1" and not plan.gateway_onlink
    assert plan.routes == (("10.9.0.0/16", "10.0.0.254"),)
    assert [(f.floating_ip, f.fixed_ip) for f in plan.floating_ips] == [("172.24.4.20",
                                                                        "10.0.0.57")]
    assert plan.sysctls["net.ipv4.ip_forward"] == 1
    assert plan.sysctls["net.netfilter.nf_conntrack_tcp_be_liberal"] == 1


def test_gateway_outside_the_subnet_is_onlink():
    plan = build_plan(router(ext_gateway="172.25.0.1"))
    assert plan.default_gateway == "172.25.0.1" and plan.gateway_onlink


def test_unassociated_floating_ips_and_no_gateway():
    r = router()
    r["_floatingips"].append({"id": "x", "floating_ip_address": "172.24.4.30",
                              "fixed_ip_address": None, "port_id": None, "status": "DOWN"})
    assert len(build_plan(r).floating_ips) == 1
    plan = build_plan(router(gateway=None))
    assert plan.gateway is None and plan.gateway_cidrs == () and plan.floating_ips == ()
    assert plan.ports == plan.internal


def test_enable_snat_from_gateway_info_when_top_level_missing():
    r = router(enable_snat=False)
    del r["enable_snat"]
    assert build_plan(r).enable_snat is False


def test_admin_down_router_keeps_its_ports_bare_and_forwards_nothing():
    r = router(routes=[("10.9.0.0/16", "10.0.0.254")])
    r["admin_state_up"] = False
    plan = build_plan(r)
    assert not plan.enabled
    assert [p.name for p in plan.ports] == ["qr-4742c3a4-a5", "qg-1270ddd4-bb"]
    assert all(p.cidrs == () for p in plan.ports) and plan.gateway_cidrs == ()
    assert plan.floating_ips == () and plan.routes == () and plan.default_gateway is None
    assert plan.gateway_ip is None and plan.sysctls["net.ipv4.ip_forward"] == 0
    assert build_plan(router()).enabled
