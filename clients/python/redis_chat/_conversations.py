"""Conversations: threads, reactions, pins, mentions, and the inbox.

Mixed into ``Chat``. Each method is one command of the module on the slot
of its first argument (a room, or for ``mentions``/``fetch``/``ack`` a
user), so it needs nothing special in a cluster; ``mentions`` is the one
exception, and does what ``unread`` does (see there).

Documents these methods return may be *gap* documents (``"type": "gap"``)
rather than messages (and ``thread`` a reset document first: see
``history``):

- ``thread``: when retention removed the root, the reply starts with
  ``{"type": "gap", "room": ..., "after": ..., "before": ...}`` in its place;
- ``fetch``: when the inbox dropped copies past ``chat.inbox-max``, the
  reply starts with ``{"type": "gap", "dropped": n, "delivery": ...}``;
  acknowledging its ``delivery`` (or any later one) clears it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _replies


class Conversations:
    """Replies, reactions, pins, mentions and the inbox (part of ``Chat``)."""

    if TYPE_CHECKING:

        def _call(self, *args: Any) -> Any: ...

        def _counts_per_room(self, command: str, user: str, field: str) -> dict[str, int]: ...

        def _read_page(self, args: list[Any], epoch: str | None) -> list[dict[str, Any]]: ...

    # -- threads ----------------------------------------------------------

    def thread(
        self,
        room: str,
        id: int,
        after: int | None = None,
        count: int | None = None,
        *,
        epoch: str | None = None,
    ) -> list[dict[str, Any]]:
        """The thread of message ``id`` (``CHAT.THREAD``): the root's document,
        then its replies, ascending.

        ``after``: only the replies after that id, without the root (the
        next page: pass the last reply's id). ``count``: replies per call
        (1 to 1000; the module's default is 50). A root removed by
        retention is replaced by a gap document. Send a reply with
        ``send(..., reply_to=id)``.

        ``epoch``: the epoch of the ids the caller holds (``EPOCH``), as
        with ``history``. When the room's ids were reused since, or
        ``after`` is beyond its last id, a reset document comes first, then
        the root and its first replies.
        """
        args: list[Any] = ["CHAT.THREAD", room, id]
        if after is not None:
            args += ["AFTER", after]
        if count is not None:
            args += ["COUNT", count]
        return self._read_page(args, epoch)

    # -- reactions --------------------------------------------------------

    def react(self, room: str, user: str, id: int, reaction: str) -> bool:
        """Adds ``user``'s ``reaction`` (1 to 32 bytes, no spaces) to message
        ``id``; False when they had it already.

        Retried like any idempotent step: a retry after a lost reply finds
        the reaction there and answers False, though this call added it.
        """
        return _replies.integer(self._call("CHAT.REACT", room, user, id, reaction)) == 1

    def unreact(self, room: str, user: str, id: int, reaction: str) -> bool:
        """Takes back ``user``'s ``reaction`` to message ``id``; False when
        there was none (or, after a lost reply, the first attempt took it)."""
        return _replies.integer(self._call("CHAT.UNREACT", room, user, id, reaction)) == 1

    def reactions(self, room: str, id: int) -> dict[str, list[str]]:
        """Who reacted to message ``id`` with what: reaction -> user ids,
        ascending (``CHAT.REACTIONS``); empty when nobody did."""
        fields = _replies.mapping(self._call("CHAT.REACTIONS", room, id))
        return {reaction: _replies.strings(users) for reaction, users in fields.items()}

    # -- pins -------------------------------------------------------------

    def pin(self, room: str, user: str, id: int) -> None:
        """Pins message ``id`` (``CHAT.PIN``; 50 per room). Any member may,
        except in a room with an owner: there owners and admins only
        (``NoPermission`` otherwise), for ``unpin`` too."""
        self._call("CHAT.PIN", room, user, id)

    def unpin(self, room: str, user: str, id: int) -> None:
        """Unpins message ``id`` (``CHAT.UNPIN``)."""
        self._call("CHAT.UNPIN", room, user, id)

    def pins(self, room: str) -> list[dict[str, Any]]:
        """The documents of the pinned messages, most recently pinned first."""
        return _replies.documents(self._call("CHAT.PINS", room))

    # -- mentions ---------------------------------------------------------

    def mentions(self, user: str) -> dict[str, int]:
        """Rooms where messages after ``user``'s read cursor mention them, and
        how many (``CHAT.MENTIONS``). Reading past them clears them.

        In a cluster, a user with rooms in other slots gets ``CROSSSLOT``
        from ``CHAT.MENTIONS``; the counts then come from each room's
        cursor (``CHAT.CURSOR``'s ``mentions``), as ``unread`` does.
        """
        return self._counts_per_room("CHAT.MENTIONS", user, "mentions")

    # -- the inbox --------------------------------------------------------

    def fetch(self, user: str, count: int | None = None) -> list[dict[str, Any]]:
        """``user``'s inbox, oldest first (``CHAT.FETCH``, at most ``count``,
        1 to 1000; the module's default is 100). Nothing is removed until
        ``ack``. Each document has a ``delivery``; the first may be an inbox
        gap (``"type": "gap"``, ``dropped``: copies lost past
        ``chat.inbox-max``; the room histories still hold those messages).
        """
        args: list[Any] = ["CHAT.FETCH", user]
        if count is not None:
            args += ["COUNT", count]
        return _replies.documents(self._call(*args))

    def ack(self, user: str, delivery: str) -> int:
        """Removes the inbox entries up to ``delivery`` (``CHAT.ACK``; an inbox
        gap's delivery clears the gap); returns how many went."""
        return _replies.integer(self._call("CHAT.ACK", user, delivery))
