"""Following other users' presence, for ``Listener``.

A listener subscribes to the presence channels of the users it follows
(``chat:user:{<id>}:presence``; in Redis Cluster shard channels of each
user's slot, on the node that serves it) with the rest of its channels, and
hands out the ``presence`` events on them with the user's messages, each
only when it changes what is known of that user. Pub/sub may lose an event
while a connection is down, so after a break the listener reads each
followed user's presence again (``CHAT.PROFILE``) and hands out an event
for each that changed meanwhile.

Who is followed may change while another thread waits in ``get``: the
change is queued, and applied by whichever thread holds the listener first.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from redis.exceptions import RedisClusterException, ResponseError

from ._presence import presence_channel, user_of_presence_channel
from ._retry import LOST, transient_reply

if TYPE_CHECKING:
    from .chat import Chat

# The longest single wait on the sockets or for the listener's lock, so that
# close() and follow requests are noticed soon.
_TICK = 0.25
# How long follow_presence waits for the thread in ``get`` to apply it.
_FOLLOW_TIMEOUT = 10.0


class _FollowRequest:
    """A change to the followed users, applied by the thread that reads."""

    def __init__(self, users: list[str], follow: bool) -> None:
        self.users = users
        self.follow = follow
        self.done = threading.Event()


class FollowPresence:
    """The presence-following part of ``Listener``."""

    chat: Chat
    follow_members: bool
    _following: set[str]
    _base: list[str]
    _verb: str
    _known: dict[str, bool]
    _requests: deque[_FollowRequest]
    _out: deque[dict[str, Any]]
    _busy: threading.Lock
    _closed: threading.Event
    _reconnected: bool
    _resync: str | None

    if TYPE_CHECKING:

        def _want(self, kind: str, cause: str) -> None: ...

        def _sync(self, full: bool) -> None: ...

        def _subscribe(self, verb: str, channels: list[str]) -> None: ...

        def _after_failure(self, error: BaseException) -> None: ...

    @property
    def presence_state(self) -> dict[str, bool]:
        """Each followed user's presence (True: online) as last known: read
        when first followed, then changed by their ``presence`` events."""
        return dict(self._known)

    @property
    def followed(self) -> list[str]:
        """The users whose presence this listener follows, by name and (with
        ``follow_members``) as members of the user's fan-out rooms."""
        return sorted(self._followed())

    def follow_presence(self, users: str | list[str] | tuple[str, ...]) -> dict[str, bool]:
        """Follows ``users``' presence: subscribes to their presence channels
        (each on the node of its slot in a cluster) and returns, once
        subscribed, each one's presence (True: online; an unknown user is
        offline). Their ``presence`` events come from then on.

        Callable from any thread: while another thread waits in ``get``,
        that thread applies the change within a quarter of a second.
        """
        users = [users] if isinstance(users, str) else list(users)
        self._request(_FollowRequest(users, True))
        return {u: self._known.get(u, False) for u in users}

    def unfollow_presence(self, users: str | list[str] | tuple[str, ...]) -> None:
        """Stops following ``users``' presence (those followed as room members
        with ``follow_members`` stay followed)."""
        users = [users] if isinstance(users, str) else list(users)
        self._request(_FollowRequest(users, False))

    def _request(self, request: _FollowRequest) -> None:
        """Applies ``request`` here when no other thread reads, else lets the
        thread in ``get`` apply it (within a tick), whichever comes first."""
        self._requests.append(request)
        deadline = time.monotonic() + _FOLLOW_TIMEOUT
        while not request.done.is_set():
            if self._busy.acquire(timeout=_TICK):
                try:
                    self._apply_requests()
                finally:
                    self._busy.release()
            elif time.monotonic() > deadline:
                raise TimeoutError("the listener did not apply the change of followed users")

    def _followed(self) -> set[str]:
        members = (user_of_presence_channel(ch) for ch in self._base)
        return self._following | {u for u in members if u is not None}

    def _wanted_channels(self) -> list[str]:
        wanted = dict.fromkeys(self._base)
        wanted.update(dict.fromkeys(presence_channel(u) for u in sorted(self._following)))
        return list(wanted)

    def _apply_requests(self) -> None:
        """Applies the follow and unfollow requests waiting, if any."""
        if not self._requests:
            return
        requests = []
        while self._requests:
            request = self._requests.popleft()
            requests.append(request)
            if request.follow:
                self._following.update(request.users)
            else:
                self._following.difference_update(request.users)
        try:
            if self._closed.is_set():
                return
            if self._reconnected and self._resync != "full":
                self._want("full", "reconnect")
            if self._resync is not None:
                # A sync was due anyway: it subscribes and reads them too.
                self._sync(full=self._resync == "full")
            else:
                self._subscribe(self._verb, self._wanted_channels())
                self._read_presence(full=False)
        except LOST + (RedisClusterException,) as error:
            self._after_failure(error)
        except ResponseError as error:
            if not transient_reply(error):
                raise
            self._after_failure(error)
        finally:
            for request in requests:
                request.done.set()

    def _read_presence(self, full: bool) -> None:
        """Reads the presence of the followed users not known yet (all of
        them after a break, handing out an event for each that changed)."""
        followed = self._followed()
        for user in list(self._known):
            if user not in followed:
                del self._known[user]
        ask = sorted(followed if full else followed - self._known.keys())
        for user, online in self.chat.is_online(ask).items():
            before = self._known.get(user)
            self._known[user] = online
            if before is not None and before != online:
                self._out.append({"type": "presence", "user": user, "online": online, "until": None})

    def _presence_event(self, doc: dict[str, Any]) -> bool:
        """Whether a presence event is to be handed out: one of a followed
        user that changes what is known of them."""
        user = doc.get("user")
        if not isinstance(user, str) or user not in self._followed():
            return False
        online = bool(doc.get("online"))
        if self._known.get(user) == online:
            return False
        self._known[user] = online
        return True
