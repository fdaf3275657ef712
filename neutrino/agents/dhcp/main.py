"""``neutrino agent dhcp``: entry point ``main(argv) -> int`` (dispatched by neutrino.cli.agent)."""
from __future__ import annotations

import argparse

from neutrino.agents.launch import agent_parser, prepare, serve


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = agent_parser("neutrino agent dhcp", "DHCP agent: dnsmasq per network, Neutron style",
                          state_help="where dhcp/<network id>/ files live")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    prepare(args)
    from neutrino.agents.dhcp.dhcp_agent import DhcpAgent
    from neutrino.agents.dhcp.netns_driver import DhcpDriver
    driver = DhcpDriver(integration_bridge=args.integration_bridge, ovs_db=args.ovsdb)
    agent = DhcpAgent(args.host, args.transport_url, args.state_dir, driver=driver,
                      report_interval=args.report_interval,
                      resync_interval=args.resync_interval)
    return serve(agent)
