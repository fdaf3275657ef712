import threading
import time
import uuid

import redis

from neutrino.rpc import RpcClient, RpcServer
from neutrino.rpc.kombu_transport import KombuDriver, _connect
from neutrino.rpc.transport import FANOUT, QUEUE, REPLY, Binding


class Echo:
    def echo(self, value):
        return value


def test_publishing_reuses_one_redis_client(redis_server, monkeypatch):
    built = []
    original = redis.Redis.__init__

    def counting_init(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    driver = KombuDriver(redis_server.url)
    name = f"reuse-{uuid.uuid4().hex}"
    try:
        for kind in (QUEUE, FANOUT, REPLY):
            driver.publish(kind, name, {"n": 0})
        after_connect = len(built)
        for n in range(30):
            for kind in (QUEUE, FANOUT, REPLY):
                driver.publish(kind, name, {"n": n})
        assert len(built) == after_connect
    finally:
        driver.close()


def test_a_channel_gets_a_new_client_with_a_new_pool(redis_server):
    conn = _connect(redis_server.url)
    try:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first:
            pass
        with channel.conn_or_acquire() as again:
            assert again is first
        channel._disconnect_pools()
        with channel.conn_or_acquire() as fresh:
            assert fresh is not first
            assert fresh.ping()
    finally:
        conn.release()


def test_a_call_costs_two_pushes_and_no_ack_bookkeeping(redis_server, redis_commands):
    url, topic = redis_server.url, f"cost-{uuid.uuid4().hex}"
    with RpcServer(url, topic, Echo()).start(), RpcClient(url, topic, timeout=5) as client:
        assert client.call("echo", value=1) == 1
        log = redis_commands()
        try:
            assert client.call("echo", value=2) == 2
        finally:
            commands = log.stop()
    assert commands.count("LPUSH") == 2
    assert not {"MULTI", "ZADD", "HSET", "HDEL", "ZREM"} & set(commands), commands


def test_messages_cross_with_a_stock_kombu_peer(redis_server):
    from kombu import Connection
    url, name = redis_server.url, f"stock-{uuid.uuid4().hex}"
    driver = KombuDriver(url)
    try:
        with Connection(url) as conn:
            stock = conn.SimpleQueue(name)
            driver.publish(QUEUE, name, {"from": "neutrino"})
            assert stock.get(timeout=5).payload == {"from": "neutrino"}
            stock.close()
    finally:
        driver.close()
    with RpcServer(url, name, Echo()).start():
        got = threading.Event()
        seen = []

        def on_reply(_name, body):
            seen.append(body)
            got.set()

        reply_to = f"reply-{uuid.uuid4().hex}"
        listener = KombuDriver(url)
        consumer = listener.consume([Binding(REPLY, reply_to)], on_reply)
        consumer.wait_ready(5)
        try:
            with Connection(url) as conn:
                conn.SimpleQueue(name).put({"method": "echo", "args": {"value": 3},
                                            "msg_id": "m1", "reply_to": reply_to,
                                            "deadline": time.time() + 30})
            assert got.wait(5)
            assert seen == [{"msg_id": "m1", "result": 3}]
        finally:
            consumer.stop()
            listener.close()
