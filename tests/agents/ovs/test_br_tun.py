from neutrino.agents.ovs import br_tun


def test_tunnel_port_name_is_hex_of_remote_ip():
    assert br_tun.tunnel_port_name("10.168.7.17") == "vxlan-0aa80711"
    assert br_tun.tunnel_port_name("10.120.0.102") == "vxlan-0a780066"


def test_tunnel_options_are_neutrons():
    assert br_tun.tunnel_options("10.0.0.1", "10.0.0.2") == {
        "df_default": "true", "egress_pkt_mark": "0", "in_key": "flow",
        "local_ip": "10.0.0.1", "out_key": "flow", "remote_ip": "10.0.0.2"}


def test_flood_flow_outputs_to_every_tunnel_sorted():
    flows = br_tun.network_flows(0x1, lvid=3, vni=1707, tunnel_ofports=[9, 4])
    flood = [f for f in flows if f.table == br_tun.FLOOD_TO_TUN][0]
    assert flood.match == "dl_vlan=3"
    assert flood.actions == "pop_vlan,set_field:0x6ab->tun_id,output:4,output:9"
    assert not [f for f in br_tun.network_flows(0x1, 3, 1707, []) if f.table == 22]


def test_learn_carries_the_agent_cookie_and_hard_timeout():
    action = br_tun.learn_action(0xbeef, 7)
    assert "cookie=0xbeef" in action and "hard_timeout=300" in action
    assert action.endswith(",output:7")
