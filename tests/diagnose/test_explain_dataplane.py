"""Acceptance of issue 6 on a real lab: healthy pairs are delivered (and fast);
every fault drill is named at the right hop and its printed fix restores the path."""
from __future__ import annotations

import shlex
import subprocess
import time

import pytest

from tests.diagnose.conftest import BIN, OUTSIDE

pytestmark = pytest.mark.dataplane

PAIRS = [("vm1", "vm2", ()), ("vm1", "vm3", ()), ("vm2", "vm3", ()), ("vm3", "vm2", ()),
         ("vm1", "dhcp", ("--proto", "udp", "--port", "67")),
         ("vm2", "dhcp", ("--proto", "udp", "--port", "67"))]


@pytest.mark.parametrize("src,dst,extra", PAIRS)
def test_healthy_pair_is_delivered_within_2s(demo, src, dst, extra):
    # The answer itself (bench/explain.py times the whole command). The machine is shared
    # with other labs' tests: the best of three attempts filters scheduler noise.
    runs = [demo.explain(src, dst, *extra) for _ in range(3)]
    out = min(runs, key=lambda r: r["elapsed"])
    assert out["elapsed"] < 2.0, [r["elapsed"] for r in runs]
    assert {r["verdict"] for r in runs} == {out["verdict"]}
    assert out["verdict"] == "delivered", out["dropped_at"]
    assert out["dropped_at"] is None and out["fix"] is None
    devices = [(h["node"], h["device"]) for h in out["hops"]]
    assert (src, "eth0") == devices[0]
    assert any(d == "br-int" for _, d in devices)


def test_across_vxlan_names_vni_and_tunnel(demo):
    out = demo.explain("vm1", "vm2")
    tun = [h for h in out["hops"] if h["device"] == "br-tun" and h["node"] == "compute01"][0]
    assert "VNI" in tun["what"] and "vxlan-0aa8070c" in tun["what"]
    assert demo.ping("vm1", demo.leases["vm2"])


def test_bad_input_is_one_clear_line(demo):
    out = demo.neutrino("explain", "--name", demo.lab.name, "vm1", "nosuchthing")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "nosuchthing" in out.stderr


def _apply_fix(demo, out: dict) -> None:
    fix = out["fix"]
    assert fix, out
    if fix.startswith("neutrino "):
        cmd = shlex.split(fix.split("  #")[0])
        res = subprocess.run([BIN, *cmd[1:]], capture_output=True, text=True, timeout=90)
        assert res.returncode == 0, res.stderr
    else:
        # `openstack ...` is what an operator runs; no client here, so the same request.
        api = out["fix_api"]
        assert fix.startswith("openstack ") and api, out
        resp = demo.api.request(api["method"], api["path"], json=api["body"])
        assert resp.status_code < 300, resp.text


def _until(check, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _dhcp_ok(demo, vm):
    return demo.in_vm(vm, "busybox", "udhcpc", "-n", "-q", "-i", "eth0", "-t", "3", "-T", "1",
                      "-s", "/bin/true").returncode == 0


def _follow_fixes(demo, src, dst, extra, fixed, rounds: int = 3) -> bool:
    """Wait for the path to be fixed; when explain names a next problem (a repair can
    uncover one, e.g. a stale learned flow after a tunnel is re-created), apply its fix."""
    for _ in range(rounds):
        if _until(lambda: fixed(demo.explain(src, dst, *extra)), timeout=15):
            return True
        latest = demo.explain(src, dst, *extra)
        if latest["verdict"] == "dropped" and latest["fix"]:
            _apply_fix(demo, latest)
    return False


FAULTS = [
    # fault, target, src, dst, extra, device, words in the reason, connectivity check
    ("mtu-1500", "vm1", "vm1", "vm2", (), "eth0", "MTU 1500",
     lambda d: d.in_vm("vm1", "ip", "link", "show", "eth0").stdout.count("mtu 1450") == 1
     and d.ping("vm1", d.leases["vm2"], 1422)),
    ("wrong-vlan-tag", "vm1", "vm1", "vm2", (), "br-int", "local VLAN tag",
     lambda d: d.ping("vm1", d.leases["vm2"])),
    ("tunnel-deleted", "compute01:compute02", "vm1", "vm2", (), "br-tun", "vxlan-0aa8070c",
     lambda d: d.ping("vm1", d.leases["vm2"])),
    ("ovs-agent-stopped", "vm3", "vm3", "vm1", (), "br-int", "OVS agent",
     lambda d: d.ping("vm3", d.leases["vm1"])),
    ("dnsmasq-stopped", None, "vm2", "dhcp", ("--proto", "udp", "--port", "67"), "dnsmasq",
     "not running", lambda d: _dhcp_ok(d, "vm2")),
    ("dhcp-disabled", "vm2", "vm2", "dhcp", ("--proto", "udp", "--port", "67"), "dnsmasq",
     "DHCP is disabled", lambda d: _dhcp_ok(d, "vm2")),
    ("port-security-forwarding", "vm1", "vm1:10.11.11.200", "vm2", (), "qbr", "port security",
     lambda d: d.in_vm("vm1", "ping", "-c", "2", "-W", "2", "-I", "10.11.11.200",
                       d.leases["vm2"]).returncode == 0),
    ("sg-no-ingress", None, "vm1", "vm2", (), "qbr", "no rule of security group(s) default",
     lambda d: d.ping("vm1", d.leases["vm2"])),
    ("no-default-route", "vm1", "vm1", OUTSIDE, (), "eth0", "default route",
     lambda d: d.ping("vm1", OUTSIDE)),
    ("router-no-gateway", None, "vm1", OUTSIDE, (), "qrouter-", "no external gateway",
     lambda d: d.ping("vm1", OUTSIDE)),
    # vm2: vm1 leaves through its floating IP, which SNAT being off does not touch
    ("snat-disabled", None, "vm2", OUTSIDE, (), "qg-", "SNAT is disabled",
     lambda d: d.ping("vm2", OUTSIDE)),
    ("router-disabled", None, "vm1", OUTSIDE, (), "qr-", "administratively down",
     lambda d: d.ping("vm1", OUTSIDE)),
    ("router-disabled", None, OUTSIDE, "vm1", (), "qg-", "administratively down",
     lambda d: d.from_outside(d.fip_address)),
    ("ip-forward-off", None, "vm1", OUTSIDE, (), "qrouter-", "forwarding is off",
     lambda d: d.ping("vm1", OUTSIDE)),
    ("em4-down", None, "vm2", OUTSIDE, (), "em4", "em4", lambda d: d.ping("vm2", OUTSIDE)),
    ("fip-disassociated", "vm1", OUTSIDE, "vm1", (), "floating IP", "no floating IP",
     lambda d: d.from_outside(d.fip_address)),
    ("sg-no-ingress", None, OUTSIDE, "vm1", (), "qbr", "no rule of security group(s) default",
     lambda d: d.from_outside(d.fip_address)),
]
PAST: dict = {}


@pytest.mark.parametrize("fault,target,src,dst,extra,device,words,works", FAULTS,
                         ids=[f"{f[0]}:{f[2]}->{f[3]}" for f in FAULTS])
def test_fault_is_named_and_its_fix_restores_the_path(demo, fault, target, src, dst, extra,
                                                      device, words, works):
    args = ["lab", "break", "--name", demo.lab.name, fault] + ([target] if target else [])
    res = demo.neutrino(*args)
    assert res.returncode == 0, res.stderr
    try:
        out = demo.explain(src, dst, *extra)
        assert out["verdict"] == "dropped", out
        assert out["dropped_at"]["device"].startswith(device) \
            or out["dropped_at"]["device"].endswith(device)
        assert words in out["dropped_at"]["reason"], out["dropped_at"]
        _apply_fix(demo, out)
        fixed = PAST.get(fault, lambda out: out["verdict"] == "delivered")
        assert _follow_fixes(demo, src, dst, extra, fixed), demo.explain(src, dst, *extra)
        assert _until(lambda: works(demo)), f"{fault}: connectivity did not come back"
    finally:
        demo.neutrino("lab", "heal", "--name", demo.lab.name, timeout=90)


@pytest.mark.parametrize("src,dst", [("vm1", "vm2"), ("vm1", "vm3")])
def test_live_capture_sees_the_probe_at_every_device_hop(demo, src, dst):
    out = demo.explain(src, dst, "--live")
    assert out["verdict"] == "delivered"
    live = out["live"]
    assert live["probe_exit"] == 0
    devices = {(h["node"], h["device"]) for h in out["hops"]}
    captured = {(p["node"], p["device"]) for p in live["points"]}
    assert captured <= devices
    assert {d for _, d in captured} >= {"eth0"} and any(d.startswith("qvo") for _, d in captured)
    unseen = [p for p in live["points"] if not p["seen"]]
    assert not unseen, unseen
    assert live["last_seen"]["hop"] == len(out["hops"])


def test_live_capture_stops_where_explain_drops(demo):
    res = demo.neutrino("lab", "break", "--name", demo.lab.name, "wrong-vlan-tag", "vm1")
    assert res.returncode == 0, res.stderr
    try:
        out = demo.explain("vm1", "vm2", "--live")
        assert out["verdict"] == "dropped"
        assert out["live"]["last_seen"]["hop"] < out["dropped_at"]["hop"]
        assert out["live"]["last_seen"]["device"].startswith("qvo")
    finally:
        demo.neutrino("lab", "heal", "--name", demo.lab.name, timeout=90)


def test_healthy_way_out_through_the_router(demo):
    out = demo.explain("vm1", OUTSIDE)
    assert out["verdict"] == "delivered", out["dropped_at"]
    devices = [h["device"] for h in out["hops"]]
    assert any(d.startswith("qr-") for d in devices) and any(d.startswith("qg-") for d in devices)
    assert devices[-2:] == ["br-ex", "em4"]
    nat = next(h for h in out["hops"] if h["device"].startswith("qg-"))
    assert "SNAT 10.11.11." in nat["what"] and "192.168.100." in nat["what"]
    assert demo.ping("vm1", OUTSIDE)


def test_outside_reaches_the_floating_ip(demo):
    out = demo.explain(OUTSIDE, "vm1")
    assert out["verdict"] == "delivered", out["dropped_at"]
    dnat = next(h for h in out["hops"] if h["device"].startswith("qg-"))
    assert f"DNAT {demo.fip_address} -> {demo.leases['vm1']}" in dnat["what"]
    assert demo.fip["id"] in dnat["what"]
    assert demo.explain(OUTSIDE, demo.fip_address)["verdict"] == "delivered"
    assert demo.from_outside(demo.fip_address)


def test_subnet_detached_from_router_is_named_and_fixed(demo):
    res = demo.neutrino("lab", "break", "--name", demo.lab.name, "subnet-detached", "r1")
    assert res.returncode == 0, res.stderr
    try:
        out = demo.explain("vm1", OUTSIDE)
        assert out["dropped_at"]["device"] == "gateway"
        assert "not attached to a router" in out["dropped_at"]["reason"]
        assert out["fix"] == "openstack router add subnet r1 private-subnet"
        assert not demo.ping("vm1", OUTSIDE)
        _apply_fix(demo, out)
        assert _follow_fixes(demo, "vm1", OUTSIDE, (), lambda o: o["verdict"] == "delivered")
        assert _until(lambda: demo.ping("vm1", OUTSIDE))
    finally:
        demo.neutrino("lab", "heal", "--name", demo.lab.name, timeout=90)
