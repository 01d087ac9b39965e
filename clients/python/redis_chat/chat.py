"""``Chat``: the CHAT.* commands behind one class, standalone or in a cluster.

In a cluster every command of the module touches one slot. A user and a room
in different slots therefore cannot be joined in one command: the room keeps
the membership and the read cursor, and the user's key keeps a *listing* of
the room, written by separate commands (``CHAT.LIST-ROOM`` and
``CHAT.UNLIST-ROOM``) in the user's slot. The methods here run those steps
in an order that makes every crash point harmless:

- a listing is written before the membership and again after it, and is
  removed only after the membership ends, so a room the user is a member of
  is always listed (a listing without a membership can be left behind);
- every reader of the listing (``rooms``, ``missed``, ``unread``, the
  listener) checks the membership in the room itself and skips a listing
  left behind; ``reconcile`` removes such listings, but only old ones, so
  that it never undoes a join still in progress;
- each step gives the same result when run again, so a method interrupted
  at any point is finished by calling it again.

On a single server each of these operations is one atomic command of the
module, and the library uses that.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _replies
from ._backend import backend_for
from ._conversations import Conversations
from ._epochs import Epochs, state_of
from ._moderation import Moderation
from ._presence import Presence
from ._reading import Reading
from ._retry import Retry
from ._send import Sender
from .errors import Banned, NoInvite, typed

if TYPE_CHECKING:
    from .listen import Listener


class Chat(Conversations, Moderation, Presence, Reading):
    """The chat operations of the redis-chat module.

    Threads, reactions, pins, mentions and the inbox are in
    ``redis_chat._conversations.Conversations``; roles, invitations, kicks,
    bans, mutes and slow mode in ``redis_chat._moderation.Moderation``;
    presence, devices, notification settings and profiles in
    ``redis_chat._presence.Presence``; a room's fields (``info``), its
    history, ``catch_up`` and ``missed`` in ``redis_chat._reading.Reading``.
    This class includes all four.

    ``client`` is a ``redis.Redis`` or a ``redis.cluster.RedisCluster``, with
    or without ``decode_responses``; replies come back as ``str``/``int``
    either way. The object holds no state of its own besides the client, its
    settings and ``epochs``, and may be shared between threads (as the
    client may).

    ``epochs`` (an ``Epochs``, given or new) is each room's epoch as this
    object last learned it: ``catch_up`` and ``missed`` name it (``EPOCH``),
    so that a room whose ids were reused since (dropped and created again,
    or a failover that lost messages) answers with a reset document first
    (see ``redis_chat._epochs``); ``history`` and ``thread`` name the one
    the caller gives them. It stands for one view of the rooms: a server
    that keeps many users' views passes each its own (``missed(user,
    epochs=...)``).

    ``attempts``, ``backoff`` and ``max_backoff`` bound the retries of sends
    and of the idempotent membership steps (seconds, doubled per attempt up
    to ``max_backoff``). ``wait_timeout`` is how long one ``WAIT`` for
    replicas may take (seconds). ``reconcile_age`` is the age in seconds a
    leftover listing must have before ``reconcile`` removes it.
    """

    def __init__(
        self,
        client: Any,
        *,
        attempts: int = 10,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        wait_timeout: float = 1.0,
        reconcile_age: int = 60,
        epochs: Epochs | None = None,
    ) -> None:
        self.client = client
        self.epochs = epochs if epochs is not None else Epochs()
        self._backend = backend_for(client)
        self._retry = Retry(attempts, backoff, max_backoff)
        self._sender = Sender(self._backend, self._retry, wait_timeout)
        self.reconcile_age = reconcile_age

    def close(self) -> None:
        """Closes the connections the library opened besides the client's own
        (its per-node pools in a cluster, its pub/sub pool); the client itself
        stays open. Listeners should be closed first."""
        self._backend.close()

    @property
    def cluster(self) -> bool:
        """Whether the client is a cluster client."""
        return self._backend.cluster

    # -- running commands -------------------------------------------------

    def _call(self, *args: Any) -> Any:
        """One idempotent command, retried through lost replies and failovers."""
        return self._retry.run(lambda: self._backend.call(*args))

    def _batch(self, commands: Iterable[tuple[Any, ...]]) -> list[Any]:
        """Independent commands in one pipeline; errors come back in place.

        Only for commands that may run twice (reads, mostly): a pipeline
        whose connection broke is sent again as a whole.
        """
        commands = list(commands)
        if not commands:
            return []

        def run() -> list[Any]:
            pipe = self._backend.pipeline()
            for command in commands:
                pipe.execute_command(*command)
            return pipe.execute(raise_on_error=False)

        return [typed(r) if isinstance(r, Exception) else r for r in self._retry.run(run)]

    # -- users and rooms --------------------------------------------------

    def register(self, user: str, name: str, password: str | None = None) -> None:
        """Registers a user (``CHAT.REGISTER``); raises if the id is taken.

        Not retried by the library: a retry whose first attempt did register
        would answer "user already exists", which the caller is better placed
        to judge.
        """
        args: list[Any] = ["CHAT.REGISTER", user, name]
        if password is not None:
            args += ["PASSWORD", password]
        self._backend.call(*args)

    def create(
        self, room: str, title: str, owner: str | None = None, private: bool = False
    ) -> None:
        """Creates a room (``CHAT.CREATE``); raises if the id is taken (not retried,
        as ``register``).

        ``owner``: a registered user who becomes the room's first member, with
        the role owner (``OWNER``): the room then has moderators (see
        ``role``, ``kick``, ``ban`` ...). ``private``: joined by invitation
        only (``PRIVATE``; needs an owner, who invites with ``invite``).

        In a cluster, where the owner's key may be in another slot than the
        room's, the room is listed for the owner first, as ``join`` does
        (and again after); when the module refuses the room, that listing
        goes again unless the owner is a member of a room of that id
        already.
        """
        args: list[Any] = ["CHAT.CREATE", room, title]
        if owner is not None:
            args += ["OWNER", owner]
        if private:
            args.append("PRIVATE")
        if owner is None or not self.cluster:
            self._backend.call(*args)
            return
        self._call("CHAT.LIST-ROOM", owner, room)
        try:
            self._backend.call(*args)
        except ResponseError:
            if not self._is_member(room, owner):
                self._unlist(owner, room)
            raise
        self._call("CHAT.LIST-ROOM", owner, room)

    def unregister(self, user: str) -> bool:
        """Removes a user and their memberships; False if there was no such user.

        In a cluster, the user's memberships in rooms of other slots are ended
        room by room first (``CHAT.UNREGISTER`` only reaches the user's slot,
        and refuses with ``CROSSSLOT`` while such rooms are listed).
        """
        if not self.cluster:
            return self._unregister_now(user)
        for _ in range(self._retry.attempts):
            try:
                listed = self._listed(user)
            except ResponseError as error:
                if _replies.is_no_such_user(error):
                    return False
                raise
            for room in listed:
                self.leave(room, user)
            try:
                # The user existed a moment ago: "no such user" now means an
                # attempt whose reply was lost (or another client) removed it.
                self._unregister_now(user)
                return True
            except ResponseError as error:
                # A join in flight listed another room meanwhile: end it too.
                if not _replies.is_crossslot(error):
                    raise
        raise RuntimeError(f"could not unregister {user!r}: its rooms kept changing")

    def _unregister_now(self, user: str) -> bool:
        try:
            self._call("CHAT.UNREGISTER", user)
        except ResponseError as error:
            if _replies.is_no_such_user(error):
                return False
            raise
        return True

    def drop(self, room: str) -> bool:
        """Removes a room; False if there was no such room.

        In a cluster, members in other slots still list the room afterwards:
        their listings are removed here, after the drop. A crash before that
        leaves listings that ``rooms`` skips and ``reconcile`` removes. Only
        listings older than the drop go, so a member who joins a room made
        again under the same id meanwhile keeps theirs.
        """
        began = time.monotonic()
        if self.cluster:
            try:
                members = _replies.strings(self._call("CHAT.MEMBERS", room))
            except ResponseError as error:
                if _replies.is_no_such_room(error):
                    return False
                raise
        else:
            members = []
        try:
            self._call("CHAT.DROP", room)
        except ResponseError as error:
            # In a cluster the room existed a moment ago (MEMBERS answered):
            # an attempt whose reply was lost, or another client, dropped it,
            # and its members' listings still have to go.
            if not _replies.is_no_such_room(error):
                raise
            if not self.cluster:
                return False
        for member in members:
            self._unlist(member, room, time.monotonic() - began)
        return True

    # -- membership -------------------------------------------------------

    def join(self, room: str, user: str) -> dict[str, Any]:
        """Makes ``user`` a member of ``room`` (idempotent); returns where to
        listen and the room's epoch (``CHAT.SUBSCRIBE ... WITHEPOCH``):
        ``{"listen": (verb, channels), "epoch": ..., "last_id": ...}``, the
        command and channels as ``channels`` gives them, for this room only.

        Cluster steps: list the room for the user, subscribe, list it again.
        The first listing makes sure no member is ever unlisted; the second
        restores a listing that a concurrent ``reconcile`` removed between
        the two (it saw a listing without a membership yet).

        A private room refuses a user without an invitation (``NoInvite``)
        and takes one up (``invite``); a banned user is refused
        (``Banned``). Either refusal takes the first listing back.
        """
        if not self.cluster:
            return self._joined(room, self._call("CHAT.SUBSCRIBE", room, user, "WITHEPOCH"))
        self._call("CHAT.LIST-ROOM", user, room)
        try:
            reply = self._call("CHAT.SUBSCRIBE", room, user, "WITHEPOCH")
        except ResponseError as error:
            if _replies.is_no_such_room(error) or isinstance(error, (NoInvite, Banned)):
                # Nothing to be a member of (or not for this user): take
                # back the listing at once rather than leave it to reconcile.
                self._unlist(user, room)
            raise
        self._call("CHAT.LIST-ROOM", user, room)
        return self._joined(room, reply)

    def _joined(self, room: str, reply: Any) -> dict[str, Any]:
        fields = _replies.mapping(reply)
        listen = fields["listen"]
        if isinstance(listen, (str, bytes)):
            verb, channels = "SUBSCRIBE", [_replies.text(listen)]  # a fan-out room's push channel
        else:
            words = _replies.strings(listen)
            verb, channels = words[0].upper(), words[1:]
        state = state_of(reply)
        self.epochs.learn(room, state["epoch"], state["last_id"])
        return {"listen": (verb, channels), **state}

    def leave(self, room: str, user: str) -> bool:
        """Ends ``user``'s membership of ``room``; True if they were a member.

        The membership goes first and the listing after, so a crash between
        the two leaves only a listing, which readers skip. Only a listing
        older than this leave goes: a join of the same room that ran
        meanwhile keeps its own. (On one server the first step does both;
        the second still clears a listing left by an interrupted
        step-by-step join.)
        """
        began = time.monotonic()
        was_member = _replies.integer(self._call("CHAT.UNSUBSCRIBE", room, user)) == 1
        if self.cluster or not was_member:
            self._unlist(user, room, time.monotonic() - began)
        return was_member

    def _is_member(self, room: str, user: str) -> bool:
        """Whether ``user`` is a member of ``room`` (``CHAT.CURSOR`` answers);
        True when that cannot be told, so that no listing goes on a guess."""
        try:
            self._call("CHAT.CURSOR", room, user)
        except ResponseError as error:
            return not _replies.is_not_member(error)
        return True

    def _unlist(self, user: str, room: str, older_than: float | None = None) -> bool:
        """Removes a listing (only one at least ``older_than`` seconds old,
        when given); False when there was none, or the module kept it (the
        user is a member again: a join won the race, as it should)."""
        args: list[Any] = ["CHAT.UNLIST-ROOM", user, room]
        if older_than is not None:
            args += ["IF-OLDER-THAN-MS", int(older_than * 1000)]
        try:
            return _replies.integer(self._call(*args)) == 1
        except ResponseError as error:
            if _replies.is_no_such_user(error) or "still a member" in _replies.error_text(error):
                return False
            raise

    def dm(self, a: str, b: str) -> str:
        """The id of the direct room of ``a`` and ``b``, creating it if needed.

        Cluster steps: the id (computed by the module, no key), the listing
        for both users, the room with both as members, the listings again
        (as ``join``, for a concurrent ``reconcile``).
        """
        if not self.cluster:
            return _replies.text(self._call("CHAT.DM", a, b))
        room = self.dm_id(a, b)
        self._call("CHAT.LIST-ROOM", a, room)
        self._call("CHAT.LIST-ROOM", b, room)
        self._call("CHAT.DM-ROOM", room, a, b)
        self._call("CHAT.LIST-ROOM", a, room)
        self._call("CHAT.LIST-ROOM", b, room)
        return room

    def dm_id(self, a: str, b: str) -> str:
        """The id the direct room of ``a`` and ``b`` has or would have
        (``CHAT.DM-ID``); creates nothing."""
        return _replies.text(self._retry.run(lambda: self._backend.call_anywhere("CHAT.DM-ID", a, b)))

    def _listed(self, user: str) -> list[str]:
        """The rooms listed for ``user`` (``CHAT.ROOMS``), members or not."""
        return _replies.strings(self._call("CHAT.ROOMS", user))

    def cursors(self, user: str) -> dict[str, dict[str, int]]:
        """Each room ``user`` is a member of, with ``cursor``, ``last_id``,
        ``unread`` and ``mentions`` (``CHAT.CURSOR``), ascending by room.

        Listings without a membership (left by an interrupted join, leave or
        drop) are skipped.
        """
        return self._memberships(user)[0]

    def _memberships(
        self, user: str, learn: Epochs | None = None
    ) -> tuple[dict[str, dict[str, int]], list[str]]:
        """(member rooms with their cursors, listed rooms that are not).

        ``learn``: the epochs of the rooms it does not know are read too
        (``CHAT.INFO``), in the same pipeline and before each cursor, so that
        a cursor is never older than the epoch it is read with.
        """
        listed = self._listed(user)
        ask = [room for room in listed if learn is not None and learn.epoch(room) is None]
        replies = self._batch(
            [*(("CHAT.INFO", room) for room in ask), *(("CHAT.CURSOR", room, user) for room in listed)]
        )
        for room, reply in zip(ask, replies[: len(ask)], strict=True):
            if isinstance(reply, Exception) and not _replies.is_no_such_room(reply):
                raise reply
            if learn is not None and reply and not isinstance(reply, Exception):
                self._learn_info(room, _replies.mapping(reply), learn)
        replies = replies[len(ask) :]
        members: dict[str, dict[str, int]] = {}
        stale: list[str] = []
        for room, reply in zip(listed, replies, strict=True):
            if isinstance(reply, Exception):
                if _replies.is_not_member(reply):
                    stale.append(room)
                    continue
                raise reply
            fields = _replies.mapping(reply)
            members[room] = {k: _replies.integer(v) for k, v in fields.items()}
        return members, stale

    def rooms(self, user: str) -> list[str]:
        """The rooms ``user`` is a member of, ascending."""
        return list(self.cursors(user))

    def reconcile(self, user: str) -> list[str]:
        """Removes listings of rooms ``user`` is not a member of; returns them.

        Only listings at least ``reconcile_age`` seconds old go: a younger one
        may belong to a join still between its steps.
        """
        _, stale = self._memberships(user)
        return [room for room in stale if self._unlist(user, room, self.reconcile_age)]

    # -- messages ---------------------------------------------------------

    def send(
        self,
        room: str,
        sender: str,
        text: str,
        replicas: int = 0,
        *,
        dedup: str | None = None,
        reply_to: int | None = None,
        mentions: Iterable[str] = (),
    ) -> int:
        """Sends a message and returns its id; each call stores it at most once.

        ``reply_to``: the id of a message of the same room this one answers
        (``REPLY``: it joins that message's thread). ``mentions``: members
        of the room the message mentions (``MENTION``, at most 50; repeats
        are folded by the module).

        A DEDUP key (``dedup``, else a new random one) names the send, and the
        send is retried with it through lost connections, timeouts, redirects
        and failovers: a retry of a send that happened replies the same id
        and writes nothing. With ``replicas`` > 0 it also returns only once
        that many replicas confirmed the message (``WAIT``), retrying while
        they have not, and raises ``NotReplicated`` (with the id) in the end.
        ``SendFailed`` means no attempt got an answer: sending again with its
        ``key`` is safe.
        """
        key = dedup if dedup is not None else uuid.uuid4().hex
        options: list[Any] = []
        if reply_to is not None:
            options += ["REPLY", reply_to]
        for user in [mentions] if isinstance(mentions, str) else mentions:
            options += ["MENTION", user]
        return self._sender.send(room, sender, text, key, replicas, tuple(options))

    def read(self, room: str, user: str, id: int) -> int:
        """Moves ``user``'s read cursor in ``room`` forward to ``id``; returns the
        cursor now in force (it never moves back)."""
        return _replies.integer(self._call("CHAT.READ", room, user, id))

    def unread(self, user: str) -> dict[str, int]:
        """Rooms with unread messages and how many (``CHAT.UNREAD``).

        In a cluster, a user with rooms in other slots gets ``CROSSSLOT``
        from ``CHAT.UNREAD``; the counts then come from each room's cursor.
        """
        return self._counts_per_room("CHAT.UNREAD", user, "unread")

    def _counts_per_room(self, command: str, user: str, field: str) -> dict[str, int]:
        """A count per room of ``user``'s, the rooms where it is not 0: from
        ``command`` (CHAT.UNREAD, CHAT.MENTIONS), or, when that answers
        ``CROSSSLOT`` (rooms in other cluster slots), from ``field`` of each
        room's cursor."""
        try:
            reply = self._call(command, user)
        except ResponseError as error:
            if not _replies.is_crossslot(error):
                raise
            counts = {room: c.get(field, 0) for room, c in self.cursors(user).items()}
        else:
            counts = {k: _replies.integer(v) for k, v in _replies.mapping(reply).items()}
        return {room: n for room, n in counts.items() if n > 0}

    def listen(self, user: str, **options: Any) -> Listener:
        """Live messages and events for ``user``, each message exactly once.

        See ``redis_chat.listen.Listener`` for the options and guarantees.
        """
        from .listen import Listener

        return Listener(self, user, **options)
