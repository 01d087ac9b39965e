"""The cluster's slot map, kept by the library for its own connections.

The library's sends (which need one known connection for ``CHAT.SEND`` and
its ``WAIT``) and its listener (one pub/sub connection per node) use
connection pools of their own, one per node address, rather than the pools
of redis-py's cluster client. The reason is that redis-py, when it reloads
the slot map (after a ``MOVED``, every few redirects, or a lost node),
closes every connection of a node's pool, in-use ones included: a listener
sharing those pools would lose its subscriptions each time any thread of
the app was redirected, and then reload the map itself, closing the pools
again. Pools of its own are closed only by the library.

So this module reads ``CLUSTER SLOTS`` itself, answers "which primary owns
this key or channel", takes ``MOVED`` replies into account, and hands out
the per-address pools.
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

from redis.cluster import RedisCluster
from redis.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from . import _raw, _replies

Address = tuple[str, int]


class Topology:
    """Slot ranges -> primary address, and one connection pool per address."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._starts: list[int] = []  # first slot of each range, ascending
        self._ranges: list[tuple[int, int, Address]] = []
        self._pools: dict[tuple[Address, bool], ConnectionPool] = {}
        self._known: list[Address] = []
        self._template: ConnectionPool | None = None

    # -- pools --------------------------------------------------------------

    def _template_pool(self) -> ConnectionPool:
        """One of redis-py's node pools, copied for each address so that
        passwords, TLS, timeouts and ``decode_responses`` are the same."""
        if self._template is None:
            node = self.client.get_default_node() or self.client.get_nodes()[0]
            self._template = self.client.get_redis_connection(node).connection_pool
        return self._template

    def pool(self, address: Address, listening: bool = False) -> ConnectionPool:
        """The library's pool for ``address``. ``listening``: a separate pool for
        pub/sub, whose connections never reconnect by themselves (a listener
        must notice every break, to catch up on what it missed)."""
        key = (address, listening)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                pool = _raw.pool_like(
                    self._template_pool(), retries=not listening, host=address[0], port=address[1]
                )
                if pool is None:
                    pool = ConnectionPool(host=address[0], port=address[1])
                self._pools[key] = pool
            return pool

    # -- the slot map -------------------------------------------------------

    def owner(self, key: str) -> Address:
        """The primary that owns ``key``'s slot (a channel hashes like a key)."""
        slot = self.client.keyslot(key)
        if not self._ranges:
            self.refresh()
        with self._lock:
            i = bisect.bisect_right(self._starts, slot) - 1
            if i >= 0:
                start, end, address = self._ranges[i]
                if start <= slot <= end:
                    return address
        raise RedisConnectionError(f"no node owns slot {slot} (the cluster is reconfiguring)")

    def refresh(self) -> None:
        """Reads ``CLUSTER SLOTS`` from the first node that answers."""
        candidates = list(dict.fromkeys(
            self._known + [(n.host, int(n.port)) for n in self.client.get_nodes()]
        ))
        last: BaseException | None = None
        for address in candidates:
            try:
                reply = _raw.run(self.pool(address), "CLUSTER", "SLOTS")
            except (RedisError, OSError) as error:
                last = error
                continue
            self._load(reply, address)
            return
        raise RedisConnectionError(f"no cluster node answered CLUSTER SLOTS: {last!r}")

    def _load(self, reply: Any, asked: Address) -> None:
        ranges = []
        for entry in reply:
            host = _replies.text(entry[2][0]) or asked[0]
            ranges.append((int(entry[0]), int(entry[1]), (host, int(entry[2][1]))))
        ranges.sort()
        with self._lock:
            self._ranges = ranges
            self._starts = [r[0] for r in ranges]
            self._known = list(dict.fromkeys(r[2] for r in ranges))

    def moved(self, slot: int, address: Address) -> None:
        """Takes in a ``MOVED <slot> <host:port>`` reply: that slot alone changed."""
        with self._lock:
            i = bisect.bisect_right(self._starts, slot) - 1
            if i < 0 or not (self._ranges[i][0] <= slot <= self._ranges[i][1]):
                self._ranges.insert(i + 1, (slot, slot, address))
            else:
                start, end, old = self._ranges[i]
                pieces = [(start, slot - 1, old), (slot, slot, address), (slot + 1, end, old)]
                self._ranges[i:i + 1] = [p for p in pieces if p[0] <= p[1]]
            self._starts = [r[0] for r in self._ranges]

    def close(self) -> None:
        with self._lock:
            pools = list(self._pools.values())
            self._pools.clear()
        for pool in pools:
            pool.disconnect()
