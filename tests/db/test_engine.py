"""SQLite's one writer: asked-for order, urgent writers first."""
import threading
import time

from neutrino.db.engine import Database, Urgent, WriteLock


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_writers_get_the_lock_in_order_and_urgent_ones_first():
    lock = WriteLock()
    lock.acquire()
    order = []

    def writer(name, urgent):
        lock.acquire(urgent)
        order.append(name)
        lock.release()
    threads = []
    for name, urgent in (("a", False), ("b", False), ("u1", True), ("c", False), ("u2", True)):
        threads.append(threading.Thread(target=writer, args=(name, urgent)))
        threads[-1].start()
        wait_for(lambda: len(lock._waiting[0]) + len(lock._waiting[1]) == len(threads))
    lock.release()
    for t in threads:
        t.join(5)
    assert order == ["u1", "u2", "a", "b", "c"]
    lock.acquire()                               # free again
    lock.release()


def test_an_urgent_endpoints_writes_overtake_queued_ordinary_writes(tmp_path):
    db = Database(f"sqlite:///{tmp_path}/t.db")
    order = []

    class Endpoint:
        def report(self, name):
            with db.writer():
                order.append(name)
    urgent, plain = Urgent(Endpoint()), Endpoint()
    db._write_lock.acquire()
    threads = [threading.Thread(target=plain.report, args=("api",)),
               threading.Thread(target=urgent.report, args=("agent",))]
    for i, t in enumerate(threads):
        t.start()
        wait_for(lambda: sum(map(len, db._write_lock._waiting)) == i + 1)
    db._write_lock.release()
    for t in threads:
        t.join(5)
    assert order == ["agent", "api"]
    assert urgent.report.__name__ == "report"
    db.dispose()
