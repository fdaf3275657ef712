"""The router namespace's iptables, as Neutron's L3 agent writes them (wrapper ``neutron-l3-agent``).

Built as a ``neutrino.linux.iptables.Ruleset`` (IPv4 only) that the driver
applies with one iptables-restore. Chains, rules and their order follow the
reference, section 6.2: address-scope marks for the one "no scope" scope,
the external ingress mark 0x2, the metadata mark 0x1 and REDIRECT to 9697,
router-wide SNAT (unless ``enable_snat`` is false) and per floating IP a DNAT
in PREROUTING and OUTPUT and an SNAT in ``float-snat``. A disabled router
(admin_state_up false) keeps only the skeleton.
"""
from __future__ import annotations

from neutrino.agents.l3.router_plan import INTERNAL_PREFIX, RouterPlan
from neutrino.linux.iptables import POSTROUTING_BOTTOM, ROUTER_WRAPPED, Ruleset, new_ruleset

WRAPPER = "neutron-l3-agent"
METADATA_CIDR = "169.254.169.254/32"
MARK_MASK = "0xffff"
METADATA_MARK = "0x1"
EXTERNAL_INGRESS_MARK = "0x2"
SCOPE_MASK = "0xffff0000"
NO_SCOPE_MARK = f"{hex(1024 << 16)}/{SCOPE_MASK}"      # 0x4000000/0xffff0000
RANDOM_FULLY = " --random-fully"
SNAT_COMMENT = "Perform source NAT on outgoing traffic."

RESTORE_MARK = (f"-m connmark ! --mark 0x0/{SCOPE_MASK} -j CONNMARK --restore-mark "
                f"--nfmask {SCOPE_MASK} --ctmask {SCOPE_MASK}")
SAVE_MARK = (f"-m connmark --mark 0x0/{SCOPE_MASK} -j CONNMARK --save-mark "
             f"--nfmask {SCOPE_MASK} --ctmask {SCOPE_MASK}")


def _skeleton() -> Ruleset:
    rs = new_ruleset(WRAPPER, ROUTER_WRAPPED, use_ipv6=False)
    mangle, nat, filt = rs.ipv4["mangle"], rs.ipv4["nat"], rs.ipv4["filter"]
    for chain in ("mark", "scope", "floatingip", "float-snat"):
        mangle.add_chain(chain)
    filt.add_chain("scope")
    filt.add_rule("FORWARD", "-j $scope")
    mangle.add_rule("PREROUTING", "-j $mark")
    mangle.add_rule("PREROUTING", "-j $scope")
    mangle.add_rule("PREROUTING", RESTORE_MARK)
    mangle.add_rule("PREROUTING", "-j $floatingip")
    mangle.add_rule("float-snat", SAVE_MARK)
    nat.add_chain("snat")
    nat.add_chain("float-snat")
    nat.add_rule(POSTROUTING_BOTTOM, "-j $snat", wrap=False, comment=SNAT_COMMENT)
    nat.add_rule("snat", "-j $float-snat")
    return rs


def _metadata(rs: Ruleset, port: int) -> None:
    match = f"-d {METADATA_CIDR} -i {INTERNAL_PREFIX}+ -p tcp -m tcp --dport 80"
    rs.ipv4["filter"].add_rule("INPUT", f"-m mark --mark {METADATA_MARK}/{MARK_MASK} -j ACCEPT")
    rs.ipv4["filter"].add_rule("INPUT", f"-p tcp -m tcp --dport {port} -j DROP")
    rs.ipv4["mangle"].add_rule("PREROUTING",
                               f"{match} -j MARK --set-xmark {METADATA_MARK}/{MARK_MASK}")
    rs.ipv4["nat"].add_rule("PREROUTING", f"{match} -j REDIRECT --to-ports {port}")


def _scope(rs: Ruleset, plan: RouterPlan) -> None:
    mangle, filt = rs.ipv4["mangle"], rs.ipv4["filter"]
    for port in plan.ports:
        if not port.cidrs:
            continue
        mangle.add_rule("scope", f"-i {port.name} -j MARK --set-xmark {NO_SCOPE_MARK}")
        if port is plan.gateway and plan.enable_snat:
            continue        # SNAT makes the gateway reachable from every scope
        filt.add_rule("scope", f"-o {port.name} -m mark ! --mark {NO_SCOPE_MARK} -j DROP")


def _gateway(rs: Ruleset, plan: RouterPlan) -> None:
    gw, ip = plan.gateway.name, plan.gateway_ip
    mangle, nat = rs.ipv4["mangle"], rs.ipv4["nat"]
    if plan.enable_snat:
        mangle.add_rule("POSTROUTING", f"-o {gw} {SAVE_MARK}")
        nat.add_rule("snat", f"-o {gw} -j SNAT --to-source {ip}{RANDOM_FULLY}")
    nat.add_rule("POSTROUTING", f"! -o {gw} -m conntrack ! --ctstate DNAT -j ACCEPT")
    nat.add_rule("snat", f"-m mark ! --mark {EXTERNAL_INGRESS_MARK}/{MARK_MASK} "
                         f"-m conntrack --ctstate DNAT -j SNAT --to-source {ip}{RANDOM_FULLY}")
    mangle.add_rule("mark", f"-i {gw} -j MARK --set-xmark {EXTERNAL_INGRESS_MARK}/{MARK_MASK}")


def _floating_ips(rs: Ruleset, plan: RouterPlan) -> None:
    nat = rs.ipv4["nat"]
    for fip in plan.floating_ips:
        nat.add_rule("PREROUTING", f"-d {fip.floating_ip}/32 -j DNAT --to-destination {fip.fixed_ip}")
        nat.add_rule("OUTPUT", f"-d {fip.floating_ip}/32 -j DNAT --to-destination {fip.fixed_ip}")
        nat.add_rule("float-snat",
                     f"-s {fip.fixed_ip}/32 -j SNAT --to-source {fip.floating_ip}{RANDOM_FULLY}")


def build_ruleset(plan: RouterPlan) -> Ruleset:
    rs = _skeleton()
    if not plan.enabled:
        return rs
    _metadata(rs, plan.metadata_port)
    _scope(rs, plan)
    if plan.gateway is not None and plan.gateway_ip:
        _gateway(rs, plan)
        _floating_ips(rs, plan)
    return rs
