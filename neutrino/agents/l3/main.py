"""``neutrino agent l3``: entry point ``main(argv) -> int`` (dispatched by neutrino.cli.agent)."""
from __future__ import annotations

import argparse

from neutrino.agents.launch import agent_parser, prepare, serve


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = agent_parser("neutrino agent l3",
                          "L3 agent: qrouter namespaces, NAT, floating IPs, metadata proxy",
                          state_help="where routers/<router id>/ live")
    parser.add_argument("--metadata-proxy-socket", default=None,
                        help="the metadata service's unix socket "
                             "(default <state-dir>/metadata_proxy)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    prepare(args)
    from neutrino.agents.l3.l3_agent import L3Agent
    from neutrino.agents.l3.netns_driver import RouterDriver
    driver = RouterDriver(args.state_dir, metadata_socket=args.metadata_proxy_socket,
                          integration_bridge=args.integration_bridge, ovs_db=args.ovsdb)
    agent = L3Agent(args.host, args.transport_url, driver,
                    report_interval=args.report_interval,
                    resync_interval=args.resync_interval, watch_links=True)
    return serve(agent)
