"""``neutrino agent dhcp`` as a real process over redis."""
import signal
import subprocess
import sys
import threading
import time

import pytest

from neutrino.agents.dhcp.main import main
from neutrino.errors import NeutrinoError
from neutrino.rpc import RpcServer


class Server:
    def __init__(self):
        self.reports = []
        self.synced = threading.Event()

    def report_state(self, agent_state, time):
        self.reports.append(agent_state)
        return "alive"

    def get_active_networks_info(self, host):
        self.synced.set()
        return []


def test_bad_arguments_are_one_clear_error(tmp_path):
    with pytest.raises(NeutrinoError, match="--transport-url"):
        main(["--host", "h", "--state-dir", str(tmp_path)])
    with pytest.raises(NeutrinoError, match="log-level"):
        main(["--transport-url", "memory://", "--state-dir", str(tmp_path),
              "--log-level", "chatty"])
    with pytest.raises(NeutrinoError, match="positive"):
        main(["--transport-url", "memory://", "--state-dir", str(tmp_path),
              "--report-interval", "0"])
    cli = subprocess.run([sys.executable, "-m", "neutrino.cli.main", "agent", "dhcp",
                          "--host", "h"], capture_output=True, text=True, timeout=30)
    assert cli.returncode != 0
    assert cli.stderr.strip().count("\n") == 0 and "error" in cli.stderr


def test_agent_process_reports_syncs_and_stops(redis_url, tmp_path):
    server = Server()
    rpcs = [RpcServer(redis_url, topic, server).start()
            for topic in ("q-plugin", "q-reports-plugin")]
    agent = subprocess.Popen([sys.executable, "-m", "neutrino.cli.main", "agent", "dhcp",
                              "--host", "controller", "--transport-url", redis_url,
                              "--state-dir", str(tmp_path / "state"), "--report-interval", "0.2"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert server.synced.wait(20), "agent never asked for its networks"
        deadline = time.monotonic() + 10
        while len(server.reports) < 2:
            assert time.monotonic() < deadline, "agent does not report its state"
            time.sleep(0.02)
        assert server.reports[0]["start_flag"] is True
        assert server.reports[0]["agent_type"] == "DHCP agent"
        assert server.reports[1]["start_flag"] is False
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)
        for rpc in rpcs:
            rpc.stop()


def test_unreachable_broker_is_a_clear_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(NeutrinoError, match="message broker"):
        main(["--transport-url", f"redis+socket://{tmp_path}/no.sock",
              "--state-dir", str(tmp_path / "state"), "--host", "h"])
    assert time.monotonic() - start < 5
