"""The pub/sub connections of a ``Listener``: one per endpoint.

A listener's channels may live on several nodes (in Redis Cluster, shard
channels on the node of each slot; presence channels of followed users on
theirs), so it keeps one ``PubSub`` per endpoint and waits on all their
sockets at once. Subscribing waits for the server's confirmation of each
channel: only then is a message published afterwards sure to arrive, which
is what lets the listener read the history after subscribing and lose
nothing in between. Messages that arrive while it waits are kept for the
next read, in order.
"""

from __future__ import annotations

import select
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.client import PubSub

from . import _replies
from ._following import _TICK

if TYPE_CHECKING:
    from ._backend import Backend

# How long to wait for the server to confirm a subscription.
_CONFIRM_TIMEOUT = 5.0


class Subscriptions:
    """The pub/sub part of ``Listener``: subscribing, waiting, reading."""

    _backend: Backend
    _pubsubs: dict[str, PubSub]
    _channels: dict[str, str]  # channel -> endpoint
    _unsubscribing: set[str]
    _backlog: deque[dict[str, Any]]
    _echoes: deque[dict[str, Any]]
    _reconnected: bool

    if TYPE_CHECKING:

        def _want(self, kind: str, cause: str) -> None: ...

    # -- subscribing ------------------------------------------------------

    def _subscribe(self, verb: str, channels: list[str]) -> None:
        """Makes the subscriptions match ``channels``, waiting for confirmation."""
        wanted = {ch: self._backend.endpoint_of_channel(ch) for ch in channels}
        for ch, endpoint in list(self._channels.items()):
            if wanted.get(ch) != endpoint:
                del self._channels[ch]
                ps = self._pubsubs.get(endpoint)
                if ps is not None:
                    self._unsubscribing.add(ch)
                    (ps.sunsubscribe if verb == "SSUBSCRIBE" else ps.unsubscribe)(ch)
        new: dict[str, list[str]] = {}
        for ch, endpoint in wanted.items():
            if ch not in self._channels:
                new.setdefault(endpoint, []).append(ch)
        pending: dict[str, set[str]] = {}
        for endpoint, chs in new.items():
            ps = self._pubsubs.get(endpoint)
            fresh = ps is None
            if ps is None:
                ps = self._backend.pubsub(endpoint)
                self._pubsubs[endpoint] = ps
            if verb == "SSUBSCRIBE":
                # One SSUBSCRIBE per channel: the server refuses channels of
                # different slots in one command, even on the same node.
                for ch in chs:
                    ps.ssubscribe(ch)
            else:
                ps.subscribe(*chs)
            if fresh and ps.connection is not None:
                # redis-py reconnects a pub/sub connection by itself and
                # subscribes again; this callback is how the listener learns
                # that messages may have been lost meanwhile.
                ps.connection.register_connect_callback(self._on_connect)
            for ch in chs:
                self._channels[ch] = endpoint
            pending[endpoint] = set(chs)
        self._await_confirmations(pending)

    def _await_confirmations(self, pending: dict[str, set[str]]) -> None:
        deadline = time.monotonic() + _CONFIRM_TIMEOUT
        for endpoint, chs in pending.items():
            ps = self._pubsubs[endpoint]
            while chs:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no confirmation of subscriptions to {sorted(chs)}")
                message = ps.get_message(timeout=min(left, _TICK))
                if message is None:
                    continue
                if message.get("type") in ("subscribe", "ssubscribe"):
                    chs.discard(_replies.text(message["channel"]))
                else:
                    self._backlog.append(message)

    def _on_connect(self, connection: Any) -> None:
        self._reconnected = True

    def _teardown_pubsubs(self) -> None:
        for ps in self._pubsubs.values():
            conn = ps.connection
            if conn is not None and hasattr(conn, "deregister_connect_callback"):
                conn.deregister_connect_callback(self._on_connect)
            try:
                ps.close()
            except Exception:
                pass  # the connection is already broken: nothing to close
        self._pubsubs.clear()
        self._channels.clear()
        self._unsubscribing.clear()
        self._backlog.clear()
        self._echoes.clear()

    # -- reading ----------------------------------------------------------

    def _poll(self, wait: float) -> list[dict[str, Any]]:
        """Whatever the subscriptions hold, waiting up to ``wait`` for some."""
        got = list(self._backlog)
        self._backlog.clear()
        got += self._drain()
        if got or self._reconnected:
            return got
        socks: list[Any] = []
        for ps in self._pubsubs.values():
            sock = getattr(ps.connection, "_sock", None) if ps.connection else None
            if sock is None:
                time.sleep(min(wait, 0.05))
                return self._drain()
            socks.append(sock)
        if not socks:
            time.sleep(wait)
            return []
        try:
            select.select(socks, [], [], wait)
        except ValueError:
            # A socket closed under us (its descriptor is -1): reconnect.
            self._want("full", "reconnect")
            return []
        return self._drain()

    def _drain(self) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        for ps in list(self._pubsubs.values()):
            while len(got) < 10_000:
                message = ps.get_message(timeout=0)
                if message is None:
                    break
                got.append(message)
        return got
