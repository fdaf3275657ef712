"""The outside world of a lab (issue 4): an ``upstream`` namespace behind the
controller's "physical" NIC em4.

    controller: br-ex -- em4 =veth= eth0 (192.168.100.1/24)  nlab-<lab>-upstream
                                    lo   (203.0.113.10/32, HTTP on :80)

192.168.100.1 is the gateway of the seed's external network; 203.0.113.10 (a
documentation range) plays an Internet host: it answers ping and HTTP with the
source address it saw. The namespace has no route anywhere else, so nothing
of the lab reaches the machine's real network.
"""
from __future__ import annotations

import os
import sys

from neutrino.lab import services
from neutrino.lab.layout import EXTERNAL_BRIDGE, Lab
from neutrino.linux import ip, ovs_daemons, proc

NAME = "upstream"
UPLINK = "em4"
UPSTREAM_NIC = "eth0"
GATEWAY_CIDR = "192.168.100.1/24"
INTERNET_HOST = "203.0.113.10"
HTTP_KEY = "upstream-http"
NETWORK_NODE = "controller"


def ensure_upstream(lab: Lab, pids: dict) -> dict:
    """Build (or complete) the upstream namespace; return pids to record."""
    ns, node_ns = lab.netns(NAME), lab.netns(NETWORK_NODE)
    if not ip.netns_exists(ns):
        ip.netns_add(ns)
    if not ip.link_exists(UPLINK, netns=node_ns):
        ip.link_delete(UPSTREAM_NIC, netns=ns)        # half-made pair of an earlier attempt
        ip.veth_add(UPSTREAM_NIC, UPLINK, netns=ns, peer_netns=node_ns)
        # lab-facts: both ends feed the userspace datapath (br-ex) one way or the other.
        ip.tx_offload_off(UPSTREAM_NIC, netns=ns)
        ip.tx_offload_off(UPLINK, netns=node_ns)
    ip.link_set(UPLINK, netns=node_ns, up=True)
    ip.link_set(UPSTREAM_NIC, netns=ns, up=True)
    ip.addr_add(UPSTREAM_NIC, GATEWAY_CIDR, netns=ns)
    ip.addr_add("lo", f"{INTERNET_HOST}/32", netns=ns)
    ovs_daemons.vsctl(lab.ovs_rundir(NETWORK_NODE), "--may-exist", "add-port",
                      EXTERNAL_BRIDGE, UPLINK)
    started = {}
    if not services.alive(pids, HTTP_KEY):
        key, _, value = lab.env_tag.partition("=")
        started[HTTP_KEY] = proc.spawn(
            [sys.executable, "-m", "neutrino.lab.responder", "--port", "80"],
            log_path=os.path.join(lab.path("log"), f"{HTTP_KEY}.log"),
            env={key: value}, netns=ns)
    return started
