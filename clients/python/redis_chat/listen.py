"""``Listener``: a user's live messages and events, each message exactly once.

Pub/sub keeps nothing: a message published while a connection is down, or
before a subscription is in place, is gone from the channel. The room's
history is not: ids in a room are 1, 2, 3, ... with no gaps, and
``CHAT.HISTORY <room> AFTER <id>`` returns every message after ``id`` that
retention kept (those it removed show as one gap document first, which the
listener hands out as an event and skips past). So the listener keeps, per
room, the largest id it has handed out, and

- hands out a message only if its id is larger (a repeat is dropped);
- on a message more than one id ahead, first reads the ones in between from
  the history, so each room's messages come out in ascending order;
- on a reset (the room's ids are reused: see ``redis_chat._epochs``), live
  or in the history, forgets that room's ids and goes on from the reset;
- after anything that may have lost messages (a reconnect, a server-side
  unsubscribe when a slot moves away, a failover, a ``mode`` event), reads
  ``CHAT.CHANNELS`` again, subscribes again, and reads every room's history
  after its largest id, naming the epoch of those ids
  (``AFTER <id> EPOCH <epoch>``);
- every ``refresh`` seconds does the same without reconnecting, which picks
  up rooms joined meanwhile (and their channel, for a broadcast room), and
  anything that went to the inbox rather than live.

It subscribes before it reads the history, and waits for the server to
confirm the subscription first: a message sent after the history was read is
then published to a connection already listening.

While listening it marks the user online (``CHAT.ONLINE ... TTL``, with
``DEVICE`` when given one), so that fan-out rooms publish to it instead of
filling the inbox.

It can also follow other users' presence: their presence channels
(``chat:user:{<id>}:presence``; in Redis Cluster shard channels of each
user's slot, subscribed on the node that serves it) are subscribed with
the rest, and the ``presence`` events on them are handed out with the
user's messages. Pub/sub may lose an event while a connection is down, so
after a break the listener reads each followed user's presence again
(``CHAT.PROFILE``) and hands out an event for each that changed meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from redis.client import PubSub
from redis.exceptions import RedisClusterException, ResponseError

from . import _replies
from ._epochs import Epochs, reset_state
from ._following import _TICK, FollowPresence, _FollowRequest
from ._retry import LOST, transient_reply
from ._subscriptions import Subscriptions

if TYPE_CHECKING:
    from .chat import Chat

# Events about one member that a broadcast room publishes on its channel and
# also on that member's own channel (see ``_deliver``): a ``read`` goes to
# the reader's own channel too, for their other devices.
_ABOUT_A_MEMBER = frozenset({"role", "kick", "ban", "unban", "mute", "unmute", "read"})


class Listener(FollowPresence, Subscriptions, Iterator[dict[str, Any]]):
    """Iterates over ``user``'s messages and events, as ``dict`` documents.

    Messages (``type`` ``"message"``) have ``room``, ``id``, ``sender``,
    ``text`` and ``ts``; within a room they come in ascending id order, none
    skipped and none twice, starting after the user's read cursor (or after
    ``start[room]``). Events (``read``, ``typing``, ``edit``, ``delete``,
    ``dropped``, ``mode``, ``reaction``, ``pin``, ``unpin``, ``mention``,
    the moderation events ``role``, ``kick``, ``ban``, ``unban``, ``mute``,
    ``unmute``, ``slowmode`` and ``invite``, ``member`` (a join, leave,
    invitation, kick or ban in one of the user's rooms), ``presence`` of the
    users it follows, and any type the module adds later) are passed on as
    they arrive, at most once. A ``read`` of the user's own comes too: their
    other devices' reading, on the user's own channel. A ``mention`` event
    (a broadcast room's message that mentions the user) comes on the
    user's own channel; in a fan-out room the message itself comes, with
    its ``mentions``. An ``invite`` comes on the user's own channel (in a
    cluster, only from a room in the user's slot). After a ``kick`` or
    ``ban`` of the user, the listener reads its channels and rooms again,
    so the room's messages stop.

    When retention removed messages the listener had not handed out yet
    (it was away longer than ``chat.history-max`` messages, or
    ``chat.history-max-age``), a *gap* document comes in their place,
    before the messages kept: ``{"type": "gap", "room": ..., "after": ...,
    "before": ...}``, ids after ``after`` and before ``before`` being lost.
    The room goes on from ``before``.

    When a room's ids are reused (it was dropped and created again, or a
    failover or a restart lost its newest messages: its *epoch* changed),
    a *reset* comes: ``{"type": "reset", "room": ..., "epoch": ...,
    "last_id": ...}``. The app drops what it shows of the room; the
    listener forgets the ids it handed out there, so that a new message
    under an id seen before is handed out, not dropped as a repeat. Live,
    ``last_id`` is the room's last message before the new epoch's first,
    and the messages after it follow (read older ones with ``history``);
    from the catch-up after a break, the room's newest messages follow.

    Options:

    - ``refresh``: seconds between re-reads of the user's channels and rooms
      (``None``: only after a reconnect or a ``mode`` event);
    - ``presence``: send ``CHAT.ONLINE`` while listening (default True),
      every third of ``presence_ttl`` seconds. Without ``device``,
      ``close()`` does not send ``CHAT.OFFLINE``, which would also silence
      the user's other devices: the TTL runs out, and until then the module
      finds nobody subscribed to the user's channel and keeps the messages
      in the inbox;
    - ``device``: a device id (1 to 64 bytes of ``A-Z a-z 0-9 _ . : @ -``):
      the heartbeats keep this device online (``CHAT.ONLINE ... DEVICE``),
      and ``close()`` ends its presence (``CHAT.OFFLINE ... DEVICE``): the
      user goes offline at once when it was their last device online;
    - ``follow``: users whose presence to follow from the start (see
      ``follow_presence``);
    - ``follow_members``: also follow the other members of the user's
      fan-out rooms (``CHAT.CHANNELS ... PRESENCE``; a broadcast room's
      members are too many), read again at every refresh and after a
      ``member`` event;
    - ``own``: also hand out the user's own messages (default False). A
      fan-out room does not echo a message to its sender, so without this
      they would come only when a later message reveals them;
    - ``start``: ``{room: id}`` to start a room after ``id`` instead of the
      read cursor (an app that already shows messages up to ``id``);
    - ``epochs``: ``{room: epoch}``, the epoch those ``start`` ids belong
      to (the app kept it with them): a room whose epoch changed since
      starts with a reset;
    - ``idle_timeout``: iteration stops after this many seconds without
      anything to hand out (default: never).

    The listener is subscribed when the constructor returns. ``get(timeout)``
    returns the next document or ``None``; iteration stops after ``close()``
    (callable from any thread) or ``idle_timeout``.

    Presence events, of the users followed:
    ``{"type": "presence", "user": "bob", "online": True, "until": <unix ms>}``
    when one comes online, ``{..., "online": False, "until": None}`` when
    one goes offline (by command, or when their presence runs out). The
    listener keeps each followed user's state (``presence_state``) and hands out
    only changes of it. After a break (a reconnect, a failover) it reads
    the states again and hands out an event for each that changed
    meanwhile, with ``until`` None (the profile does not say it).
    """

    def __init__(
        self,
        chat: Chat,
        user: str,
        *,
        refresh: float | None = 5.0,
        presence: bool = True,
        presence_ttl: int = 30,
        own: bool = False,
        start: dict[str, int] | None = None,
        idle_timeout: float | None = None,
        device: str | None = None,
        follow: list[str] | tuple[str, ...] = (),
        follow_members: bool = False,
        epochs: dict[str, str] | None = None,
    ) -> None:
        self.chat = chat
        self.user = user
        self.refresh = refresh
        self.presence = presence
        self.presence_ttl = max(3, int(presence_ttl))
        self.own = own
        self.idle_timeout = idle_timeout
        self.device = device
        self.follow_members = follow_members
        # Users followed by name, and the channels CHAT.CHANNELS named last.
        self._following: set[str] = set([follow] if isinstance(follow, str) else follow)
        self._verb = "SUBSCRIBE"
        self._base: list[str] = []
        # Each followed user's presence as last known (read or told).
        self._known: dict[str, bool] = {}
        self._requests: deque[_FollowRequest] = deque()
        self._offline_sent = False
        self._start = dict(start or {})
        self._backend = chat._backend
        self._last: dict[str, int] = {}
        # Each room's epoch as this listener knows it: the epoch of the ids
        # in _last, named in every catch-up. Kept when a room is left, so
        # that one made again under its id is told apart on a rejoin.
        self._epochs = Epochs()
        for room, epoch in (epochs or {}).items():
            self._epochs.learn(room, epoch, self._start.get(room, 0))
        self._pubsubs: dict[str, PubSub] = {}
        self._channels: dict[str, str] = {}  # channel -> endpoint
        self._unsubscribing: set[str] = set()
        self._out: deque[dict[str, Any]] = deque()
        # Events about this user handed out from a room's channel, whose copy
        # on the user's own channel is still to come (see _deliver).
        self._echoes: deque[dict[str, Any]] = deque(maxlen=64)
        self._backlog: deque[dict[str, Any]] = deque()
        self._resync: str | None = "full"  # None, "light" or "full"
        self._reconnected = False
        self._next_refresh = 0.0
        self._next_online = 0.0
        self._failures = 0
        self._closed = threading.Event()
        self._busy = threading.Lock()
        # Counters, for tests and monitoring: syncs done, messages taken from
        # the history rather than live, gaps and resets handed out, and why
        # each sync was wanted.
        self.resyncs = 0
        self.filled = 0
        self.gaps = 0
        self.resets = 0
        self.causes: Counter[str] = Counter()
        # Subscribed and caught up before returning: whatever is sent from
        # now on reaches this listener, and errors (an unknown user) show
        # here rather than at the first read.
        self._sync(full=True)

    # -- public -----------------------------------------------------------

    def __iter__(self) -> Listener:
        return self

    def __next__(self) -> dict[str, Any]:
        doc = self.get(self.idle_timeout)
        if doc is None:
            raise StopIteration
        return doc

    def __enter__(self) -> Listener:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def synced(self) -> bool:
        """Subscribed and caught up, with no re-sync pending (after a break,
        False until the listener has subscribed again and filled the gap)."""
        return self._resync is None and not self._reconnected

    @property
    def last_ids(self) -> dict[str, int]:
        """The largest message id handed out (or skipped as own) per room."""
        return dict(self._last)

    @property
    def epochs(self) -> dict[str, str]:
        """Each room's epoch as known here: that of the ids in ``last_ids``
        (what an app keeps with them, for ``epochs=`` next time)."""
        return {room: state["epoch"] for room, state in self._epochs.snapshot().items()}

    def get(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next document, waiting up to ``timeout`` seconds (``None``:
        until one comes or the listener is closed); ``None`` if none came."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._busy:
            while True:
                if self._out:
                    return self._out.popleft()
                if self._closed.is_set():
                    self._teardown()
                    return None
                wait = _TICK if deadline is None else min(_TICK, deadline - time.monotonic())
                if wait <= 0:
                    return None
                self._step(wait)

    def close(self) -> None:
        """Stops listening; a ``get`` in another thread returns ``None`` soon."""
        self._closed.set()
        if self._busy.acquire(blocking=False):
            try:
                self._teardown()
            finally:
                self._busy.release()

    # -- one turn of the loop --------------------------------------------

    def _step(self, wait: float) -> None:
        try:
            self._apply_requests()
            now = time.monotonic()
            if self._reconnected and self._resync != "full":
                self._want("full", "reconnect")
            if self._resync is None and self.refresh is not None and now >= self._next_refresh:
                self._want("light", "refresh")
            if self._resync is not None:
                self._sync(full=self._resync == "full")
                self._failures = 0
                return
            if self.presence and now >= self._next_online:
                self._online()
            for message in self._poll(wait):
                self._handle(message)
            self._failures = 0
        except LOST + (RedisClusterException,) as error:
            self._after_failure(error)
        except ResponseError as error:
            if not transient_reply(error):
                raise
            self._after_failure(error)

    def _after_failure(self, error: BaseException) -> None:
        """Anything may be lost: start over from the channels, after a pause
        that grows while failures repeat (a node down, a failover)."""
        self._want("full", "failure")
        self._failures += 1
        time.sleep(min(2.0, 0.05 * 2 ** min(self._failures, 6)))

    def _online(self) -> None:
        args: list[Any] = ["CHAT.ONLINE", self.user, "TTL", self.presence_ttl]
        if self.device is not None:
            args += ["DEVICE", self.device]
        self.chat._call(*args)
        self._next_online = time.monotonic() + self.presence_ttl / 3

    # -- reading pub/sub --------------------------------------------------

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind in ("message", "smessage"):
            channel = _replies.text(message["channel"])
            self._deliver(_replies.document(message["data"]), channel)
        elif kind in ("unsubscribe", "sunsubscribe"):
            channel = _replies.text(message["channel"])
            if channel in self._unsubscribing:
                self._unsubscribing.discard(channel)
            else:
                # The server dropped the subscription: its slot moved away.
                self._want("full", "unsubscribed")

    # -- handing out documents ---------------------------------------------

    def _deliver(self, doc: dict[str, Any], channel: str | None = None) -> None:
        kind = doc.get("type")
        room = doc.get("room")
        if kind != "message" or not isinstance(room, str):
            if kind in _ABOUT_A_MEMBER and doc.get("user") == self.user and channel:
                if self._echo(doc, channel):
                    return
                if kind in ("kick", "ban"):
                    # Not a member any more: stop listening to the room.
                    self._want("light", "removed")
            if kind == "presence" and not self._presence_event(doc):
                return
            if kind == "mode":
                self._want("light", "mode")
            elif kind == "member" and self.follow_members:
                # Someone joined or left one of the rooms: follow the members
                # there are now.
                self._want("light", "member")
            elif kind == "dropped" and isinstance(room, str):
                # The event tells the app itself; a room made again under
                # the id is learned afresh, not reset a second time.
                self._last.pop(room, None)
                self._epochs.forget(room)
            elif kind == "reset" and isinstance(room, str):
                self._reset(room, doc, live=True)
                return
            self._out.append(doc)
            return
        try:
            msg_id = _replies.integer(doc["id"])
        except (KeyError, TypeError, ValueError):
            self._out.append(doc)  # a message without an id: pass it on as it is
            return
        if room not in self._last:
            self._last[room] = self._start_of(room, msg_id)
        last = self._last[room]
        if msg_id <= last:
            return
        if msg_id > last + 1:
            self._fill({room: last})
        if msg_id > self._last[room]:
            # Not in the history any more (trimmed meanwhile): the live copy
            # is all there is.
            self._last[room] = msg_id
            self._epochs.saw(room, self._epochs.epoch(room), msg_id)
            self._emit(doc)

    def _reset(self, room: str, doc: dict[str, Any], live: bool) -> None:
        """Hands out a reset of ``room`` and forgets the ids handed out there:
        they are reused from here on.

        Live, ``last_id`` is where the new epoch took over: ids up to it are
        the messages they were, and the room goes on after it (or after the
        last id handed out, when that is smaller: the ones between are read
        from the history, under the new epoch). In a catch-up page (which
        ``catch_up`` took into ``_epochs`` already) the room's newest
        messages follow, whatever their ids. A live copy of a reset the
        catch-up read already (or an older one) is dropped: the messages
        after it were handed out."""
        state = reset_state(doc)
        if state is None:
            self._out.append(doc)  # not one this listener can place
            return
        if live and not self._epochs.reset(room, *state, event=True):
            return
        if not live:
            self._last[room] = 0
        elif room in self._last:
            self._last[room] = min(self._last[room], state[1])
        self.resets += 1
        self._out.append(doc)

    def _echo(self, doc: dict[str, Any], channel: str) -> bool:
        """Whether ``doc``, an event about this user, was handed out already.

        A broadcast room publishes such an event on its own channel, and
        again on the user's channel (the module cannot tell whether the user
        listens to the room's). Both come on one connection, the room's copy
        first: one from a room's channel is remembered, and its copy on the
        user's channel dropped. Without the room's copy (a fan-out room, or
        a room this listener no longer listens to), the user's copy is the
        one handed out.
        """
        if channel.startswith("chat:room:"):
            self._echoes.append(doc)
            return False
        try:
            self._echoes.remove(doc)
        except ValueError:
            return False
        return True

    def _start_of(self, room: str, msg_id: int) -> int:
        """Where a room first seen live starts: the given start, else the
        user's read cursor, else (not a member any more) just before this
        message, which was addressed to the user all the same."""
        if room in self._start:
            return self._start[room]
        try:
            reply = self.chat._call("CHAT.CURSOR", room, self.user)
        except ResponseError as error:
            if _replies.is_not_member(error):
                return msg_id - 1
            raise
        return _replies.integer(_replies.mapping(reply)["cursor"])

    def _emit(self, doc: dict[str, Any]) -> None:
        if self.own or doc.get("sender") != self.user:
            self._out.append(doc)

    def _fill(self, starts: dict[str, int]) -> None:
        """Hands out what the history holds after each room's largest id.

        Where retention removed some of those messages, the history starts
        with a gap document: it is handed out as an event (the app can say
        that messages were lost), and the room goes on from its ``before``.
        Where the room's epoch is not the one known here any more, it starts
        with a reset (see ``_reset``).
        """
        for room, docs in self.chat.catch_up(starts, self._epochs).items():
            for doc in docs:
                if _replies.is_reset(doc):
                    self._reset(room, doc, live=False)
                    continue
                if _replies.is_gap(doc):
                    self._gap(room, doc)
                    continue
                if "id" not in doc:
                    continue  # nothing this listener knows how to place
                msg_id = _replies.integer(doc["id"])
                if msg_id > self._last.get(room, 0):
                    self._last[room] = msg_id
                    self.filled += 1
                    self._emit(doc)

    def _gap(self, room: str, doc: dict[str, Any]) -> None:
        """A history gap: ids ``after`` < id < ``before`` are gone for good."""
        try:
            skipped_to = _replies.integer(doc["before"]) - 1
        except (KeyError, TypeError, ValueError):
            return
        if skipped_to > self._last.get(room, 0):
            self._last[room] = skipped_to
            self.gaps += 1
            self._out.append(doc)

    # -- subscribing and catching up --------------------------------------

    def _sync(self, full: bool) -> None:
        """Channels, presence, rooms and history, in the order that loses nothing."""
        self.resyncs += 1
        self._reconnected = False
        if full:
            self._teardown_pubsubs()
            self._backend.refresh()
        verb, self._base, rooms = self.chat.channels(
            self.user, presence=self.follow_members, with_epochs=True
        )
        self._verb = verb
        # Epochs read with the channels, before the cursors and the history:
        # a change after this shows as a reset in the catch-up, or live.
        for room, state in rooms.items():
            self._epochs.learn(room, state["epoch"], state["last_id"])
        self._subscribe(verb, self._wanted_channels())
        if self.presence:
            self._online()
        self._offline_sent = False
        if self._followed() or self._known:
            self._read_presence(full=full)
        # Rooms CHAT.CHANNELS left out (in a cluster, those of other slots):
        # their epochs are read with the cursors.
        cursors, _ = self.chat._memberships(self.user, learn=self._epochs)
        for room in list(self._last):
            if room not in cursors:
                del self._last[room]  # left or dropped
        for room, c in cursors.items():
            # A room dropped and made again under the same id while no
            # "dropped" event reached us has another epoch now: the catch-up
            # starts it with a reset.
            if room not in self._last:
                self._last[room] = self._start.get(room, c["cursor"])
        self._fill(dict(self._last))
        self._resync = None
        if self.refresh is not None:
            self._next_refresh = time.monotonic() + self.refresh

    def _teardown(self) -> None:
        self._teardown_pubsubs()
        self._resync = "full"
        if self._closed.is_set() and self.presence and self.device is not None and not self._offline_sent:
            # This device's presence ends with the listener: the user goes
            # offline now if it was their last device online.
            self._offline_sent = True
            try:
                self.chat._call("CHAT.OFFLINE", self.user, "DEVICE", self.device)
            except Exception:
                pass  # the TTL ends it anyway

    def _want(self, kind: str, cause: str) -> None:
        """Asks for a sync before the next read; a full one wins over a light one."""
        self.causes[cause] += 1
        if self._resync != "full":
            self._resync = kind
