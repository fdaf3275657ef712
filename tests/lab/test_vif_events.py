"""Nova's wait for network-vif-plugged, on a real (in-process) message bus."""
import secrets
import threading
import time

import pytest

from neutrino.lab import vif_events
from neutrino.rpc import NotificationListener, Notifier


def plugged(port_id, status="completed"):
    return {"name": vif_events.PLUGGED, "server_uuid": "vm-" + port_id, "tag": port_id,
            "status": status}


@pytest.fixture
def bus():
    url = f"memory://vif-{secrets.token_hex(4)}"
    notifier = Notifier(url)
    yield url, notifier
    notifier.close()


def never(_port_id):
    return False


def test_a_boot_wakes_on_its_own_ports_event_and_others_time_out(bus, monkeypatch):
    url, notifier = bus
    monkeypatch.setattr(vif_events, "RECHECK", 30)
    events = vif_events.VifEvents()
    results = {}
    with events.expecting(url) as first, events.expecting(url) as second:
        threads = [threading.Thread(target=lambda: results.__setitem__(
                       "a", first.wait("a", 5, never))),
                   threading.Thread(target=lambda: results.__setitem__(
                       "b", second.wait("b", 0.5, never)))]
        for t in threads:
            t.start()
        time.sleep(0.1)
        notifier.notify(vif_events.TOPIC, vif_events.PLUGGED, plugged("b", status="failed"))
        notifier.notify(vif_events.TOPIC, "network-vif-unplugged", plugged("b"))
        notifier.notify(vif_events.TOPIC, vif_events.PLUGGED, plugged("a"))
        for t in threads:
            t.join(10)
    assert results == {"a": True, "b": False}


def test_an_event_heard_before_the_wait_is_not_missed(bus, monkeypatch):
    url, notifier = bus
    monkeypatch.setattr(vif_events, "RECHECK", 30)
    events = vif_events.VifEvents()
    with events.expecting(url) as expectation:
        notifier.notify(vif_events.TOPIC, vif_events.PLUGGED, plugged("early"))
        deadline = time.monotonic() + 5
        while "early" not in events._labs[url].plugged:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        t0 = time.monotonic()
        assert expectation.wait("early", 5, never)
        assert time.monotonic() - t0 < 1


def test_without_the_event_the_api_is_asked_every_recheck(bus, monkeypatch):
    url, _ = bus
    monkeypatch.setattr(vif_events, "RECHECK", 0.1)
    asked = []

    def is_active(port_id):
        asked.append(port_id)
        if len(asked) == 1:
            raise RuntimeError("API down")
        return len(asked) >= 3
    with vif_events.VifEvents().expecting(url) as expectation:
        assert expectation.wait("p", 5, is_active)
    assert asked == ["p", "p", "p"]


def test_a_gap_in_the_notifications_makes_the_waits_ask_the_api(monkeypatch):
    monkeypatch.setattr(vif_events, "RECHECK", 30)
    listeners = []

    class Fake:
        def __init__(self, url, topics, callback):
            self.callback = callback
            listeners.append(self)

        def start(self):
            return self

        def stop(self):
            pass
    asked = []
    with vif_events.VifEvents(Fake).expecting("memory://x") as expectation:
        waiter = threading.Thread(target=lambda: asked.append(
            expectation.wait("p", 5, lambda p: True)))
        waiter.start()
        time.sleep(0.1)
        listeners[0].callback("nova", "something-else", {}, {"gap": True})
        waiter.join(5)
    assert asked == [True]


def test_one_listener_per_lab_stopped_a_while_after_the_last_boot(bus, monkeypatch):
    url, _ = bus
    monkeypatch.setattr(vif_events, "LINGER", 0.2)
    made = []

    def factory(*args):
        listener = NotificationListener(*args)
        made.append(listener)
        return listener
    events = vif_events.VifEvents(factory)
    with events.expecting(url), events.expecting(url):
        pass
    with events.expecting(url):                  # within the linger: the same listener
        pass
    assert len(made) == 1
    deadline = time.monotonic() + 5
    while url in events._labs:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert made[0]._consumer is None             # stopped
    with events.expecting(url):
        assert len(made) == 2


def test_a_listening_service_keeps_the_listener_up_for_later_boots(bus, monkeypatch):
    url, notifier = bus
    monkeypatch.setattr(vif_events, "LINGER", 0.05)
    monkeypatch.setattr(vif_events, "RECHECK", 30)
    asked = []
    events = vif_events.VifEvents()
    with events.listening(url):
        assert events._labs[url].ready.is_set()
        listener = events._labs[url].listener
        with events.expecting(url) as boot:
            pass
        time.sleep(0.2)                                # past the linger of that boot
        assert events._labs[url].listener is listener
        with events.expecting(url) as boot:
            notifier.notify(vif_events.TOPIC, vif_events.PLUGGED, plugged("c"))
            assert boot.wait("c", 5, lambda p: asked.append(p) or False)
    assert asked == []                                 # subscribed before: the event sufficed


def test_stop_ends_the_listener_at_once_even_while_a_boot_waits(bus, monkeypatch):
    url, _ = bus
    monkeypatch.setattr(vif_events, "LINGER", 60)
    events = vif_events.VifEvents()
    with events.expecting(url):
        listener = events._labs[url].listener
        events.stop(url)
        assert listener._consumer is None and url not in events._labs
    events.stop(url)                                   # nothing left: no error


def test_a_boot_begun_before_the_listener_was_up_asks_the_api_once(monkeypatch):
    monkeypatch.setattr(vif_events, "RECHECK", 30)
    gate = threading.Event()

    class Slow:
        def __init__(self, url, topics, callback):
            pass

        def start(self):
            assert gate.wait(5)
            return self

        def stop(self):
            pass
    events = vif_events.VifEvents(Slow)
    asked = []
    with events.expecting("memory://slow") as early:
        gate.set()
        assert early.wait("p", 5, lambda p: asked.append(p) or True)
        assert asked == ["p"]
        with events.expecting("memory://slow") as late:
            assert not late.wait("q", 0.2, lambda p: asked.append(p) and False)
    assert asked == ["p", "q"]          # "q": only the last look at its deadline, none first


def test_a_bus_that_cannot_be_listened_to_leaves_the_api(monkeypatch):
    monkeypatch.setattr(vif_events, "RECHECK", 0.05)

    class Broken:
        def __init__(self, url, topics, callback):
            pass

        def start(self):
            raise RuntimeError("no broker")

        def stop(self):
            pass
    answers = iter([False, False, True])
    with vif_events.VifEvents(Broken).expecting("memory://none") as expectation:
        assert expectation.wait("p", 5, lambda p: next(answers))
