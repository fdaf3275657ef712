"""Reading one node's script output into a Node."""
import json

from neutrino.diagnose.snapshot import MARK, parse_node


def _ovs(headings, rows):
    return json.dumps({"headings": headings, "data": rows})


def test_parse_node_reads_ovsdb_dpif_links_namespaces_and_dnsmasq():
    bridges = _ovs(["name", "ports"], [["br-int", ["set", [["uuid", "p1"], ["uuid", "p2"]]]]])
    ports = _ovs(["_uuid", "name", "tag", "other_config", "interfaces"],
                 [[["uuid", "p1"], "qvoabc", 3, ["map", [["net_uuid", "n1"], ["tag", "3"]]],
                   ["uuid", "i1"]],
                  [["uuid", "p2"], "patch-tun", ["set", []], ["map", []], ["uuid", "i2"]]])
    ifaces = _ovs(["_uuid", "name", "type", "options", "external_ids", "ofport", "link_state"],
                  [[["uuid", "i1"], "qvoabc", "", ["map", []],
                    ["map", [["iface-id", "port-1"]]], 2, "up"],
                   [["uuid", "i2"], "patch-tun", "patch", ["map", [["peer", "patch-int"]]],
                    ["map", []], 1, "up"]])
    links = json.dumps([{"ifname": "qvbabc", "link": "qvoabc", "flags": ["UP"], "mtu": 1450,
                         "operstate": "UP", "address": "aa:bb:cc:dd:ee:ff",
                         "linkinfo": {"info_kind": "veth"}, "master": "qbrabc",
                         "addr_info": []}])
    nslinks = json.dumps([{"ifname": "tap1", "flags": ["UP"], "mtu": 1450, "operstate": "UNKNOWN",
                           "addr_info": [{"family": "inet", "local": "10.0.0.2",
                                          "prefixlen": 24}]}])
    text = "\n".join([
        f"{MARK} ovsdb", bridges, ports, ifaces,
        f"{MARK} dpif", "  br-int:", "    qvoabc 2/6: (system)", "    patch-tun 1/none: (patch)",
        f"{MARK} links", links, f"{MARK} routes", "[]",
        f"{MARK} netns", "qdhcp-n1 (id: 0)",
        f"{MARK} nslinks qdhcp-n1", nslinks, f"{MARK} nsroutes qdhcp-n1", "[]",
        f"{MARK} nssysctl qdhcp-n1", "0",
        f"{MARK} iptables", "*filter", "COMMIT",
        f"{MARK} ipset", "create NIPv4x hash:net", "add NIPv4x 10.0.0.5",
        f"{MARK} dnsmasq", "/s/dhcp/n1/pid 77 1",
    ])
    node = parse_node("compute01", text)
    assert node.ovs_ok and node.bridges == {"br-int": ["patch-tun", "qvoabc"]}
    qvo = node.port("qvoabc")
    assert (qvo.tag, qvo.odp, qvo.ofport, qvo.external_ids["iface-id"]) == (3, 6, 2, "port-1")
    assert node.port("patch-tun").options["peer"] == "patch-int"
    assert node.port("patch-tun").tag is None
    qvb = node.link("qvbabc")
    assert (qvb.peer, qvb.master, qvb.kind, qvb.up) == ("qvoabc", "qbrabc", "veth", True)
    ns = node.namespaces["qdhcp-n1"]
    assert ns.links["tap1"].addrs == ["10.0.0.2/24"] and ns.ip_forward is False
    assert node.ipsets == {"NIPv4x": {"10.0.0.5"}}
    assert node.dnsmasq == {"n1": {"pid_file": "/s/dhcp/n1/pid", "pid": "77", "alive": True}}
    assert node.tunnel_ip == "10.168.7.11"


def test_dead_ovsdb_is_not_ok():
    node = parse_node("controller", f"{MARK} ovsdb\n{MARK} dpif\n")
    assert not node.ovs_ok and node.ports == {}
