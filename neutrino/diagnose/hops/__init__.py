"""One module per kind of hop a packet crosses; each returns ``Hop`` values.

instance: the instance's own namespace (address, MTU, route)
hybrid:   tap -> qbr (iptables) -> qvb -> qvo on the compute node
ovs:      br-int (local VLAN, OpenFlow tables), br-tun (VNI, tunnel port), the far node
dhcp:     the qdhcp namespace and dnsmasq
gateway:  leaving the subnet through its router
"""
