"""Standalone or Redis Cluster: the few places where the two differ.

Most commands need nothing special: a ``redis.Redis`` sends them to its
server, and a ``redis.cluster.RedisCluster`` routes each to the node that
owns the slot of its declared key (the module declares its keys, so the
cluster client finds them with ``COMMAND``). What does differ:

- a command with no key (``CHAT.DM-ID``) must be told where to go;
- a send that waits for replicas needs one raw connection to the primary
  that owns the room, because ``WAIT`` counts that connection's own writes;
- listening needs one pub/sub connection per node that owns a channel, and
  SSUBSCRIBE instead of SUBSCRIBE;
- after a redirect, a failover or a lost node the slot map must be read
  again (the library keeps its own for these connections: see
  ``_topology``).

``Backend`` hides those behind one interface, picked by ``backend_for``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from redis.client import PubSub
from redis.cluster import RedisCluster
from redis.connection import ConnectionPool
from redis.exceptions import RedisError, ResponseError

from . import _raw, errors
from ._topology import Topology


class Backend:
    """What the rest of the library needs from the client (standalone form)."""

    cluster = False

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._listen_pool: ConnectionPool | None = None

    def call(self, *args: Any) -> Any:
        """Runs one command on the node that owns its declared key.

        A refusal by a room's rules is raised as its ``errors.Refused``
        subclass (``Muted``, ``SlowMode``, ...), any other error as it came.
        """
        return _typed_errors(self.client.execute_command, *args)

    def call_anywhere(self, *args: Any) -> Any:
        """Runs a command that declares no key (any primary can answer it)."""
        return _typed_errors(self.client.execute_command, *args)

    def pipeline(self) -> Any:
        """A non-transactional pipeline: one round trip per node, replies in order.

        Used to batch independent reads (a cursor per room, a history page
        per room). Not a transaction: each command stands alone, which is
        all these reads need, and which a cluster allows across slots.
        """
        return self.client.pipeline(transaction=False)

    def pool_for_key(self, key: str) -> ConnectionPool:
        """The connection pool of the primary that owns ``key``."""
        return self.client.connection_pool

    def pool_at(self, host: str, port: int) -> ConnectionPool | None:
        """The pool of the node at host:port (an ``ASK`` target); cluster only."""
        return None

    def refresh(self) -> None:
        """Re-reads the slot map after a lost node or a failover (no-op here)."""

    def moved(self, slot: int, host: str, port: int) -> None:
        """Takes in a ``MOVED`` reply (no-op here)."""

    def same_slot(self, a: str, b: str) -> bool:
        """Whether two keys share a slot (always, on one server)."""
        return True

    def endpoint_of_channel(self, channel: str) -> str:
        """A name for the connection a channel is listened to on."""
        return "server"

    def close(self) -> None:
        """Closes the connections the library opened itself (not the client's)."""
        if self._listen_pool is not None:
            self._listen_pool.disconnect()

    def pubsub(self, endpoint: str) -> PubSub:
        """A new pub/sub object for ``endpoint``.

        Its connections come from a pool of the library's own whose
        connections never reconnect silently: a listener must notice every
        break, since messages published meanwhile are gone from pub/sub.
        """
        if self._listen_pool is None:
            self._listen_pool = _raw.pool_like(self.client.connection_pool, retries=False)
        if self._listen_pool is None:
            # A pool that cannot be copied (Sentinel's): the client's own. The
            # listener then learns of silent reconnects from a callback.
            return self.client.pubsub()
        return PubSub(self._listen_pool)


class ClusterBackend(Backend):
    """The same interface over a ``RedisCluster``.

    Sends and listeners use the library's own slot map and pools
    (``Topology``); every other command goes through the cluster client.
    """

    cluster = True
    client: RedisCluster  # type: ignore[assignment]

    def __init__(self, client: RedisCluster) -> None:
        super().__init__(client)  # type: ignore[arg-type]
        self.topology = Topology(client)

    def call_anywhere(self, *args: Any) -> Any:
        return _typed_errors(self.client.execute_command, *args, target_nodes=RedisCluster.RANDOM)

    def close(self) -> None:
        self.topology.close()

    def pipeline(self) -> Any:
        return self.client.pipeline()

    def pool_for_key(self, key: str) -> ConnectionPool:
        return self.topology.pool(self.topology.owner(key))

    def pool_at(self, host: str, port: int) -> ConnectionPool | None:
        return self.topology.pool((host, int(port)))

    def refresh(self) -> None:
        try:
            self.topology.refresh()
        except RedisError:
            # No node answered (a failover in progress): the caller retries,
            # and a later refresh may find the new topology.
            pass

    def moved(self, slot: int, host: str, port: int) -> None:
        self.topology.moved(slot, (host, int(port)))

    def same_slot(self, a: str, b: str) -> bool:
        return bool(self.client.keyslot(a) == self.client.keyslot(b))

    def endpoint_of_channel(self, channel: str) -> str:
        host, port = self.topology.owner(channel)
        return f"{host}:{port}"

    def pubsub(self, endpoint: str) -> PubSub:
        host, _, port = endpoint.rpartition(":")
        # A plain pub/sub object on the node, not redis-py's ClusterPubSub:
        # the listener keeps one per node itself, so that it can tell which
        # node dropped and rebuild only from facts it saw (a disconnect, a
        # server-side SUNSUBSCRIBE).
        return PubSub(self.topology.pool((host, int(port)), listening=True))


def _typed_errors(run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``run(*args, **kwargs)``, with a refusal's error raised as its class
    in ``errors`` (the same text, still a ``ResponseError``)."""
    try:
        return run(*args, **kwargs)
    except ResponseError as error:
        refined = errors.typed(error)
        if refined is error:
            raise
        raise refined from None


def backend_for(client: Any) -> Backend:
    """Chooses the backend from the client's class."""
    if isinstance(client, RedisCluster):
        return ClusterBackend(client)
    if isinstance(client, redis.Redis):
        return Backend(client)
    raise TypeError(
        f"Chat needs a redis.Redis or a redis.cluster.RedisCluster, not {type(client).__name__}"
    )
