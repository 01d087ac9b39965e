"""``Epochs``: per room, the epoch and the last message id known under it.

A room's ids are 1, 2, 3, ... and a client trusts the ids it holds: it asks
for what came after the largest, and a listener drops a message whose id it
handed out already. That holds until ids are reused: a room dropped and
created again under its id, or a server promoted from replica (or restarted
from persistence) that lost the newest messages and gives their ids to new
ones. The module marks each such break with a new *epoch* of the room, an
opaque string. A client that says which epoch its ids belong to (``EPOCH``)
is answered with a *reset* document when that epoch is not the room's any
more: ``{"type": "reset", "room": ..., "epoch": <current>, "last_id": ...}``,
then the newest messages, which replace whatever it shows of the room. A
room's listeners get a reset *event* of the same shape when its epoch
changes on a send, with the last id before that send.

This store is what the library says ``EPOCH`` with. Its epoch of a room
changes only through a reset (a document or an event): were it refreshed
from ``CHAT.INFO`` or a join, the next read would name the new epoch, the
module would see nothing wrong, and the app would keep ids of the old one.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from . import _replies

# Earlier epochs remembered per room, to recognise a reset event that comes
# after the catch-up already took the room past it.
_EARLIER = 8


class Epochs:
    """Per room: ``epoch`` and ``last_id``, the largest message id known
    under that epoch (``CHAT.INFO``'s, a join's, or one read or heard).

    ``rooms`` seeds it, in the form ``snapshot()`` gives: an app that keeps
    what it shows across restarts keeps this with it. Safe to share between
    threads; one store belongs to one view of the rooms (an app, a user's
    session), whose ids it vouches for.
    """

    def __init__(self, rooms: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, tuple[str, int]] = {}
        self._earlier: dict[str, deque[str]] = {}
        for room, state in (rooms or {}).items():
            self._rooms[room] = (str(state["epoch"]), int(state.get("last_id", 0)))

    def epoch(self, room: str) -> str | None:
        """The epoch the ids held of ``room`` belong to; None if not known."""
        with self._lock:
            state = self._rooms.get(room)
        return state[0] if state else None

    def get(self, room: str) -> dict[str, Any] | None:
        """``{"epoch": ..., "last_id": ...}`` of ``room``; None if not known."""
        with self._lock:
            state = self._rooms.get(room)
        return {"epoch": state[0], "last_id": state[1]} if state else None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every room known, as ``get`` gives each (what ``Epochs(...)`` takes)."""
        with self._lock:
            return {room: {"epoch": e, "last_id": i} for room, (e, i) in sorted(self._rooms.items())}

    def forget(self, room: str) -> None:
        with self._lock:
            self._rooms.pop(room, None)
            self._earlier.pop(room, None)

    def learn(self, room: str, epoch: str, last_id: int) -> None:
        """Takes in a room's epoch as a reply told it (``CHAT.INFO``, a join,
        ``CHAT.CHANNELS ... WITHEPOCHS``): a room not known yet is known from
        here on, and one known under that epoch gets the larger last id. A
        room known under another epoch keeps it, so that the next read names
        it and is answered with the reset the app needs."""
        with self._lock:
            state = self._rooms.get(room)
            if state is None or (state[0] == epoch and last_id > state[1]):
                self._rooms[room] = (epoch, last_id)

    def reset(self, room: str, epoch: str, last_id: int, event: bool = False) -> bool:
        """Takes in a reset: both values replaced; True. A reset *event*
        (``event``) whose epoch the room has, or had before, is a copy of
        one taken in already (the catch-up read the room past it): False,
        and nothing changes."""
        with self._lock:
            state = self._rooms.get(room)
            earlier = self._earlier.setdefault(room, deque(maxlen=_EARLIER))
            if event and ((state is not None and state[0] == epoch) or epoch in earlier):
                return False
            if state is not None and state[0] != epoch:
                earlier.append(state[0])
            self._rooms[room] = (epoch, last_id)
            return True

    def saw(self, room: str, epoch: str | None, msg_id: int) -> None:
        """A message id read or heard while the room was known at ``epoch``
        (None: not known): raises the last id if the room is still there."""
        with self._lock:
            state = self._rooms.get(room)
            if state is not None and state[0] == epoch and msg_id > state[1]:
                self._rooms[room] = (epoch, msg_id)

    def take_page(self, room: str, docs: Iterable[dict[str, Any]], asked: str | None) -> None:
        """Takes in a page of ``room`` read with ``EPOCH asked`` (None:
        without): a reset document replaces the state, and the message ids
        after it (or, with no reset, in a page read at the known epoch)
        raise the last id."""
        for doc in docs:
            if _replies.is_reset(doc):
                state = reset_state(doc)
                if state is not None:
                    self.reset(room, *state)
                    asked = state[0]
            elif doc.get("type") == "message" and "id" in doc:
                self.saw(room, asked, _replies.integer(doc["id"]))


def reset_state(doc: dict[str, Any]) -> tuple[str, int] | None:
    """(epoch, last_id) of a reset document or event; None if malformed."""
    try:
        return _replies.text(doc["epoch"]), _replies.integer(doc["last_id"])
    except (KeyError, TypeError, ValueError):
        return None


def state_of(reply: Any) -> dict[str, Any]:
    """A reply's ``epoch`` and ``last_id`` fields, as ``{"epoch": str,
    "last_id": int}`` (a ``CHAT.CHANNELS ... WITHEPOCHS`` room, a
    ``CHAT.SUBSCRIBE ... WITHEPOCH`` reply)."""
    fields = _replies.mapping(reply)
    return {"epoch": _replies.text(fields["epoch"]), "last_id": _replies.integer(fields["last_id"])}
