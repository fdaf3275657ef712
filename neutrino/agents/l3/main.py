"""``neutrino agent l3``: entry point ``main(argv) -> int`` (dispatched by neutrino.cli.agent)."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket

from neutrino.errors import NeutrinoError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise NeutrinoError(message)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = _Parser(prog="neutrino agent l3",
                     description="L3 agent: qrouter namespaces, NAT, floating IPs, metadata proxy")
    parser.add_argument("--host", default=socket.gethostname(), help="this node's name")
    parser.add_argument("--transport-url", required=True,
                        help="memory://, redis+socket:///path, redis://host:port/0, amqp://...")
    parser.add_argument("--state-dir", required=True, help="where routers/<router id>/ live")
    parser.add_argument("--metadata-proxy-socket", default=None,
                        help="the metadata service's unix socket "
                             "(default <state-dir>/metadata_proxy)")
    parser.add_argument("--integration-bridge", default="br-int")
    parser.add_argument("--ovsdb", default=None,
                        help="OVSDB remote for ovs-vsctl (default: its own default socket)")
    parser.add_argument("--report-interval", type=float, default=5.0)
    parser.add_argument("--resync-interval", type=float, default=60.0)
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report_interval <= 0 or args.resync_interval <= 0:
        raise NeutrinoError("--report-interval and --resync-interval must be positive")
    os.makedirs(args.state_dir, exist_ok=True)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from neutrino.agents.l3.l3_agent import L3Agent
    from neutrino.agents.l3.netns_driver import RouterDriver
    driver = RouterDriver(args.state_dir, metadata_socket=args.metadata_proxy_socket,
                          integration_bridge=args.integration_bridge, ovs_db=args.ovsdb)
    agent = L3Agent(args.host, args.transport_url, driver,
                    report_interval=args.report_interval,
                    resync_interval=args.resync_interval, watch_links=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.request_stop())
    agent.start()
    try:
        agent.wait()
    finally:
        agent.stop()
    return 0
