"""The Open vSwitch (L2) agent: br-int, br-tun, provider bridges, local VLANs.

Flow tables follow Neutron 2023.1 "Antelope" and later (br-int 0, 23, 24, 25,
30, 31, 58, 59, 60, 62; br-tun 0, 2, 3, 4, 6, 10, 20, 22), with the hybrid
iptables firewall (table 60 NORMAL).
"""
