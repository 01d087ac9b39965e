"""Reading rooms: their fields, their history, and what a user missed.

Mixed into ``Chat``. ``catch_up`` and ``missed`` name the epoch the
caller's ids belong to (``EPOCH``; see ``redis_chat._epochs``), as
``Chat.epochs`` (or the store given) knows it, so that ids reused since (a
room dropped and created again, a failover that lost messages) come back as
a reset document and the room's newest messages rather than as messages
that seem to follow the ones the caller holds. ``history`` and ``thread``
name one only when the caller gives it: a plain read of a room's messages
has no ids of the caller's to check, and a reset there would also hide the
break from the store's next ``missed``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _replies
from ._epochs import Epochs

# CHAT.HISTORY's largest page.
PAGE = 1000


class Reading:
    """Room fields, history, catch-up and missed messages (part of ``Chat``)."""

    epochs: Epochs

    if TYPE_CHECKING:

        def _call(self, *args: Any) -> Any: ...

        def _batch(self, commands: Iterable[tuple[Any, ...]]) -> list[Any]: ...

        def _memberships(
            self, user: str, learn: Epochs | None = None
        ) -> tuple[dict[str, dict[str, int]], list[str]]: ...

    # -- rooms --------------------------------------------------------------

    def info(self, room: str, with_read: bool = False) -> dict[str, Any] | None:
        """The room's fields (``CHAT.INFO``), None for an unknown room: ``id``,
        ``title``, ``created``, ``members``, ``messages``, ``last_id``,
        ``first_id``, ``epoch``, ``pins``, ``mode``, ``private`` (bool),
        ``slowmode``, ``owners``, and with ``with_read`` (``WITHREAD``)
        ``read``, each member's read cursor.

        ``epochs`` learns the room's epoch here if it did not know it (a
        known room keeps its own until a reset: see ``redis_chat._epochs``).
        """
        args: list[Any] = ["CHAT.INFO", room]
        if with_read:
            args.append("WITHREAD")
        reply = self._call(*args)
        if reply is None:
            return None
        fields = _replies.mapping(reply)
        info: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "owners":
                info[name] = _replies.strings(value)
            elif name == "read":
                info[name] = {u: _replies.integer(c) for u, c in _replies.mapping(value).items()}
            elif name == "private":
                info[name] = _replies.integer(value) == 1
            else:
                info[name] = value if isinstance(value, int) else _replies.text(value)
        self._learn_info(room, fields, self.epochs)
        return info

    @staticmethod
    def _learn_info(room: str, fields: dict[str, Any], epochs: Epochs) -> None:
        if "epoch" in fields:
            epochs.learn(room, _replies.text(fields["epoch"]), _replies.integer(fields.get("last_id", 0)))

    # -- messages -----------------------------------------------------------

    def history(
        self,
        room: str,
        after: int | None = None,
        before: int | None = None,
        count: int = 50,
        *,
        epoch: str | None = None,
    ) -> list[dict[str, Any]]:
        """Messages of ``room``, ascending by id (``CHAT.HISTORY``).

        ``after``: the first ``count`` after that id; ``before``: the last
        ``count`` before it; neither: the newest ``count``. With ``after``,
        where retention removed messages after that id, the first document
        is a gap (``{"type": "gap", "room": ..., "after": ..., "before":
        ...}``; ``before`` is the oldest id kept), which ``count`` does not
        count.

        ``epoch``: the epoch of the ids the caller holds (``EPOCH``). When
        the room's ids were reused since (or ``after`` is beyond its last
        id, epoch given or not), the reply is a reset document,
        ``{"type": "reset", "room": ..., "epoch": ..., "last_id": ...}``,
        then the newest ``count`` messages, whatever ``after`` or ``before``
        said: they replace what the caller shows. ``epochs`` is left alone
        (it is ``missed``'s).
        """
        args: list[Any] = ["CHAT.HISTORY", room]
        if after is not None and before is not None:
            raise ValueError("history takes after or before, not both")
        if after is not None:
            args += ["AFTER", after]
        elif before is not None:
            args += ["BEFORE", before]
        args += ["COUNT", count]
        return self._read_page(args, epoch)

    def _read_page(self, args: list[Any], epoch: str | None) -> list[dict[str, Any]]:
        """A ``CHAT.HISTORY`` or ``CHAT.THREAD`` page, with ``EPOCH`` when
        the caller gave one."""
        if epoch is not None:
            args = [*args, "EPOCH", epoch]
        return _replies.documents(self._call(*args))

    def catch_up(
        self, starts: dict[str, int], epochs: Epochs | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Every message after the given id in each room, ascending per room.

        Where retention removed messages after the id given, the room's list
        starts with a gap document (``{"type": "gap", "room": ..., "after":
        ..., "before": ...}``: ids between the two are gone; ``before`` is
        the oldest kept). One pipeline asks for the first page of every
        room at once; only a room with a full page is asked again. A room
        dropped meanwhile gives an empty list.

        Each room's read names the epoch ``epochs`` (default: ``self.epochs``)
        knows of it, and the pages update it. Where the room's ids were
        reused since, or the id given is beyond its last, its list is a
        reset document (``{"type": "reset", "room": ..., "epoch": ...,
        "last_id": ...}``) and the room's newest messages (up to 1000): the
        ids given are not the room's any more, and these replace them.
        """
        store = self.epochs if epochs is None else epochs
        result: dict[str, list[dict[str, Any]]] = {room: [] for room in starts}
        pending = dict(starts)
        while pending:
            rooms = list(pending)
            asked = {room: store.epoch(room) for room in rooms}
            replies = self._batch(
                ("CHAT.HISTORY", room, "AFTER", pending[room], "COUNT", PAGE,
                 *(("EPOCH", asked[room]) if asked[room] else ()))
                for room in rooms
            )
            for room, reply in zip(rooms, replies, strict=True):
                if isinstance(reply, Exception):
                    if _replies.is_no_such_room(reply):
                        del pending[room]
                        continue
                    raise reply
                page = _replies.documents(reply)
                for doc in page:
                    doc.setdefault("room", room)
                store.take_page(room, page, asked[room])
                if page and _replies.is_reset(page[0]):
                    # What came before is of ids that are not the room's any
                    # more; the page holds its newest messages, with nothing
                    # older left to page through.
                    result[room] = page
                    del pending[room]
                    continue
                result[room].extend(page)
                last = _replies.resume_after(page)
                if len(page) < PAGE or last is None:
                    del pending[room]
                else:
                    pending[room] = last
        return result

    def missed(self, user: str, epochs: Epochs | None = None) -> list[dict[str, Any]]:
        """Every message after ``user``'s read cursor in each of their rooms.

        Ascending by id within each room, rooms ascending; each message has
        ``room`` and ``id``. A room whose oldest unread messages retention
        removed starts with a gap document (see ``catch_up``). A room whose
        ids were reused since ``epochs`` (default: ``self.epochs``) learned
        its epoch starts with a reset document, then its newest messages,
        whatever the cursor: what the app shows of it is to be replaced.
        The epochs of rooms ``epochs`` does not know are read first
        (``CHAT.INFO``), for the next call.
        """
        store = self.epochs if epochs is None else epochs
        members, _ = self._memberships(user, learn=store)
        starts = {room: c["cursor"] for room, c in members.items()}
        pages = self.catch_up(starts, store)
        return [doc for room in sorted(pages) for doc in pages[room]]
