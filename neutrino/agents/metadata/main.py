"""``neutrino agent metadata``: entry point ``main(argv) -> int`` (dispatched by neutrino.cli.agent)."""
from __future__ import annotations

import argparse
import datetime
import logging
import os
import signal
import socket
import threading

from neutrino.agents.launch import AgentParser
from neutrino.errors import NeutrinoError

LOG = logging.getLogger(__name__)

AGENT_TYPE = "Metadata agent"
BINARY = "neutrino-metadata-agent"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = AgentParser(prog="neutrino agent metadata",
                     description="metadata service behind the routers' metadata proxies")
    parser.add_argument("--host", default=socket.gethostname(), help="this node's name")
    parser.add_argument("--transport-url", required=True,
                        help="memory://, redis+socket:///path, redis://host:port/0, amqp://...")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--metadata-proxy-socket", default=None,
                        help="unix socket to serve on (default <state-dir>/metadata_proxy)")
    parser.add_argument("--report-interval", type=float, default=5.0)
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser.parse_args(argv)


def _report(reports, host: str, socket_path: str, stop: threading.Event,
            interval: float) -> None:
    start_flag = True
    while True:
        state = {"binary": BINARY, "host": host, "agent_type": AGENT_TYPE, "topic": "N/A",
                 "start_flag": start_flag,
                 "configurations": {"metadata_proxy_socket": socket_path,
                                    "nova_metadata_host": "", "log_agent_heartbeats": False}}
        try:
            reports.call("report_state", agent_state=state,
                         time=datetime.datetime.now(datetime.timezone.utc).isoformat())
            start_flag = False
        except Exception as exc:
            LOG.warning("report_state failed: %s", exc)
        if stop.wait(interval):
            return


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.report_interval <= 0:
        raise NeutrinoError("--report-interval must be positive")
    os.makedirs(args.state_dir, exist_ok=True)
    path = args.metadata_proxy_socket or os.path.join(args.state_dir, "metadata_proxy")
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from neutrino.agents.metadata.service import MetadataService, Resolver
    from neutrino.rpc import RpcClient
    plugin = RpcClient(args.transport_url, "q-l3-plugin", timeout=10)
    reports = RpcClient(args.transport_url, "q-reports-plugin", timeout=10)
    service = MetadataService(path, Resolver(plugin.call, args.host))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        service.start()
    except OSError as exc:
        raise NeutrinoError(f"cannot serve on {path}: {exc.strerror}") from None
    reporter = threading.Thread(target=_report, daemon=True, name="metadata-report",
                                args=(reports, args.host, path, stop, args.report_interval))
    reporter.start()
    try:
        stop.wait()
    finally:
        service.stop()
        reporter.join(5)
        plugin.close()
        reports.close()
    return 0
