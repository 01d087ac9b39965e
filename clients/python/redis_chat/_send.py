"""A send that survives retries, redirects and failovers, and can wait for replicas.

``CHAT.SEND ... DEDUP <key>`` sent again with the same key replies the id of
the first send and writes nothing, so a send whose reply was lost can simply
be sent again. This module does that, with a bounded number of attempts and
a growing pause between them, through everything that makes a reply go
missing or a command bounce: a dropped connection, a timeout, ``TRYAGAIN``,
``CLUSTERDOWN``, ``LOADING``, ``READONLY`` from a primary that just became a
replica, ``MOVED`` and ``ASK``.

Why raw connections
-------------------
``WAIT n`` counts the replicas that acknowledged *this connection's* last
write. So the ``CHAT.SEND`` and its ``WAIT`` must travel on the same
connection, to the primary that owns the room, with nothing in between that
could silently reconnect: redis-py's clients and pipelines retry a lost
connection by opening a new one and sending again, and a ``WAIT`` on that new
connection would count the wrong write. This module takes one connection
from a pool of the owning primary (the client's own pool on a single
server, the library's per-node pool in a cluster), writes both commands,
reads both replies, and decides itself what to do when something goes
wrong.

When the first write may have happened elsewhere
------------------------------------------------
After a connection was lost mid-send, the retry may find the message already
stored: it then writes nothing, and the new connection has no write of its
own for ``WAIT`` to count (``WAIT`` would answer at once, whatever the
replicas hold). In that case the library also reads the primary's
replication offset with ``ROLE`` right after the retry, and waits until
enough replicas report at least that offset: that offset covers the first
write, wherever it came from.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.connection import Connection, ConnectionPool
from redis.exceptions import AskError, MovedError, ResponseError

from . import _raw, _replies
from ._backend import Backend
from ._retry import LOST, Retry, transient_reply
from .errors import NotReplicated, SendFailed, typed


@dataclass
class _Progress:
    """What the attempts of one send have learned so far."""

    ask: tuple[str, int] | None = None  # send the next attempt there, after ASKING
    uncertain: bool = False  # an attempt was cut off: it may have stored the message
    last: BaseException | None = None  # why the last attempt did not finish
    stored: tuple[int, int] | None = None  # (id, replicas that confirmed it)


class _Link:
    """The one connection a send's attempts share, until it breaks.

    Kept across attempts on purpose: after ``WAIT`` reported too few
    replicas, the retry must run on the same connection for its ``WAIT`` to
    count the first write.
    """

    def __init__(self) -> None:
        self.pool: ConnectionPool | None = None
        self.conn: Connection | None = None

    def get(self, pool: Callable[[], ConnectionPool | None]) -> Connection | None:
        if self.conn is None:
            self.pool = pool()
            if self.pool is not None:
                self.conn = _raw.take(self.pool)
        return self.conn

    def release(self, broken: bool = False) -> None:
        if self.conn is not None and self.pool is not None:
            if broken:
                self.conn.disconnect()
            self.pool.release(self.conn)
        self.conn, self.pool = None, None


class Sender:
    """Sends messages with a DEDUP key, retrying until the outcome is known."""

    def __init__(self, backend: Backend, retry: Retry, wait_timeout: float) -> None:
        self.backend = backend
        self.retry = retry
        self.attempts = retry.attempts
        self.wait_timeout = wait_timeout

    def send(
        self,
        room: str,
        sender: str,
        text: str,
        key: str,
        replicas: int,
        options: tuple[Any, ...] = (),
    ) -> int:
        """Sends once (as far as the room can tell) and returns the message id.

        ``options`` follow the DEDUP key on every attempt (``REPLY <id>``,
        ``MENTION <user>`` ...): a retry is the same command, word for word.

        Raises the module's own error replies (``no such room``, ``not a
        member``, ...) at once (a room's rules as their ``errors.Refused``
        subclass: ``Muted``, ``SlowMode``, ``RateLimited``, ...), ``NotReplicated`` when the message is stored
        but too few replicas confirmed it, and ``SendFailed`` when no attempt
        got an answer.
        """
        progress = _Progress()
        link = _Link()
        commands: list[tuple[Any, ...]] = [
            ("CHAT.SEND", room, sender, text, "DEDUP", key, *options)
        ]
        if replicas:
            commands.append(("WAIT", replicas, int(self.wait_timeout * 1000)))
        try:
            for attempt in range(1, self.attempts + 1):
                if attempt > 1:
                    self.retry.pause(attempt)
                msg_id = self._attempt(room, sender, commands, replicas, progress, link)
                if msg_id is not None:
                    return msg_id
        finally:
            link.release()
        if progress.stored is not None:
            # Some attempt got the id: the message is stored, whatever the
            # later attempts ran into.
            msg_id, acked = progress.stored
            raise NotReplicated(
                f"message {msg_id} in {room!r} is stored, but only {acked} of "
                f"{replicas} replicas confirmed it after {self.attempts} attempts",
                key,
                self.attempts,
                msg_id,
                acked,
            )
        raise SendFailed(
            f"CHAT.SEND to {room!r} got no answer after {self.attempts} attempts "
            f"(DEDUP key {key}; sending again with it is safe): {progress.last!r}",
            key,
            self.attempts,
        ) from progress.last

    def _attempt(
        self,
        room: str,
        sender: str,
        commands: list[tuple[Any, ...]],
        replicas: int,
        progress: _Progress,
        link: _Link,
    ) -> int | None:
        """One attempt: the id when done, None to try again; raises a final error."""
        ask, progress.ask = progress.ask, None
        try:
            conn = link.get(lambda: self.backend.pool_at(*ask) if ask else self.backend.pool_for_key(room))
            if conn is None:
                self.backend.refresh()  # an ASK to a node nobody knows
                return None
            replies = _raw.exchange(conn, [("ASKING",), *commands] if ask else commands)
            if ask:
                replies = replies[1:]
            if isinstance(replies[0], ResponseError):
                self._bounced(replies[0], room, sender, progress, link)
                return None
            msg_id = _replies.integer(replies[0])
            if not replicas:
                return msg_id
            acked = self._confirmed(conn, replies[1], replicas, progress.uncertain)
        except LOST as error:
            # The send may or may not have run: only the DEDUP key can tell,
            # on the next attempt.
            progress.uncertain, progress.last = True, error
            link.release(broken=True)
            self.backend.refresh()
            return None
        progress.stored, progress.last = (msg_id, acked), None
        # Too few replicas: the link stays, so that the next attempt's WAIT
        # (after a send that writes nothing, same DEDUP key) counts this write.
        return msg_id if acked >= replicas else None

    def _bounced(
        self, reply: ResponseError, room: str, sender: str, progress: _Progress, link: _Link
    ) -> None:
        """Returns when the error reply is worth another attempt, else raises it.

        None of these replies ran the send, so they leave ``uncertain`` as it was.
        """
        progress.last = reply
        link.release()
        if isinstance(reply, AskError) and not isinstance(reply, MovedError):
            # The slot is moving and the room is already on the new node:
            # one command, preceded by ASKING, goes there.
            progress.ask = (reply.host, int(reply.port))
        elif isinstance(reply, MovedError):
            self.backend.moved(reply.slot_id, reply.host, reply.port)
        elif transient_reply(reply):
            # TRYAGAIN among them: the module's answer when the slot moves
            # and the sender's key is on the other node for the moment.
            self.backend.refresh()
        else:
            raise typed(reply)

    def _confirmed(self, conn: Connection, wait_reply: Any, replicas: int, uncertain: bool) -> int:
        """How many replicas have the message, by WAIT and, after an attempt
        that was cut off, by the replication offsets (see module doc)."""
        if isinstance(wait_reply, ResponseError):
            raise typed(wait_reply)
        acked = _replies.integer(wait_reply)
        if uncertain and acked >= replicas:
            acked = self._replicas_at_offset(conn, replicas)
        return acked

    def _replicas_at_offset(self, conn: Connection, replicas: int) -> int:
        """How many replicas have the primary's current offset, waiting up to
        ``wait_timeout`` for ``replicas`` of them.

        Replicas report their offset about once a second, so this can take
        that long; it runs only after a lost connection (see module doc).
        """
        deadline = time.monotonic() + self.wait_timeout
        target: int | None = None
        while True:
            role = _raw.exchange(conn, [("ROLE",)])[0]
            if isinstance(role, ResponseError):
                raise typed(role)
            if _replies.text(role[0]) != "master":
                return 0
            if target is None:
                target = _replies.integer(role[1])
            caught_up = sum(1 for r in role[2] if _replies.integer(r[2]) >= target)
            if caught_up >= replicas or time.monotonic() >= deadline:
                return caught_up
            time.sleep(0.05)
