"""The router's rules against the reference's section 6.2, line for line."""
from neutrino.agents.l3.router_iptables import build_ruleset
from neutrino.agents.l3.router_plan import build_plan

from tests.agents.l3.fakes import router

G, QG, QR, F, P = "172.24.4.10", "qg-1270ddd4-bb", "qr-4742c3a4-a5", "172.24.4.20", "10.0.0.57"
W = "neutron-l3-agent"

# Section 6.2 with G, qg-X, qr-Y, F, P filled in and --random-fully (iptables >= 1.6.2).
SECTION_6_2 = {
    "mangle": f"""
-A {W}-PREROUTING -j {W}-mark
-A {W}-PREROUTING -j {W}-scope
-A {W}-PREROUTING -m connmark ! --mark 0x0/0xffff0000 -j CONNMARK --restore-mark --nfmask 0xffff0000 --ctmask 0xffff0000
-A {W}-PREROUTING -j {W}-floatingip
-A {W}-PREROUTING -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j MARK --set-xmark 0x1/0xffff
-A {W}-float-snat -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000
-A {W}-mark -i {QG} -j MARK --set-xmark 0x2/0xffff
-A {W}-scope -i {QR} -j MARK --set-xmark 0x4000000/0xffff0000
-A {W}-scope -i {QG} -j MARK --set-xmark 0x4000000/0xffff0000
-A {W}-POSTROUTING -o {QG} -m connmark --mark 0x0/0xffff0000 -j CONNMARK --save-mark --nfmask 0xffff0000 --ctmask 0xffff0000
""",
    "nat": f"""
-A {W}-PREROUTING -d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 9697
-A {W}-PREROUTING -d {F}/32 -j DNAT --to-destination {P}
-A {W}-OUTPUT     -d {F}/32 -j DNAT --to-destination {P}
-A {W}-POSTROUTING ! -o {QG} -m conntrack ! --ctstate DNAT -j ACCEPT
-A {W}-float-snat -s {P}/32 -j SNAT --to-source {F} --random-fully
-A {W}-snat -j {W}-float-snat
-A {W}-snat -o {QG} -j SNAT --to-source {G} --random-fully
-A {W}-snat -m mark ! --mark 0x2/0xffff -m conntrack --ctstate DNAT -j SNAT --to-source {G} --random-fully
""",
    "filter": f"""
-A {W}-FORWARD -j {W}-scope
-A {W}-INPUT -m mark --mark 0x1/0xffff -j ACCEPT
-A {W}-INPUT -p tcp -m tcp --dport 9697 -j DROP
-A {W}-scope -o {QR} -m mark ! --mark 0x4000000/0xffff0000 -j DROP
""",
}

# The skeleton IptablesManager adds around them (jumps from builtin and shared chains).
SKELETON = {
    "mangle": [f"-A {c} -j {W}-{c}" for c in ("PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                               "POSTROUTING")],
    "nat": [f"-A {c} -j {W}-{c}" for c in ("PREROUTING", "OUTPUT", "POSTROUTING")]
    + ["-A POSTROUTING -j neutron-postrouting-bottom",
       '-A neutron-postrouting-bottom -m comment --comment '
       f'"Perform source NAT on outgoing traffic." -j {W}-snat'],
    "filter": [f"-A INPUT -j {W}-INPUT", "-A FORWARD -j neutron-filter-top",
               f"-A FORWARD -j {W}-FORWARD", "-A OUTPUT -j neutron-filter-top",
               f"-A OUTPUT -j {W}-OUTPUT", f"-A neutron-filter-top -j {W}-local"],
}


def rules(ruleset, table):
    """Rules of ``table`` as ``-A chain rule`` lines, per chain in iptables-save order."""
    t = ruleset.ipv4[table]
    return [f"-A {chain} {rule}" for chain in t.chains for rule in t.rules(chain)]


def by_chain(lines):
    out = {}
    for line in lines:
        _, chain, rule = " ".join(line.split()).split(" ", 2)
        out.setdefault(chain, []).append(rule)
    return out


def expected(table, text=None):
    listed = [ln for ln in (text or SECTION_6_2[table]).strip().splitlines()]
    return by_chain(listed + SKELETON[table])


def test_rules_equal_section_6_2():
    rs = build_ruleset(build_plan(router()))
    for table in ("mangle", "nat", "filter"):
        assert by_chain(rules(rs, table)) == expected(table), table
    assert rs.families == ("ipv4",)


def test_chains_as_neutron_names_them():
    rs = build_ruleset(build_plan(router()))
    assert {f"{W}-{c}" for c in ("mark", "scope", "floatingip", "float-snat")} <= \
        set(rs.ipv4["mangle"].chains)
    assert {f"{W}-snat", f"{W}-float-snat", "neutron-postrouting-bottom"} <= \
        set(rs.ipv4["nat"].chains)


def test_enable_snat_false_removes_router_snat_only():
    rs = build_ruleset(build_plan(router(enable_snat=False)))
    nat = by_chain(rules(rs, "nat"))
    snat_on = expected("nat")
    assert nat[f"{W}-snat"] == [r for r in snat_on[f"{W}-snat"] if not r.startswith("-o ")]
    assert nat[f"{W}-float-snat"] == snat_on[f"{W}-float-snat"]       # floating IPs keep NAT
    assert nat[f"{W}-PREROUTING"] == snat_on[f"{W}-PREROUTING"]
    mangle = by_chain(rules(rs, "mangle"))
    assert f"{W}-POSTROUTING" not in mangle or not mangle[f"{W}-POSTROUTING"]
    # Without SNAT the gateway port is blocked for other scopes like the internal ones.
    assert by_chain(rules(rs, "filter"))[f"{W}-scope"] == [
        f"-o {QR} -m mark ! --mark 0x4000000/0xffff0000 -j DROP",
        f"-o {QG} -m mark ! --mark 0x4000000/0xffff0000 -j DROP"]


def test_router_without_gateway_has_metadata_and_scope_only():
    rs = build_ruleset(build_plan(router(gateway=None)))
    nat = by_chain(rules(rs, "nat"))
    assert nat[f"{W}-PREROUTING"] == [
        "-d 169.254.169.254/32 -i qr-+ -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 9697"]
    assert nat[f"{W}-snat"] == [f"-j {W}-float-snat"]
    assert f"{W}-POSTROUTING" not in nat
    assert "SNAT" not in "\n".join(rules(rs, "nat")).replace(f"{W}-float-snat", "")


def test_floating_ips_in_the_servers_order():
    rs = build_ruleset(build_plan(router(fips=(("172.24.4.30", "10.0.0.8"),
                                               ("172.24.4.21", "10.0.0.7")))))
    nat = by_chain(rules(rs, "nat"))
    assert nat[f"{W}-float-snat"] == [
        "-s 10.0.0.8/32 -j SNAT --to-source 172.24.4.30 --random-fully",
        "-s 10.0.0.7/32 -j SNAT --to-source 172.24.4.21 --random-fully"]
    assert nat[f"{W}-OUTPUT"] == ["-d 172.24.4.30/32 -j DNAT --to-destination 10.0.0.8",
                                  "-d 172.24.4.21/32 -j DNAT --to-destination 10.0.0.7"]


def test_admin_down_router_has_the_skeleton_only():
    r = router()
    r["admin_state_up"] = False
    nat = "\n".join(rules(build_ruleset(build_plan(r)), "nat"))
    assert "REDIRECT" not in nat and "DNAT" not in nat
    assert "SNAT" not in nat.replace(f"{W}-float-snat", "")
    assert "-j MARK" not in "\n".join(rules(build_ruleset(build_plan(r)), "mangle"))
