import uuid

from neutrino.rpc.kombu_transport import KombuDriver
from neutrino.rpc.transport import QUEUE


def test_a_queue_is_declared_once_per_connection(redis_server, redis_commands):
    driver = KombuDriver(redis_server.url)
    name = f"declare-{uuid.uuid4().hex}"
    try:
        log = redis_commands()
        for n in range(3):
            driver.publish(QUEUE, name, {"n": n})
        first = log.stop()
        driver.close()
        log = redis_commands()
        driver.publish(QUEUE, name, {"n": 3})
        reconnected = log.stop()
    finally:
        driver.close()
    # kombu declares a queue with one MULTI (LLEN per priority level).
    assert first.count("LPUSH") == 3 and first.count("MULTI") == 1
    assert reconnected.count("LPUSH") == 1 and reconnected.count("MULTI") == 1



def test_other_kombu_transports_keep_their_stock_channel():
    """amqp:// has no broker in the tests; kombu's in-process transport stands in for it."""
    from kombu import Connection
    from neutrino.rpc import kombu_redis
    driver = KombuDriver("memory://")
    name = f"stock-{uuid.uuid4().hex}"
    try:
        driver.publish(QUEUE, name, {"n": 1})
        driver.publish(QUEUE, name, {"n": 2})
        assert not isinstance(driver._conn.transport, kombu_redis.Transport)
        with Connection("memory://") as conn:
            queue = conn.SimpleQueue(name)
            assert [queue.get(timeout=5).payload for _ in range(2)] == [{"n": 1}, {"n": 2}]
            queue.close()
    finally:
        driver.close()
