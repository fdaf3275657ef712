"""``neutrino agent l3`` and ``neutrino agent metadata`` as real processes over redis."""
import os
import signal
import subprocess
import sys
import time

import pytest

from neutrino.agents.l3.main import parse_args
from neutrino.cli import agent as cli_agent
from neutrino.errors import NeutrinoError
from neutrino.rpc import Notifier, RpcServer

from tests.agents.l3.fakes import FakeL3Plugin

NEUTRINO = os.path.join(os.path.dirname(sys.executable), "neutrino")


def wait_for(predicate, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(NeutrinoError, match="transport-url"):
        parse_args(["--state-dir", str(tmp_path)])
    with pytest.raises(NeutrinoError, match="positive"):
        cli_agent.main(["l3", "--transport-url", "memory://", "--state-dir", str(tmp_path),
                        "--report-interval", "0"])
    with pytest.raises(NeutrinoError, match="unknown agent"):
        cli_agent.main(["l4"])
    res = subprocess.run([NEUTRINO, "agent", "metadata", "--state-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode != 0
    assert len(res.stderr.strip().splitlines()) == 1 and "transport-url" in res.stderr


def test_agents_run_report_and_stop(redis_url, tmp_path):
    plugin = FakeL3Plugin()
    servers = [RpcServer(redis_url, "q-l3-plugin", plugin).start(),
               RpcServer(redis_url, "q-reports-plugin", plugin).start()]
    procs = []
    try:
        for kind in ("l3", "metadata"):
            procs.append(subprocess.Popen(
                [NEUTRINO, "agent", kind, "--host", "controller", "--transport-url", redis_url,
                 "--state-dir", str(tmp_path / kind), "--report-interval", "0.2",
                 "--metadata-proxy-socket", str(tmp_path / "metadata_proxy")],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
        wait_for(lambda: {r["agent_type"] for r in plugin.reports} >= {"L3 agent",
                                                                       "Metadata agent"},
                 "both agents reporting")
        wait_for(lambda: None in plugin.sync_calls, "the L3 agent's full sync")
        assert os.path.exists(tmp_path / "metadata_proxy")
        # A routers_updated for a router the server does not return: a targeted sync.
        notifier = Notifier(redis_url)
        try:
            notifier.notify("l3_agent", "routers_updated", {"router_ids": ["r-x"]})
            wait_for(lambda: ["r-x"] in plugin.sync_calls, "targeted sync")
        finally:
            notifier.close()
        for child in procs:
            child.send_signal(signal.SIGTERM)
            assert child.wait(15) == 0, child.stderr.read()
        assert not os.path.exists(tmp_path / "metadata_proxy")
    finally:
        for child in procs:
            if child.poll() is None:
                child.kill()
                child.wait(5)
        for server in servers:
            server.stop()
