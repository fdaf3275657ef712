"""``neutrino agent ovs|dhcp|l3|metadata ...``: run an agent on this host."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys

from neutrino.agents.launch import AgentParser
from neutrino.errors import NeutrinoError


def parse_mappings(text: str) -> dict[str, str]:
    """``extnet:br-ex,other:br-x`` -> {"extnet": "br-ex", "other": "br-x"}."""
    mappings: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        physnet, sep, bridge = item.partition(":")
        if not sep or not physnet or not bridge:
            raise NeutrinoError(f"bad bridge mapping {item!r} (want physnet:bridge)")
        if len(bridge) > 11:
            raise NeutrinoError(f"bridge name {bridge!r} too long (at most 11 characters)")
        if physnet in mappings:
            raise NeutrinoError(f"physical network {physnet!r} mapped twice")
        mappings[physnet] = bridge
    return mappings


def ovs_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neutrino agent ovs",
                                     description="Open vSwitch (L2) agent of this host")
    parser.add_argument("--host", required=True, help="this host's name")
    parser.add_argument("--transport-url", required=True,
                        help="messaging URL (memory://, redis+socket:///path, redis://...)")
    parser.add_argument("--local-ip", required=True, help="this host's tunnel (VXLAN) IP")
    parser.add_argument("--bridge-mappings", default="",
                        help="physnet:bridge[,physnet:bridge...], e.g. extnet:br-ex")
    parser.add_argument("--state-dir", default=None, help="directory for the agent's files")
    parser.add_argument("--ovsdb", default=None,
                        help="OVSDB socket (default unix:$OVS_RUNDIR/db.sock)")
    parser.add_argument("--check-interval", type=float, default=3.0,
                        help="seconds between drift checks (canary, flows)")
    parser.add_argument("--report-interval", type=float, default=5.0,
                        help="seconds between state reports")
    parser.add_argument("--firewall-driver", default="iptables_hybrid",
                        choices=("iptables_hybrid", "noop"),
                        help="security groups: iptables_hybrid (default) or noop")
    return parser


def run_ovs(argv: list[str]) -> int:
    parser = ovs_parser()
    parser.__class__ = AgentParser
    args = parser.parse_args(argv)
    try:
        ipaddress.IPv4Address(args.local_ip)
    except ValueError:
        raise NeutrinoError(f"--local-ip {args.local_ip!r} is not an IPv4 address") from None
    from neutrino.agents.ovs import rpc
    from neutrino.agents.ovs.agent import Agent
    from neutrino.agents.ovs.driver import OvsDriver
    from neutrino.agents.ovs.state import AgentConfig
    from neutrino.linux.openflow import rundir_default
    from neutrino.linux.ovs import Ovsdb

    config = AgentConfig(host=args.host, local_ip=args.local_ip,
                         bridge_mappings=parse_mappings(args.bridge_mappings))
    if args.state_dir:
        os.makedirs(args.state_dir, exist_ok=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rundir = rundir_default()
    if args.ovsdb and args.ovsdb.startswith("unix:"):
        rundir = os.path.dirname(args.ovsdb[len("unix:"):])
    ovsdb = Ovsdb(args.ovsdb or f"unix:{rundir}/db.sock",
                  on_change=lambda *event: agent.on_ovsdb_change(*event))
    server = rpc.PluginApi(args.transport_url, args.host, config.agent_id)
    firewall = None
    if args.firewall_driver == "iptables_hybrid":
        from neutrino.agents.firewall import FirewallDriver
        from neutrino.agents.ovs.firewall_hook import FirewallHook
        firewall = FirewallHook(server, FirewallDriver())
    agent = Agent(config, OvsDriver(ovsdb, rundir), server,
                  listen=lambda cb: rpc.listen(args.transport_url, args.host, cb),
                  check_interval=args.check_interval, report_interval=args.report_interval,
                  firewall=firewall)
    ovsdb.start()
    signal.signal(signal.SIGTERM, lambda *_: agent.request_stop())
    agent.start()
    try:
        agent.wait()
    finally:
        agent.stop()
        ovsdb.stop()
        server.close()
    # Stopped cleanly, nothing left to write: skip the interpreter's teardown
    # of every module (0.2-0.4 s on a loaded machine), which a restart (lab
    # up after SIGTERM) would wait for.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(0)


def run_dhcp(argv: list[str]) -> int:
    from neutrino.agents.dhcp.main import main as dhcp_main
    return dhcp_main(argv) or 0


def run_l3(argv: list[str]) -> int:
    from neutrino.agents.l3.main import main as l3_main
    return l3_main(argv) or 0


def run_metadata(argv: list[str]) -> int:
    from neutrino.agents.metadata.main import main as metadata_main
    return metadata_main(argv) or 0


AGENTS = {"ovs": run_ovs, "dhcp": run_dhcp, "l3": run_l3, "metadata": run_metadata}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: neutrino agent {ovs,dhcp,l3,metadata} [ARGS...]\n\n"
              "  ovs       Open vSwitch (L2) agent (every node)\n"
              "  dhcp      DHCP agent (controller)\n"
              "  l3        L3 agent: routers, NAT, floating IPs (controller)\n"
              "  metadata  metadata service for the routers' proxies (controller)")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in AGENTS:
        raise NeutrinoError(f"unknown agent {name!r} (ovs, dhcp, l3 or metadata)")
    return AGENTS[name](rest)
