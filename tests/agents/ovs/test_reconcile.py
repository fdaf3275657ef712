"""A reconcile pass against the recording driver (an in-memory switch)."""
import threading
import time

import pytest

from neutrino.agents.ovs import br_int, br_tun
from neutrino.agents.ovs.driver import RecordingDriver
from neutrino.agents.ovs.firewall_hook import FirewallHook
from neutrino.agents.ovs.reconcile import Reconciler
from neutrino.linux import ovs
from neutrino.linux.openflow import Flow


def started(config, server, fw=None):
    """A node where the agent ran once (bridges exist, nothing plugged); with
    ``fw``, a firewall driver, its ports are filtered as the agent's are."""
    driver = RecordingDriver()
    hook = FirewallHook(server, fw, bridge_netfilter=lambda: None) if fw is not None else None
    rec = Reconciler(config, driver, server, hook)
    rec.run()
    return driver, rec


def flows_of(driver, bridge, table=None):
    return driver.dump_flows(bridge, table)


def matches(driver, bridge, table):
    return sorted((f.priority, f.match, f.actions) for f in flows_of(driver, bridge, table))


def test_fresh_node_gets_bridges_patches_tunnels_and_converges(config, server):
    driver = RecordingDriver()
    rec = Reconciler(config, driver, server)
    first = rec.run()
    assert first.changed
    snap = driver.snapshot()
    assert set(snap.bridges) == {"br-int", "br-tun", "br-ex"}
    assert all(b.fail_mode == "secure" and b.datapath_type == "netdev"
               for b in snap.bridges.values())
    assert snap.managers == ["ptcp:6640:127.0.0.1"]
    assert snap.ports["patch-tun"].options == {"peer": "patch-int"}
    assert snap.ports["patch-int"].bridge == "br-tun"
    assert snap.ports["int-br-ex"].options == {"peer": "phy-br-ex"}
    assert snap.ports["phy-br-ex"].bridge == "br-ex"
    tunnel = snap.ports["vxlan-0aa8070c"]
    assert tunnel.type == "vxlan"
    assert tunnel.options == {"df_default": "true", "egress_pkt_mark": "0", "in_key": "flow",
                              "out_key": "flow", "local_ip": "10.168.7.11",
                              "remote_ip": "10.168.7.12"}
    assert "vxlan-0aa8070b" not in snap.ports      # no tunnel to itself
    assert len(flows_of(driver, "br-int", br_int.CANARY_TABLE)) == 1
    assert len({f.cookie for b in ("br-int", "br-tun", "br-ex")
                for f in flows_of(driver, b)}) == 1
    calls = len(driver.calls)
    again = rec.run()
    assert not again.changed and len(driver.calls) == calls


def test_plugged_port_is_tagged_flowed_and_reported_up(config, server):
    driver, rec = started(config, server)
    net = server.network(segmentation_id=1707)
    port = server.port(net, ip="10.0.0.5", mac="fa:16:3e:00:00:05")
    driver.plug("qvo" + port[:11], port, "fa:16:3e:00:00:05")
    result = rec.run()
    row = driver.snapshot().ports["qvo" + port[:11]]
    assert row.tag == 1
    assert row.other_config == {"net_uuid": net, "network_type": "vxlan",
                                "physical_network": "None", "segmentation_id": "1707",
                                "tag": "1"}
    assert result.devices_up == [port]
    assert server.up == {port}
    p = row.ofport
    assert (10, f"arp,in_port={p}", "goto_table:24") in matches(driver, "br-int", 0)
    assert (2, f"arp,in_port={p},arp_spa=10.0.0.5", "goto_table:25") in \
        matches(driver, "br-int", 24)
    assert (2, f"in_port={p},dl_src=fa:16:3e:00:00:05", "goto_table:30") in \
        matches(driver, "br-int", 25)
    tun_port = driver.snapshot().ports["vxlan-0aa8070c"].ofport
    assert (1, "tun_id=0x6ab", "push_vlan:0x8100,set_field:4097->vlan_vid,goto_table:10") \
        in matches(driver, "br-tun", 4)
    assert (1, "dl_vlan=1", f"pop_vlan,set_field:0x6ab->tun_id,output:{tun_port}") \
        in matches(driver, "br-tun", 22)
    assert not rec.run().changed
    assert len(server.calls_of("update_device_list")) == 1


def test_network_owned_port_has_no_spoofing_flows(config, server):
    driver, rec = started(config, server)
    net = server.network()
    port = server.port(net, device_owner="network:dhcp")
    driver.plug("tap" + port[:11], port, "fa:16:3e:00:00:09")
    rec.run()
    assert matches(driver, "br-int", 25) == []
    assert driver.snapshot().ports["tap" + port[:11]].tag == 1


def test_unknown_and_failed_ports_sit_on_dead_vlan(config, server):
    driver, rec = started(config, server)
    net = server.network()
    failed = server.port(net, binding_vif_type="binding_failed")
    driver.plug("qvounknown-00", "no-such-port-id", "fa:16:3e:00:00:01")
    driver.plug("qvo" + failed[:11], failed, "fa:16:3e:00:00:02")
    result = rec.run()
    snap = driver.snapshot()
    for name in ("qvounknown-00", "qvo" + failed[:11]):
        assert snap.ports[name].tag == 4095
        assert (2, f"in_port={snap.ports[name].ofport}", "drop") in matches(driver, "br-int", 0)
    assert result.devices_up == []
    assert rec.vlans.by_network == {}


def test_restart_changes_nothing_and_keeps_the_cookie(config, server):
    driver, rec = started(config, server)
    nets = [server.network(segmentation_id=100 + i) for i in range(3)]
    for i, net in enumerate(nets):
        port = server.port(net, ip=f"10.0.{i}.5")
        driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    tags = {n: p.tag for n, p in driver.snapshot().ports.items()}
    calls = len(driver.calls)
    restarted = Reconciler(config, driver, server)
    result = restarted.run()
    assert not result.changed and len(driver.calls) == calls
    assert restarted.cookie == rec.cookie
    assert restarted.vlans.by_network == rec.vlans.by_network
    assert {n: p.tag for n, p in driver.snapshot().ports.items()} == tags
    assert len(result.devices_up) == 3          # a restarted agent reports its ports again


def test_drift_is_repaired_and_learned_flows_survive(config, server):
    driver, rec = started(config, server)
    table = driver.flows["br-tun"]
    learned = Flow(20, 1, "vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:00:00:07",
                   "load:0->NXM_OF_VLAN_TCI[],load:0x6ab->NXM_NX_TUN_ID[],output:3",
                   cookie=rec.cookie, hard_timeout=300)
    foreign = Flow(0, 50, "in_port=9", "drop", cookie=0xdead)
    table[learned.key] = learned
    driver.flows["br-int"][foreign.key] = foreign
    canary = flows_of(driver, "br-int", 23)[0]
    del driver.flows["br-int"][canary.key]
    assert rec.canary_missing()
    driver.unplug("patch-int")
    result = rec.run()
    # deleted: the foreign flow and the in_port flow of patch-int's old ofport
    assert result.flows_added >= 1 and result.flows_deleted == 2
    assert learned.key in driver.flows["br-tun"]
    assert foreign.key not in driver.flows["br-int"]
    assert not rec.canary_missing()
    assert "patch-int" in driver.snapshot().ports


def test_vswitchd_restart_restores_every_flow(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    before = {b: dict(t) for b, t in driver.flows.items()}
    driver.restart_vswitchd()
    assert rec.canary_missing()
    rec.forget_all()
    rec.run()
    assert driver.flows == before


def test_unplug_reports_down_and_frees_the_vlan(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network())
    name = "qvo" + port[:11]
    driver.plug(name, port, server.ports[port]["mac_address"])
    rec.run()
    assert rec.vlans.by_network
    driver.unplug(name)
    result = rec.run()
    assert result.devices_down == [port]
    assert server.down == {port}
    assert rec.vlans.by_network == {}
    assert matches(driver, "br-tun", 4) == [(0, "", "drop")]
    assert all(f"in_port={driver.snapshot().ports.get(name, None)}" not in f.match
               for f in flows_of(driver, "br-int"))


def test_flat_network_on_bridge_mapping(config, server):
    driver, rec = started(config, server)
    net = server.network("flat", None, "extnet")
    port = server.port(net, device_owner="network:router_gateway")
    driver.plug("qg-" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    snap = driver.snapshot()
    int_port, phy_port = snap.ports["int-br-ex"].ofport, snap.ports["phy-br-ex"].ofport
    assert snap.ports["qg-" + port[:11]].other_config["physical_network"] == "extnet"
    assert (3, f"in_port={int_port},vlan_tci=0x0000/0x1fff",
            "push_vlan:0x8100,set_field:4097->vlan_vid,goto_table:58") in \
        matches(driver, "br-int", 0)
    assert matches(driver, "br-ex", 0) == sorted([
        (0, "", "NORMAL"), (2, f"in_port={phy_port}", "drop"),
        (4, f"in_port={phy_port},dl_vlan=1", "pop_vlan,NORMAL")])


def test_unmapped_physnet_is_dead(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network("flat", None, "elsewhere"))
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    assert driver.snapshot().ports["qvo" + port[:11]].tag == 4095


def test_server_down_leaves_bound_ports_alone(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network())
    name = "qvo" + port[:11]
    driver.plug(name, port, server.ports[port]["mac_address"])
    rec.run()
    tun_flows = matches(driver, "br-tun", 4)
    server.fail = True
    restarted = Reconciler(config, driver, server)
    restarted.run()
    assert driver.snapshot().ports[name].tag == 1
    assert matches(driver, "br-tun", 4) == tun_flows


def test_tunnel_update_adds_a_port_to_every_flood_flow(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    rec.add_tunnel("10.168.7.17")
    rec.run()
    snap = driver.snapshot()
    assert snap.ports[br_tun.tunnel_port_name("10.168.7.17")].options["remote_ip"] == \
        "10.168.7.17"
    ofports = sorted(snap.ports[n].ofport for n in ("vxlan-0aa8070c", "vxlan-0aa80711"))
    flood = matches(driver, "br-tun", 22)
    assert (1, "dl_vlan=1",
            "pop_vlan,set_field:0x6ab->tun_id," + ",".join(f"output:{p}" for p in ofports)) \
        in flood


def test_vanished_tunnel_endpoint_port_is_removed(config, server):
    driver, rec = started(config, server)
    driver.apply_ovsdb([ovs.AddPort("br-tun", "vxlan-0aa80763", "vxlan",
                                    {"remote_ip": "10.168.7.99"})])
    rec.run()
    assert "vxlan-0aa80763" not in driver.snapshot().ports


def test_event_pass_diffs_against_what_it_wrote_and_verify_pass_dumps(config, server):
    driver, rec = started(config, server)
    dumps = driver.dumps
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    canary = flows_of(driver, "br-int", 23)[0]
    dumps = driver.dumps
    del driver.flows["br-int"][canary.key]          # drift nobody told us about
    result = rec.run(verify=False)
    assert result.devices_up == [port] and driver.dumps == dumps
    assert rec.canary_missing()                      # not noticed without a dump
    rec.run(verify=True)
    assert not rec.canary_missing()


def test_recreated_bridge_gets_its_flows_back_on_an_event_pass(config, server):
    driver, rec = started(config, server)
    driver.delete_bridge("br-tun")
    rec.run(verify=False)
    assert matches(driver, "br-tun", 22) == [(0, "", "drop")]
    assert {"patch-int", "vxlan-0aa8070c"} <= set(driver.snapshot().ports)


def test_device_the_server_failed_to_update_is_reported_again(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    answer = server.update_device_list
    server.update_device_list = lambda up, down: {**answer(up, down),
                                                  "failed_devices_up": list(up)}
    assert rec.run().devices_up == [port]
    server.update_device_list = answer
    assert rec.run().devices_up == [port]
    assert rec.run().devices_up == []


def test_vlan_network_translates_segment_and_lvid(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network("vlan", 300, "extnet"))
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    snap = driver.snapshot()
    int_port, phy_port = snap.ports["int-br-ex"].ofport, snap.ports["phy-br-ex"].ofport
    assert (3, f"in_port={int_port},dl_vlan=300", "set_field:4097->vlan_vid,goto_table:58") \
        in matches(driver, "br-int", 0)
    assert (4, f"in_port={phy_port},dl_vlan=1", "set_field:4396->vlan_vid,NORMAL") \
        in matches(driver, "br-ex", 0)


def test_restart_with_server_down_keeps_tunnels_until_the_server_answers(config, server):
    driver, rec = started(config, server)
    rec.add_tunnel("10.168.7.99")
    rec.run()
    assert "vxlan-0aa80763" in driver.snapshot().ports
    server.fail = True
    restarted = Reconciler(config, driver, server)
    restarted.run()
    assert {"vxlan-0aa8070c", "vxlan-0aa80763"} <= set(driver.snapshot().ports)
    server.fail = False
    restarted.run()                      # the server knows .12 only: .99 was stale
    ports = driver.snapshot().ports
    assert "vxlan-0aa8070c" in ports and "vxlan-0aa80763" not in ports


def test_resync_while_the_server_is_down_keeps_spoofing_flows(config, server):
    driver, rec = started(config, server)
    port = server.port(server.network(), ip="10.0.0.5")
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    rec.run()
    guarded = matches(driver, "br-int", 24)
    assert any("arp_spa=10.0.0.5" in m for _, m, _ in guarded)
    server.fail = True
    rec.forget_all()
    rec.run()
    assert matches(driver, "br-int", 24) == guarded
    server.fail = False
    server.ports[port]["fixed_ips"] = [{"subnet_id": "s", "ip_address": "10.0.0.6"}]
    rec.run()                            # the old details were only a stand-in
    assert any("arp_spa=10.0.0.6" in m for _, m, _ in matches(driver, "br-int", 24))


def test_port_plugged_during_a_pass_does_not_hold_back_the_others(config, server, fw):
    """Instances booted at once: a qvo appearing while the pass runs (seen by
    the snapshot after the OVSDB edits, not asked about yet) waits for the
    next pass; the port the pass fetched is filtered and reported up now."""
    driver, rec = started(config, server, fw)
    net = server.network()
    first = server.port(net, ip="10.0.0.5")
    late = server.port(net, ip="10.0.0.6")
    driver.plug("qvo" + first[:11], first, server.ports[first]["mac_address"])
    ask = server.get_devices_details_list

    def plug_while_asked(devices):
        if "qvo" + late[:11] not in driver.snapshot().ports:
            driver.plug("qvo" + late[:11], late, server.ports[late]["mac_address"])
        return ask(devices)
    server.get_devices_details_list = plug_while_asked
    result = rec.run()
    assert result.devices_up == [first]
    assert fw.calls[-1][1] == [first]
    assert rec.run().devices_up == [late]
    assert fw.calls[-1][1] == sorted([first, late])


def test_firewall_runs_beside_the_flows(config, server, fw):
    """The pass applies the flows while the firewall updates (each waits for
    the other to have started: run one after the other, both would time out)."""
    driver, rec = started(config, server, fw)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    flows_started, firewall_started = threading.Event(), threading.Event()
    met = []
    apply_flows, update = driver.apply_flows, fw.update

    def slow_flows(bridge, changes):
        flows_started.set()
        met.append(firewall_started.wait(5))
        apply_flows(bridge, changes)

    def slow_update(ports, groups, members):
        firewall_started.set()
        met.append(flows_started.wait(5))
        update(ports, groups, members)
    driver.apply_flows, fw.update = slow_flows, slow_update
    assert rec.run().devices_up == [port]
    assert met and all(met)


def test_report_in_flight_while_the_next_pass_starts(config, server):
    """The agent's passes do not wait for the server to take their report;
    the next pass counts it and reports nothing twice."""
    driver, rec = started(config, server)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    release, completed = threading.Event(), []
    answer = server.update_device_list

    def slow_answer(up, down):
        release.wait(5)
        completed.append(up)
        return answer(up, down)
    server.update_device_list = slow_answer
    assert rec.run(wait_report=False).devices_up == [port]
    assert completed == []                  # the pass is over, its report is not
    release.set()
    assert rec.run().devices_up == []
    assert completed == [[port]] and server.up == {port}


class GatedDriver(RecordingDriver):
    """A switch whose OVSDB transaction or flows can be held back by a test:
    ``ovsdb_gate`` / ``flows_gate`` (callables, run before the call applies)
    and ``fail_ovsdb`` / ``fail_flows`` (an exception raised instead)."""

    def __init__(self):
        super().__init__()
        self.ovsdb_gate = self.flows_gate = None
        self.fail_ovsdb = self.fail_flows = None
        self.ovsdb_done = threading.Event()
        self.flows_done = threading.Event()

    def apply_ovsdb(self, edits):
        if self.ovsdb_gate:
            self.ovsdb_gate(edits)
        if self.fail_ovsdb:
            raise self.fail_ovsdb
        super().apply_ovsdb(edits)
        self.ovsdb_done.set()

    def apply_flows(self, bridge, changes):
        if self.flows_gate:
            self.flows_gate(bridge)
        if self.fail_flows:
            raise self.fail_flows
        super().apply_flows(bridge, changes)
        self.flows_done.set()


def gated(config, server):
    driver = GatedDriver()
    rec = Reconciler(config, driver, server)
    rec.run()
    driver.ovsdb_done.clear()
    driver.flows_done.clear()
    return driver, rec


def plug_new(driver, server, net=None):
    port = server.port(net or server.network())
    name = "qvo" + port[:11]
    driver.plug(name, port, server.ports[port]["mac_address"])
    return port, name


def counting_compute(monkeypatch):
    from neutrino.agents.ovs import desired
    calls = []
    compute = desired.compute

    def counted(*args):
        calls.append(args)
        return compute(*args)
    monkeypatch.setattr(desired, "compute", counted)
    return calls


def wired_when_reported(driver, server, name):
    """Record, at the moment of the report, whether the port's tag and its
    anti-spoofing flows were both in the switch."""
    seen = []
    answer = server.update_device_list

    def check(up, down):
        row = driver.snapshot().ports[name]
        flows = matches(driver, "br-int", 25)
        seen.append(row.tag == 1 and any(f"in_port={row.ofport}," in m for _, m, _ in flows))
        return answer(up, down)
    server.update_device_list = check
    return seen


def test_retag_pass_applies_flows_while_the_ovsdb_edits_wait(config, server, monkeypatch):
    """Only tags change: the OVSDB transaction waits for the flows to be
    applied (one after the other, it would time out), the pass computes once
    and reports the port up only once both are in the switch."""
    driver, rec = gated(config, server)
    port, name = plug_new(driver, server)
    met = []
    driver.ovsdb_gate = lambda edits: met.append(driver.flows_done.wait(5))
    seen = wired_when_reported(driver, server, name)
    computed = counting_compute(monkeypatch)
    result = rec.run()
    assert met == [True]
    assert [type(e) for c in driver.calls if c[0] == "ovsdb" for e in c[1]][-1:] == [ovs.SetPort]
    assert len(computed) == 1
    assert result.devices_up == [port] and seen == [True]
    assert driver.snapshot().ports[name].tag == 1
    assert not rec.run().changed


def test_bridges_flows_go_out_side_by_side(config, server):
    """A port on a new network changes br-int and br-tun: each bridge's
    flows wait for the other's to have begun (one after the other, both
    would time out)."""
    driver, rec = gated(config, server)
    port, _ = plug_new(driver, server)
    started = {"br-int": threading.Event(), "br-tun": threading.Event()}
    met = {}

    def both_begun(bridge):
        started[bridge].set()
        other = "br-tun" if bridge == "br-int" else "br-int"
        met[bridge] = started[other].wait(5)
    driver.flows_gate = both_begun
    assert rec.run().devices_up == [port]
    assert met == {"br-int": True, "br-tun": True}


def test_pass_adding_a_port_applies_edits_before_flows(config, server, monkeypatch):
    """A new tunnel port needs the ofport ovs-vswitchd gives it: the flows
    wait for the OVSDB edits and are computed again from the new rows."""
    driver, rec = gated(config, server)
    plug_new(driver, server)
    rec.run()
    rec.add_tunnel("10.168.7.17")
    order = []
    driver.flows_gate = lambda bridge: order.append(driver.ovsdb_done.is_set())
    computed = counting_compute(monkeypatch)
    rec.run()
    assert order and all(order)
    assert len(computed) == 2
    ofport = driver.snapshot().ports[br_tun.tunnel_port_name("10.168.7.17")].ofport
    assert any(f"output:{ofport}" in actions for _, _, actions in matches(driver, "br-tun", 22))


def test_port_without_ofport_yet_gets_its_flows_after_the_edits(config, server):
    """A plugged port ovs-vswitchd has not numbered yet: its tag goes first,
    then the flows with the ofport the switch gave meanwhile, in one pass."""
    from dataclasses import replace
    driver, rec = gated(config, server)
    port, name = plug_new(driver, server)
    driver.snap.ports[name] = replace(driver.snap.ports[name], ofport=-1)

    def numbered(edits):
        driver.snap.ports[name] = replace(driver.snap.ports[name], ofport=77)
    driver.ovsdb_gate = numbered
    assert rec.run().devices_up == [port]
    assert (2, "in_port=77,dl_src=" + server.ports[port]["mac_address"], "goto_table:30") \
        in matches(driver, "br-int", 25)


def test_failed_ovsdb_edits_fail_the_pass_and_the_next_retries(config, server):
    driver, rec = gated(config, server)
    port, name = plug_new(driver, server)
    driver.fail_ovsdb = RuntimeError("transaction aborted")
    with pytest.raises(RuntimeError, match="aborted"):
        rec.run()
    assert server.up == set() and driver.snapshot().ports[name].tag is None
    driver.fail_ovsdb = None
    assert rec.run().devices_up == [port]
    assert driver.snapshot().ports[name].tag == 1 and server.up == {port}


def test_failed_flows_fail_the_pass_after_the_edits_and_the_next_retries(config, server):
    """The pass does not end while the OVSDB transaction is still out."""
    driver, rec = gated(config, server)
    port, name = plug_new(driver, server)
    release = threading.Event()

    def late(edits):
        release.wait(5)
        time.sleep(0.05)          # still out when the flows have failed
    driver.ovsdb_gate = late
    driver.fail_flows = RuntimeError("ovs-ofctl failed")

    def failing(bridge):
        release.set()
    driver.flows_gate = failing
    with pytest.raises(RuntimeError, match="ovs-ofctl"):
        rec.run()
    assert driver.ovsdb_done.is_set()
    assert server.up == set()
    driver.fail_flows = driver.flows_gate = driver.ovsdb_gate = None
    assert rec.run().devices_up == [port] and server.up == {port}
    row = driver.snapshot().ports[name]
    assert (2, f"in_port={row.ofport},dl_src={server.ports[port]['mac_address']}",
            "goto_table:30") in matches(driver, "br-int", 25)


def test_port_leaving_the_dead_vlan_is_tagged_before_its_drop_goes(config, server):
    """A dead port is silent through its drop flow: the flows that replace
    it wait until the port has left VLAN 4095, as in the order before."""
    driver, rec = gated(config, server)
    port = server.port(server.network(), binding_vif_type="binding_failed")
    name = "qvo" + port[:11]
    driver.plug(name, port, server.ports[port]["mac_address"])
    rec.run()
    ofport = driver.snapshot().ports[name].ofport
    assert driver.snapshot().ports[name].tag == 4095
    assert (2, f"in_port={ofport}", "drop") in matches(driver, "br-int", 0)
    server.ports[port]["binding_vif_type"] = "ovs"
    rec.forget_port(port)
    dead_drop_at_flows, flows_begun = [], threading.Event()

    def drop_still_needed(bridge):
        if bridge == "br-int":
            dead_drop_at_flows.append(driver.snapshot().ports[name].tag)
            flows_begun.set()
    driver.flows_gate = drop_still_needed
    # Flows sent beside the edits would begin while this waits (and see 4095).
    driver.ovsdb_gate = lambda edits: flows_begun.wait(1)
    assert rec.run().devices_up == [port]
    assert dead_drop_at_flows == [1]
    assert (2, f"in_port={ofport}", "drop") not in matches(driver, "br-int", 0)


def test_firewall_starts_before_the_compute(config, server, fw, monkeypatch):
    """The firewall needs the details only: it is under way while the pass
    computes (computing first, the compute below would time out)."""
    from neutrino.agents.ovs import desired
    driver, rec = started(config, server, fw)
    port = server.port(server.network())
    driver.plug("qvo" + port[:11], port, server.ports[port]["mac_address"])
    firewall_started, met = threading.Event(), []
    update, compute = fw.update, desired.compute

    def started_update(ports, groups, members):
        firewall_started.set()
        update(ports, groups, members)

    def compute_after_firewall(*args):
        met.append(firewall_started.wait(5))
        return compute(*args)
    fw.update = started_update
    monkeypatch.setattr(desired, "compute", compute_after_firewall)
    assert rec.run().devices_up == [port]
    assert met and all(met)
