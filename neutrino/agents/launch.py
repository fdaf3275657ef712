"""What every agent's entry point shares: its options, logging, signals, lifetime.

An agent module adds its own options to ``agent_parser(...)`` and hands its
agent object (``start()``, ``wait()``, ``stop()``, ``request_stop()``) to
``serve``.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket

from neutrino.errors import NeutrinoError


class AgentParser(argparse.ArgumentParser):
    """Bad options are one-line errors (NeutrinoError), not argparse's usage dump."""

    def error(self, message):
        raise NeutrinoError(message)


def agent_parser(prog: str, description: str, state_help: str) -> AgentParser:
    """A parser with the options every namespace-wiring agent takes."""
    parser = AgentParser(prog=prog, description=description)
    parser.add_argument("--host", default=socket.gethostname(), help="this node's name")
    parser.add_argument("--transport-url", required=True,
                        help="memory://, redis+socket:///path, redis://host:port/0, amqp://...")
    parser.add_argument("--state-dir", required=True, help=state_help)
    parser.add_argument("--integration-bridge", default="br-int")
    parser.add_argument("--ovsdb", default=None,
                        help="OVSDB remote for ovs-vsctl (default: its own default socket)")
    parser.add_argument("--report-interval", type=float, default=5.0)
    parser.add_argument("--resync-interval", type=float, default=60.0)
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def prepare(args: argparse.Namespace) -> None:
    """Check the common options, create the state directory, set up logging."""
    if args.report_interval <= 0 or args.resync_interval <= 0:
        raise NeutrinoError("--report-interval and --resync-interval must be positive")
    os.makedirs(args.state_dir, exist_ok=True)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def serve(agent) -> int:
    """Run ``agent`` until SIGTERM or SIGINT, then stop it cleanly."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: agent.request_stop())
    agent.start()
    try:
        agent.wait()
    finally:
        agent.stop()
    return 0
