"""L3 agent: per router a ``qrouter-<router id>`` namespace with qr-/qg- ports,
NAT, floating IPs and a metadata proxy, as Neutron's legacy router does it."""
