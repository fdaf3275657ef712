from neutrino.agents.ovs import br_int


def test_link_local_is_eui64():
    assert br_int.link_local("fa:16:3e:00:00:05") == "fe80::f816:3eff:fe00:5"


def test_spoofing_flows_cover_ips_pairs_and_macs():
    port = br_int.Protected(5, ("10.0.0.5", "10.0.1.0/24", "2001:db8::5"),
                            ("fa:16:3e:00:00:05", "fa:16:3e:00:00:06"))
    flows = {(f.table, f.priority, f.match, f.actions)
             for f in br_int.spoofing_flows(1, port)}
    assert (24, 2, "arp,in_port=5,arp_spa=10.0.0.5", "goto_table:25") in flows
    assert (24, 2, "arp,in_port=5,arp_spa=10.0.1.0/24", "goto_table:25") in flows
    assert (24, 2, "icmp6,in_port=5,icmp_type=136,nd_target=2001:db8::5",
            "goto_table:58") in flows
    assert (24, 2, "icmp6,in_port=5,icmp_type=136,nd_target=fe80::f816:3eff:fe00:6",
            "goto_table:58") in flows
    assert (25, 2, "in_port=5,dl_src=fa:16:3e:00:00:06", "goto_table:30") in flows
    assert (0, 9, "in_port=5", "goto_table:25") in flows


def test_skeleton_has_the_antelope_tables():
    tables = {f.table for f in br_int.base_flows(1)}
    assert tables == {0, 23, 24, 30, 31, 58, 59, 60, 62}
    normal = [f for f in br_int.base_flows(1) if f.actions == "NORMAL"]
    assert {(f.table, f.priority) for f in normal} == {(60, 1), (62, 3)}
