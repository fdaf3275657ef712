"""kombu's redis transport without its per-message client and ack costs.

Two things kombu's stock redis channel pays on every message, and how this
subclass avoids them:

* ``conn_or_acquire`` builds a new ``redis.Redis`` for every command (each
  publish, ack, queue look-up), and redis-py fills ~200 response callbacks
  into a fresh case-insensitive dict each time. Here a channel builds one
  command client on its connection pool and reuses it, pinned to one pooled
  connection (no pool check-out per command); redis-py serialises commands
  on it with a lock, so it is thread safe, and reconnects it on error as it
  does any connection. It goes with the pool, so a channel whose pool was
  disconnected gets a fresh one.
* Ack emulation stores every delivered message in an ``unacked`` hash
  (one MULTI/EXEC) and deletes it again on ack (another), so that a consumer
  dying between the two gets the message redelivered an hour later. Our
  consumers ack before they handle a message, so that window is a few
  microseconds and the redelivery could only come long after any caller
  gave up: delivery is at most once either way, now without the two
  round trips per message.
* Priorities: every queue is four redis lists (priority steps 0, 3, 6, 9),
  so each BRPOP named four keys per queue and a queue declaration counted
  four lists. We publish everything at priority 0, the plain list, which
  is now the only one.

The BRPOP/PUBLISH wire format is kombu's own, so processes on the stock
transport and on this one interoperate.
"""
from contextlib import contextmanager
from typing import Optional

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    ack_emulation = False
    priority_steps = [0]
    _command_client: Optional[redis.Redis] = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        command_client = self._command_client
        if command_client is None or command_client.connection_pool is not self.pool:
            command_client = self._command_client = self._create_command_client()
        yield command_client

    def _create_command_client(self) -> redis.Redis:
        kwargs = {"connection_pool": self.pool, "single_connection_client": True}
        credential_provider = self.pool.connection_kwargs.get("credential_provider")
        if credential_provider is not None:
            kwargs["credential_provider"] = credential_provider
        return self.Client(**kwargs)

    def _disconnect_pools(self):
        self._command_client = None
        super()._disconnect_pools()


class Transport(kombu_redis.Transport):
    Channel = Channel
