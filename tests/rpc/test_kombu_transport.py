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

