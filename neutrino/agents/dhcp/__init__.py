"""DHCP agent: dnsmasq per network in ``qdhcp-<network id>``, as Neutron runs it."""
