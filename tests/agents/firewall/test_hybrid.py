"""The hybrid ruleset against Neutron's iptables-save text, written out by hand
from section 5 of the ML2/OVS reference."""
from neutrino.agents.firewall.hybrid import allocate_zones, build, ipset_name

PORT_ID = "0695f2ca-bf12-4c2e-9a43-5a3d1f1c7e01"
PEER_ID = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
SG = "e7b85005-a11b-405e-a60f-7f4c4d0f1a2b"
WEB = "11111111-2222-4333-8444-555555555555"


def port(pid=PORT_ID, ip="10.0.0.5", mac="fa:16:3e:99:44:9e", groups=(SG,), **kw):
    p = {"id": pid, "mac_address": mac,
         "fixed_ips": [{"subnet_id": "sub", "ip_address": ip}] if ip else [],
         "device_owner": "compute:nova", "port_security_enabled": True,
         "security_groups": list(groups), "allowed_address_pairs": []}
    p.update(kw)
    return p


def sg_rule(rid, direction, ethertype="IPv4", sg=SG, **kw):
    r = {"id": rid, "direction": direction, "ethertype": ethertype, "protocol": None,
         "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
         "remote_group_id": None, "security_group_id": sg}
    r.update(kw)
    return r


DEFAULT_GROUP = {SG: {"id": SG, "stateful": True, "security_group_rules": [
    sg_rule("eg4", "egress"), sg_rule("eg6", "egress", "IPv6"),
    sg_rule("in4", "ingress", remote_group_id=SG),
    sg_rule("in6", "ingress", "IPv6", remote_group_id=SG)]}}


def lines(plan, family="ipv4", table="filter"):
    return [ln for ln in plan.ruleset.render(family).split("COMMIT")[
        ["filter", "raw", "nat"].index(table)].splitlines() if ln.startswith("-A ")]


def chain(plan, name, family="ipv4", table="filter"):
    prefix = f"-A {name} "
    return [ln[len(prefix):] for ln in lines(plan, family, table) if ln.startswith(prefix)]


def test_default_group_port_matches_neutron_text():
    plan = build([port()], DEFAULT_GROUP, {SG: ["10.0.0.5", "10.0.0.6"]})
    i, o, s = ("neutron-openvswi-i0695f2ca-b", "neutron-openvswi-o0695f2ca-b",
               "neutron-openvswi-s0695f2ca-b")
    assert lines(plan) == [
        "-A INPUT -j neutron-openvswi-INPUT",
        "-A FORWARD -j neutron-filter-top",
        "-A FORWARD -j neutron-openvswi-FORWARD",
        "-A OUTPUT -j neutron-filter-top",
        "-A OUTPUT -j neutron-openvswi-OUTPUT",
        "-A neutron-filter-top -j neutron-openvswi-local",
        "-A neutron-openvswi-FORWARD -m physdev --physdev-out tap0695f2ca-bf --physdev-is-bridged"
        ' -m comment --comment "Direct traffic from the VM interface to the security group'
        ' chain." -j neutron-openvswi-sg-chain',
        "-A neutron-openvswi-FORWARD -m physdev --physdev-in tap0695f2ca-bf --physdev-is-bridged"
        ' -m comment --comment "Direct traffic from the VM interface to the security group'
        ' chain." -j neutron-openvswi-sg-chain',
        "-A neutron-openvswi-INPUT -m physdev --physdev-in tap0695f2ca-bf --physdev-is-bridged"
        ' -m comment --comment "Direct incoming traffic from VM to the security group chain."'
        f" -j {o}",
        f"-A {i} -m state --state RELATED,ESTABLISHED -m comment --comment \"Direct packets"
        ' associated with a known session to the RETURN chain." -j RETURN',
        f"-A {i} -d 10.0.0.5/32 -p udp -m udp --sport 67 --dport 68 -j RETURN",
        f"-A {i} -d 255.255.255.255/32 -p udp -m udp --sport 67 --dport 68 -j RETURN",
        f"-A {i} -m set --match-set NIPv4e7b85005-a11b-405e-a60f- src -j RETURN",
        f"-A {i} -m state --state INVALID -m comment --comment \"Drop packets that appear"
        " related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in"
        ' conntrack." -j DROP',
        f'-A {i} -m comment --comment "Send unmatched traffic to the fallback chain."'
        " -j neutron-openvswi-sg-fallback",
        f"-A {o} -s 0.0.0.0/32 -d 255.255.255.255/32 -p udp -m udp --sport 68 --dport 67"
        ' -m comment --comment "Allow DHCP client traffic." -j RETURN',
        f"-A {o} -j {s}",
        f'-A {o} -p udp -m udp --sport 68 --dport 67 -m comment --comment "Allow DHCP client'
        ' traffic." -j RETURN',
        f'-A {o} -p udp -m udp --sport 67 --dport 68 -m comment --comment "Prevent DHCP'
        ' Spoofing by VM." -j DROP',
        f"-A {o} -m state --state RELATED,ESTABLISHED -m comment --comment \"Direct packets"
        ' associated with a known session to the RETURN chain." -j RETURN',
        f"-A {o} -j RETURN",
        f"-A {o} -m state --state INVALID -m comment --comment \"Drop packets that appear"
        " related to an existing connection (e.g. TCP ACK/FIN) but do not have an entry in"
        ' conntrack." -j DROP',
        f'-A {o} -m comment --comment "Send unmatched traffic to the fallback chain."'
        " -j neutron-openvswi-sg-fallback",
        f"-A {s} -s 10.0.0.5/32 -m mac --mac-source FA:16:3E:99:44:9E -m comment --comment"
        ' "Allow traffic from defined IP/MAC pairs." -j RETURN',
        f'-A {s} -m comment --comment "Drop traffic without an IP/MAC allow rule." -j DROP',
        "-A neutron-openvswi-sg-chain -m physdev --physdev-out tap0695f2ca-bf"
        ' --physdev-is-bridged -m comment --comment "Jump to the VM specific chain."'
        f" -j {i}",
        "-A neutron-openvswi-sg-chain -m physdev --physdev-in tap0695f2ca-bf"
        ' --physdev-is-bridged -m comment --comment "Jump to the VM specific chain."'
        f" -j {o}",
        "-A neutron-openvswi-sg-chain -j ACCEPT",
        '-A neutron-openvswi-sg-fallback -m comment --comment "Default drop rule for unmatched'
        ' traffic." -j DROP',
    ]
    assert plan.ipsets[ipset_name(SG, "IPv4")].members == {"10.0.0.5", "10.0.0.6"}
    assert ipset_name(SG, "IPv4") == "NIPv4e7b85005-a11b-405e-a60f-"
    assert len(ipset_name(SG, "IPv4")) == 29


def test_conntrack_zone_rules_in_raw():
    plan = build([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    raw = chain(plan, "neutron-openvswi-PREROUTING", table="raw")
    comment = f'-m comment --comment "Set zone for {PORT_ID}"'
    assert raw[:3] == [
        f"-m physdev --physdev-in qvb0695f2ca-bf {comment} -j CT --zone 4097",
        f"-i qvb0695f2ca-bf {comment} -j CT --zone 4097",
        f"-m physdev --physdev-in tap0695f2ca-bf {comment} -j CT --zone 4097",
    ]
    assert raw[3].endswith("-j CT --zone 4098") and "qvb7c1d2e3f-4a" in raw[3]
    assert chain(plan, "neutron-openvswi-PREROUTING", "ipv6", "raw") == raw
    assert plan.zones == {PORT_ID: 4097, PEER_ID: 4098}


def test_stateless_group_untracks_the_port():
    groups = {SG: dict(DEFAULT_GROUP[SG], stateful=False)}
    raw = chain(build([port()], groups, {}), "neutron-openvswi-PREROUTING", table="raw")
    assert raw[1] == (f'-i qvb0695f2ca-bf -m comment --comment "Make {PORT_ID} stateless"'
                      " -j CT --notrack")


def test_zones_are_kept_and_gaps_reused():
    assert allocate_zones(["a", "b", "c"], {"b": 4097}) == {"b": 4097, "a": 4098, "c": 4099}
    assert allocate_zones(["c", "d"], {"a": 4097, "c": 4099}) == {"c": 4099, "d": 4097}


def test_port_security_off_accepts_everything():
    plan = build([port(port_security_enabled=False, groups=())], {}, {})
    ps = ' -m comment --comment "Accept all packets when port security is disabled." -j ACCEPT'
    assert chain(plan, "neutron-openvswi-FORWARD") == [
        "-m physdev --physdev-out tap0695f2ca-bf --physdev-is-bridged" + ps,
        "-m physdev --physdev-in tap0695f2ca-bf --physdev-is-bridged" + ps]
    assert chain(plan, "neutron-openvswi-INPUT") == [
        "-m physdev --physdev-in tap0695f2ca-bf --physdev-is-bridged" + ps]
    assert not any("0695f2ca-b " in ln or "i0695f2ca" in ln for ln in lines(plan))
    assert chain(plan, "neutron-openvswi-PREROUTING", table="raw") == []
    trusted = ' -m comment --comment "Accept all packets when port is trusted." -j ACCEPT'
    assert chain(plan, "neutron-openvswi-PREROUTING", table="nat") == [
        "-m physdev --physdev-out tap0695f2ca-bf" + trusted,
        "-m physdev --physdev-in tap0695f2ca-bf" + trusted]
    assert plan.zones == {}


def test_spoof_chain_pairs_first_mac_upper_case():
    p = port(allowed_address_pairs=[{"ip_address": "10.0.0.100"},
                                    {"ip_address": "192.168.7.9/24",
                                     "mac_address": "fa:16:3e:aa:bb:cc"}])
    spoof = chain(build([p], DEFAULT_GROUP, {}), "neutron-openvswi-s0695f2ca-b")
    allow = ' -m comment --comment "Allow traffic from defined IP/MAC pairs." -j RETURN'
    assert spoof == [
        "-s 10.0.0.100/32 -m mac --mac-source FA:16:3E:99:44:9E" + allow,
        "-s 192.168.7.0/24 -m mac --mac-source FA:16:3E:AA:BB:CC" + allow,
        "-s 10.0.0.5/32 -m mac --mac-source FA:16:3E:99:44:9E" + allow,
        '-m comment --comment "Drop traffic without an IP/MAC allow rule." -j DROP']


def test_port_without_ips_is_held_to_its_mac():
    spoof = chain(build([port(ip=None)], DEFAULT_GROUP, {}), "neutron-openvswi-s0695f2ca-b")
    assert spoof[0] == ("-m mac --mac-source FA:16:3E:99:44:9E -m comment --comment"
                        ' "Allow traffic from defined IP/MAC pairs." -j RETURN')


def test_ipv6_fixed_rules():
    p = port(fixed_ips=[{"ip_address": "10.0.0.5"}, {"ip_address": "2001:db8::5"}])
    plan = build([p], DEFAULT_GROUP, {SG: ["10.0.0.5", "2001:db8::5"]})
    ingress = chain(plan, "neutron-openvswi-i0695f2ca-b", "ipv6")
    assert ingress[:3] == [f"-p ipv6-icmp -m icmp6 --icmpv6-type {t} -j RETURN"
                           for t in (130, 135, 136)]
    assert ingress[4:7] == [
        "-d 2001:db8::5/128 -p udp -m udp --sport 547 --dport 546 -j RETURN",
        "-d fe80::/64 -p udp -m udp --sport 547 --dport 546 -j RETURN",
        "-m set --match-set NIPv6e7b85005-a11b-405e-a60f- src -j RETURN"]
    egress = chain(plan, "neutron-openvswi-o0695f2ca-b", "ipv6")
    icmp = ' -m comment --comment "Allow IPv6 ICMP traffic." -j RETURN'
    assert egress[:9] == [
        "-s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type 131" + icmp,
        "-s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type 135" + icmp,
        "-s ::/128 -d ff02::/16 -p ipv6-icmp -m icmp6 --icmpv6-type 143" + icmp,
        "-j neutron-openvswi-s0695f2ca-b",
        '-p ipv6-icmp -m icmp6 --icmpv6-type 134 -m comment --comment "Drop IPv6 Router Advts'
        ' from VM Instance." -j DROP',
        "-p ipv6-icmp" + icmp,
        '-p udp -m udp --sport 546 --dport 547 -m comment --comment "Allow DHCP client'
        ' traffic." -j RETURN',
        '-p udp -m udp --sport 547 --dport 546 -m comment --comment "Prevent DHCP Spoofing by'
        ' VM." -j DROP',
        "-m state --state RELATED,ESTABLISHED -m comment --comment \"Direct packets associated"
        ' with a known session to the RETURN chain." -j RETURN']
    spoof = chain(plan, "neutron-openvswi-s0695f2ca-b", "ipv6")
    assert spoof[:2] == [
        "-s 2001:db8::5/128 -m mac --mac-source FA:16:3E:99:44:9E -m comment --comment"
        ' "Allow traffic from defined IP/MAC pairs." -j RETURN',
        "-s fe80::f816:3eff:fe99:449e/128 -m mac --mac-source FA:16:3E:99:44:9E -m comment"
        ' --comment "Allow traffic from defined IP/MAC pairs." -j RETURN']


def test_rules_of_two_groups_are_deduplicated_and_keep_both_origins():
    groups = {SG: {"stateful": True, "security_group_rules": [
                  sg_rule("ssh-a", "ingress", protocol="tcp", port_range_min=22,
                          port_range_max=22, remote_ip_prefix="0.0.0.0/0")]},
              WEB: {"stateful": True, "security_group_rules": [
                  sg_rule("ssh-b", "ingress", sg=WEB, protocol="6", port_range_min=22,
                          port_range_max=22),
                  sg_rule("web", "ingress", sg=WEB, protocol="tcp", port_range_min=80,
                          port_range_max=443, remote_ip_prefix="203.0.113.0/24"),
                  sg_rule("v6-only", "ingress", "IPv6", sg=WEB, remote_ip_prefix="2001:db8::/64"),
                  sg_rule("mismatch", "ingress", sg=WEB, remote_ip_prefix="2001:db8::/64"),
                  sg_rule("empty-remote", "ingress", sg=WEB, remote_group_id=SG)]}}
    plan = build([port(groups=(SG, WEB))], groups, {})
    ingress = chain(plan, "neutron-openvswi-i0695f2ca-b")
    assert ingress[3:5] == ["-p tcp -m tcp --dport 22 -j RETURN",
                            "-s 203.0.113.0/24 -p tcp -m tcp -m multiport --dports 80:443"
                            " -j RETURN"]
    assert "INVALID" in ingress[5]
    assert plan.ipsets == {}
    origins = {r.rule: r.sg_rule_ids for r in plan.port_rules[PORT_ID]}
    assert origins["-p tcp -m tcp --dport 22 -j RETURN"] == ("ssh-a", "ssh-b")
    assert origins["-d 10.0.0.5/32 -p udp -m udp --sport 67 --dport 68 -j RETURN"] == ()
    v6 = chain(plan, "neutron-openvswi-i0695f2ca-b", "ipv6")
    assert "-s 2001:db8::/64 -j RETURN" in v6
    assert not any("2001:db8" in ln for ln in ingress)


def test_port_rules_cover_every_rule_that_names_the_port():
    plan = build([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    mine = plan.port_rules[PORT_ID]
    assert {(r.table, r.chain) for r in mine} >= {
        ("filter", "neutron-openvswi-FORWARD"), ("filter", "neutron-openvswi-INPUT"),
        ("filter", "neutron-openvswi-sg-chain"), ("filter", "neutron-openvswi-i0695f2ca-b"),
        ("filter", "neutron-openvswi-o0695f2ca-b"), ("filter", "neutron-openvswi-s0695f2ca-b"),
        ("raw", "neutron-openvswi-PREROUTING"), ("nat", "neutron-openvswi-PREROUTING")}
    assert not any("7c1d2e3f" in r.rule or "7c1d2e3f" in r.chain for r in mine)


def test_network_owned_ports_are_trusted():
    dhcp = port(device_owner="network:dhcp", groups=())
    plan = build([dhcp], {}, {})
    assert chain(plan, "neutron-openvswi-FORWARD") == [
        "-m physdev --physdev-out tap0695f2ca-bf --physdev-is-bridged -m comment --comment"
        ' "Accept all packets when port is trusted." -j ACCEPT',
        "-m physdev --physdev-in tap0695f2ca-bf --physdev-is-bridged -m comment --comment"
        ' "Accept all packets when port is trusted." -j ACCEPT']
    assert plan.zones == {}


def test_same_input_same_output():
    a = build([port(), port(PEER_ID, "10.0.0.6")], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    b = build([port(PEER_ID, "10.0.0.6"), port()], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    assert a.ruleset.render("ipv4") == b.ruleset.render("ipv4")


def test_neutron_agent_shapes_are_accepted():
    device = dict(port(), device=PORT_ID, port_id=PORT_ID)
    del device["id"]
    rules = DEFAULT_GROUP[SG]["security_group_rules"]
    plan = build([device], {SG: rules}, {SG: {"IPv4": [("10.0.0.5", "fa:16:3e:99:44:9e")],
                                               "IPv6": []}})
    expected = build([port()], DEFAULT_GROUP, {SG: ["10.0.0.5"]})
    assert plan.ruleset.render("ipv4") == expected.ruleset.render("ipv4")
    assert plan.ipsets == expected.ipsets
    stateless = build([device], {SG: [dict(r, stateful=False) for r in rules]}, {})
    assert "CT --notrack" in stateless.ruleset.render("ipv4")


def test_address_pair_for_any_source_is_written_as_iptables_prints_it():
    p = port(allowed_address_pairs=[{"ip_address": "0.0.0.0/0"}])
    spoof = chain(build([p], DEFAULT_GROUP, {}), "neutron-openvswi-s0695f2ca-b")
    assert spoof[0] == ("-m mac --mac-source FA:16:3E:99:44:9E -m comment --comment"
                        ' "Allow traffic from defined IP/MAC pairs." -j RETURN')
