import queue
import time

import pytest

from neutrino.rpc import NotificationListener, Notifier
from neutrino.rpc.notify import _Sequence
from neutrino.rpc.transport import FANOUT, open_driver


def collector():
    got = queue.Queue()
    return got, lambda topic, event, payload, meta: got.put((topic, event, payload, meta))


def take(got, n, timeout=5):
    return [got.get(timeout=timeout) for _ in range(n)]


@pytest.fixture
def topic():
    return f"fan-{time.monotonic_ns()}"


def test_every_listener_gets_every_notification(url, topic):
    sinks = [collector() for _ in range(3)]
    listeners = [NotificationListener(url, [topic], cb).start() for _, cb in sinks]
    notifier = Notifier(url)
    try:
        for i in range(5):
            assert notifier.notify(topic, "port_update", {"port": {"id": f"p{i}"}}) == i + 1
        for got, _ in sinks:
            msgs = take(got, 5)
            assert [m[2]["port"]["id"] for m in msgs] == [f"p{i}" for i in range(5)]
            assert [m[3]["seq"] for m in msgs] == [1, 2, 3, 4, 5]
            assert all(m[0] == topic and m[1] == "port_update" for m in msgs)
            assert all(m[3]["epoch"] == notifier.epoch and m[3]["gap"] is False for m in msgs)
            assert got.empty()
    finally:
        notifier.close()
        for listener in listeners:
            listener.stop()


def test_listener_only_gets_its_topics_and_host(url, topic):
    got, cb = collector()
    notifier = Notifier(url)
    with NotificationListener(url, [topic], cb, host="compute01"):
        notifier.notify(f"{topic}-other", "x", {})
        notifier.notify(f"{topic}.compute02", "not-mine", {})
        notifier.notify(f"{topic}.compute01", "mine", {"n": 1})
        notifier.notify(topic, "all", {"n": 2})
        msgs = take(got, 2)
        # Two exchanges: no order between them.
        assert sorted((m[0], m[1]) for m in msgs) == [(topic, "all"), (topic, "mine")]
        assert [m[3]["gap"] for m in msgs] == [False, False]
        time.sleep(0.1)
        assert got.empty()
    notifier.close()


def test_skipped_number_is_reported_as_gap(url, topic):
    got, cb = collector()
    notifier = Notifier(url)
    driver = open_driver(url)
    with NotificationListener(url, [topic], cb):
        notifier.notify(topic, "a", {})
        # Message 2 is lost on the way: the next one the listener sees is 3.
        driver.publish(FANOUT, topic, {"topic": topic, "event": "c", "payload": {},
                                       "seq": 3, "epoch": notifier.epoch})
        notifier._seq[topic] = 3
        notifier.notify(topic, "d", {})
        assert [(m[1], m[3]["seq"], m[3]["gap"]) for m in take(got, 3)] == [
            ("a", 1, False), ("c", 3, True), ("d", 4, False)]
    driver.close()
    notifier.close()


def test_server_restart_is_reported_as_gap(url, topic):
    got, cb = collector()
    with NotificationListener(url, [topic], cb):
        first = Notifier(url)
        first.notify(topic, "a", {})
        first.notify(topic, "b", {})
        first.close()
        second = Notifier(url)
        assert second.epoch != first.epoch
        second.notify(topic, "c", {})
        second.notify(topic, "d", {})
        second.close()
        assert [(m[1], m[3]["gap"]) for m in take(got, 4)] == [
            ("a", False), ("b", False), ("c", True), ("d", False)]


def test_callback_error_does_not_stop_the_listener(url, topic):
    got = queue.Queue()

    def callback(topic, event, payload, meta):
        if event == "boom":
            raise RuntimeError("agent bug")
        got.put(event)

    notifier = Notifier(url)
    with NotificationListener(url, [topic], callback):
        notifier.notify(topic, "boom", {})
        notifier.notify(topic, "fine", {})
        assert got.get(timeout=5) == "fine"
    notifier.close()


def test_sequence_rules():
    seq = _Sequence()
    assert seq.gap("e1", 7) is False      # first message ever: no history to miss
    assert seq.gap("e1", 8) is False
    assert seq.gap("e1", 8) is False      # duplicate
    assert seq.gap("e1", 10) is True
    assert seq.gap("e2", 1) is True       # new epoch after another one
    assert seq.gap("e1", 11) is False     # two live notifiers interleave


def test_reconnect_is_reported_as_gap(redis_server, topic):
    got, cb = collector()
    url = redis_server.url
    with NotificationListener(url, [topic], cb):
        notifier = Notifier(url)
        notifier.notify(topic, "before", {})
        assert take(got, 1)[0][3]["gap"] is False
        redis_server.stop()
        redis_server.start()
        deadline = time.monotonic() + 10
        while got.empty():
            assert time.monotonic() < deadline, "listener never came back"
            try:
                notifier.notify(topic, "after", {})
            except Exception:
                pass
            try:
                msg = got.get(timeout=0.2)
                got.put(msg)
            except queue.Empty:
                pass
        msg = got.get()
        assert msg[1] == "after" and msg[3]["gap"] is True
        notifier.close()
