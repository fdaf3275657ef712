"""Reading ``ofproto/trace`` output (texts as ovs-vswitchd 3.1 prints them)."""
from neutrino.diagnose import ofproto

TUNNEL = """Flow: icmp,in_port=2,vlan_tci=0x0000,dl_src=fa:16:3e:6e:76:81,dl_dst=fa:16:3e:9a:84:f8,nw_src=10.11.11.3,nw_dst=10.11.11.4

bridge("br-int")
----------------
 0. in_port=2, priority 9, cookie 0x4aeeb77b11f68e51
    goto_table:25
25. in_port=2,dl_src=fa:16:3e:6e:76:81, priority 2, cookie 0x4aeeb77b11f68e51
    goto_table:30
60. priority 1, cookie 0x4aeeb77b11f68e51
    NORMAL
     -> forwarding to learned port

bridge("br-tun")
----------------
 0. in_port=1, priority 1, cookie 0x4aeeb77b11f68e51
    goto_table:2
20. vlan_tci=0x0001/0x0fff,dl_dst=fa:16:3e:9a:84:f8, priority 1, cookie 0x4aeeb77b11f68e51
    load:0->NXM_OF_VLAN_TCI[]
    load:0x1->NXM_NX_TUN_ID[]
    output:2
     -> output to native tunnel

Final flow: unchanged
Megaflow: recirc_id=0,eth,ip,in_port=2
Datapath actions: tnl_push(tnl_port(4),header(size=50,type=4,eth(dst=de:44:82:3e:d7:47,src=d2:f1:61:1d:81:44,dl_type=0x0800),ipv4(src=10.168.7.11,dst=10.168.7.12,proto=17,tos=0,ttl=64,frag=0x4000),udp(src=0,dst=4789,csum=0x0),vxlan(flags=0x8000000,vni=0x1f)),out_port(2)),1
"""

DROP = """Flow: icmp,in_port=2
bridge("br-int")
----------------
 0. in_port=2, priority 9, cookie 0x1
    goto_table:25
25. No match.
    drop

Final flow: unchanged
Datapath actions: drop
"""

LOCAL = """Flow: icmp,tun_id=0x1,in_port=3
bridge("br-tun")
----------------
 4. tun_id=0x1, priority 1, cookie 0x2
    push_vlan:0x8100
    set_field:4097->vlan_vid
    goto_table:10

Datapath actions: push_vlan(vid=1,pcp=0),4,pop_vlan,6
"""


def test_tunnel_push_gives_remote_and_vni():
    t = ofproto.parse(TUNNEL)
    assert [b.bridge for b in t.bridges] == ["br-int", "br-tun"]
    assert [h.table for h in t.bridges[0].hits] == [0, 25, 60]
    assert t.tunnel == {"odp": 4, "remote_ip": "10.168.7.12", "vni": 31}
    assert t.outputs == [] and not t.dropped
    assert t.summary("br-tun").startswith("t0 -> t20")


def test_drop_names_the_table_without_match():
    t = ofproto.parse(DROP)
    assert t.dropped
    bridge, hit = t.last_hit()
    assert (bridge, hit.table, hit.match) == ("br-int", 25, "No match")


def test_vlan_set_and_local_outputs():
    t = ofproto.parse(LOCAL)
    assert t.vlan_set() == 1
    assert t.outputs == [4, 6] and t.tunnels == []


def test_flow_spec_uses_protocol_port_fields():
    spec = ofproto.flow_spec("qvo1", "udp", "a", "b", "10.0.0.1", "10.0.0.2", 67)
    assert "udp_dst=67" in spec and spec.startswith("in_port=qvo1,udp")
    assert "tun_id=0x5" in ofproto.flow_spec("vx", "icmp", "a", "b", "1", "2", tun_id=5)
