from neutrino.agents.ovs import desired
from neutrino.agents.ovs.state import AgentConfig
from neutrino.agents.ovs.vlans import LocalVlans
from neutrino.linux.ovs import BridgeRow, PortRow, Snapshot

CONFIG = AgentConfig(host="h", local_ip="10.1.1.1", bridge_mappings={"extnet": "br-ex"})

DETAILS = {"device": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01",
           "admin_state_up": True, "network_type": "vxlan", "segmentation_id": 9,
           "physical_network": None, "fixed_ips": [{"ip_address": "10.0.0.3"}],
           "device_owner": "compute:nova", "port_security_enabled": True,
           "allowed_address_pairs": [], "binding_vif_type": "ovs"}


def test_protection_rules():
    assert desired.protected(DETAILS, 4).ips == ("10.0.0.3",)
    assert desired.protected({**DETAILS, "port_security_enabled": False}, 4) is None
    assert desired.protected({**DETAILS, "device_owner": "network:router_interface"}, 4) is None
    pairs = [{"ip_address": "0.0.0.0/0"}]
    assert desired.protected({**DETAILS, "allowed_address_pairs": pairs}, 4) is None
    pairs = [{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:00:00:99"}]
    guard = desired.protected({**DETAILS, "allowed_address_pairs": pairs}, 4)
    assert guard.macs == ("fa:16:3e:00:00:01", "fa:16:3e:00:00:99")


def test_wireable():
    assert desired.wireable(CONFIG, DETAILS)
    assert not desired.wireable(CONFIG, {**DETAILS, "admin_state_up": False})
    assert not desired.wireable(CONFIG, {**DETAILS, "binding_vif_type": "unbound"})
    assert not desired.wireable(CONFIG, {"device": "p1", "no_such_port": True})
    assert not desired.wireable(CONFIG, {**DETAILS, "network_type": "geneve"})
    assert desired.wireable(CONFIG, {**DETAILS, "network_type": "vlan",
                                     "physical_network": "extnet", "segmentation_id": 5})


def test_other_config_round_trip():
    oc = desired.other_config({**DETAILS, "network_type": "flat", "segmentation_id": None,
                               "physical_network": "extnet"}, 3)
    assert oc == {"net_uuid": "n1", "network_type": "flat", "physical_network": "extnet",
                  "segmentation_id": "None", "tag": "3"}
    back = desired.details_from_other_config(oc)
    assert back["segmentation_id"] is None and back["physical_network"] == "extnet"


def test_port_without_details_keeps_its_binding_and_flows():
    port = PortRow("qvo1", "br-int", external_ids={"iface-id": "p1"}, tag=4, ofport=7,
                   other_config=desired.other_config(DETAILS, 4))
    snap = Snapshot(bridges={"br-int": BridgeRow("br-int", ports=("qvo1",))},
                    ports={"qvo1": port})
    vlans = LocalVlans()
    want = desired.compute(CONFIG, snap, {}, vlans, [], 1)
    assert want.bindings["qvo1"].tag == 4 and not want.bindings["qvo1"].up
    assert vlans.by_network == {"n1": 4}
    assert any(f.match == "tun_id=0x9" for f in want.flows["br-tun"])


def test_new_port_without_tag_or_details_is_dead():
    port = PortRow("qvo1", "br-int", external_ids={"iface-id": "p1"}, ofport=7)
    snap = Snapshot(bridges={"br-int": BridgeRow("br-int", ports=("qvo1",))},
                    ports={"qvo1": port})
    want = desired.compute(CONFIG, snap, {}, LocalVlans(), [], 1)
    assert want.bindings["qvo1"].tag == 4095
    assert any(f.match == "in_port=7" and f.actions == "drop"
               for f in want.flows["br-int"])


def _spoof_flows(details):
    port = PortRow("qvo1", "br-int", external_ids={"iface-id": "p1"}, ofport=7)
    snap = Snapshot(bridges={"br-int": BridgeRow("br-int", ports=("qvo1",))},
                    ports={"qvo1": port})
    want = desired.compute(CONFIG, snap, {"p1": details}, LocalVlans(), [], 1)
    return {(f.table, f.match) for f in want.flows["br-int"] if f.table in (24, 25)
            or (f.table == 0 and "in_port=7" in f.match)}


def test_arp_spoofing_flows_follow_port_security_and_address_pairs():
    on = _spoof_flows(DETAILS)
    assert (24, "arp,in_port=7,arp_spa=10.0.0.3") in on
    assert (25, "in_port=7,dl_src=fa:16:3e:00:00:01") in on
    assert (0, "arp,in_port=7") in on
    pairs = [{"ip_address": "10.0.0.99", "mac_address": "fa:16:3e:00:00:99"}]
    with_pair = _spoof_flows({**DETAILS, "allowed_address_pairs": pairs})
    assert with_pair - on == {(24, "arp,in_port=7,arp_spa=10.0.0.99"),
                              (25, "in_port=7,dl_src=fa:16:3e:00:00:99"),
                              (24, "icmp6,in_port=7,icmp_type=136,"
                                   "nd_target=fe80::f816:3eff:fe00:99")}
    off = _spoof_flows({**DETAILS, "port_security_enabled": False})
    assert {f for f in off if f[0] in (24, 25) and "in_port=7" in f[1]} == set()
    assert (0, "arp,in_port=7") not in off
