"""The agents' shared skeleton over memory://: sources, listener, loop, heartbeat, stop."""
import threading
import time
import uuid

from neutrino.agents.base import RESYNC, QueueAgent
from neutrino.rpc import Notifier, RpcServer


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


class Reports:
    def __init__(self):
        self.states = []

    def report_state(self, agent_state, time):
        self.states.append(agent_state)
        return "alive"


class Source:
    def __init__(self):
        self.stopped = False

    def stop(self):
        self.stopped = True


class Recorder(QueueAgent):
    topic = "test_agent"
    thread_prefix = "test"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.source = Source()
        self.closed = False
        self.changed = threading.Condition()

    def _open_sources(self):
        return [self.source]

    def _on_notification(self, topic, event, payload, meta):
        self._queue.put(payload["id"])

    def _loop(self):
        while (items := self._drain()) is not None:
            with self.changed:
                self.batches.append(items)

    def state(self, start_flag=False):
        return {"binary": "test", "host": self.host, "start_flag": start_flag}

    def _closed(self):
        self.closed = True


def test_skeleton_syncs_listens_reports_resyncs_and_stops():
    url = f"memory://agent-base-{uuid.uuid4().hex[:8]}"
    reports = Reports()
    server = RpcServer(url, "q-reports-plugin", reports).start()
    notifier = Notifier(url)
    agent = Recorder("node1", url, report_interval=0.05, resync_interval=0.1)
    try:
        agent.start()
        wait_for(lambda: agent.batches and agent.batches[0] == [RESYNC], "the first full sync")
        notifier.notify("test_agent", "changed", {"id": "thing-1"})
        wait_for(lambda: any("thing-1" in b for b in agent.batches), "the notification")
        wait_for(lambda: sum(b.count(RESYNC) for b in agent.batches) >= 2, "a periodic resync")
        wait_for(lambda: len(reports.states) >= 2, "heartbeats")
        assert reports.states[0]["start_flag"] is True
        assert reports.states[1]["start_flag"] is False
    finally:
        agent.stop()
        notifier.close()
        server.stop()
    assert agent.source.stopped and agent.closed
    assert not any(t.is_alive() for t in agent._threads)
