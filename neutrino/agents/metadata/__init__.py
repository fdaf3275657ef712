"""Metadata service: answers instances' 169.254.169.254 requests that the
per-router proxies forward over a unix socket (Neutron's metadata agent and,
since there is no Nova, the metadata API itself)."""
