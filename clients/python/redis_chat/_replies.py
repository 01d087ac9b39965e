"""Turning raw replies into Python values.

The client may be built with ``decode_responses`` on or off, and may speak
RESP2 or RESP3, so the same reply can arrive as ``b"general"`` or
``"general"``, and a map as a ``dict`` or as a flat ``[field, value, ...]``
list. Everything the library returns goes through these helpers, so callers
always get ``str``, ``int``, ``dict`` and ``list`` whatever the client's
settings.
"""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import ClusterCrossSlotError, ResponseError


def text(value: Any) -> str:
    """A reply string as ``str`` (bytes are UTF-8, as the module writes them)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def integer(value: Any) -> int:
    """A reply integer; RESP2 clients may hand over a bulk string of digits."""
    if isinstance(value, bytes):
        value = value.decode("ascii")
    return int(value)


def strings(values: Any) -> list[str]:
    """An array reply of strings."""
    return [text(v) for v in values or []]


def mapping(value: Any) -> dict[str, Any]:
    """A map reply: a RESP3 ``dict`` or a RESP2 flat field/value list.

    Keys become ``str``; values stay as sent (ints stay ints, strings may
    still be bytes: callers convert the fields they use).
    """
    if value is None:
        return {}
    if isinstance(value, dict):
        return {text(k): v for k, v in value.items()}
    items = list(value)
    return {text(items[i]): items[i + 1] for i in range(0, len(items) - 1, 2)}


def document(raw: Any) -> dict[str, Any]:
    """One JSON document (a message or an event) as a ``dict``."""
    return json.loads(raw)


def documents(raws: Any) -> list[dict[str, Any]]:
    """An array of JSON documents, in the order sent."""
    return [json.loads(r) for r in raws or []]


def is_gap(doc: dict[str, Any]) -> bool:
    """A gap document: messages removed by retention (``after``/``before``),
    or inbox copies dropped (``dropped``/``delivery``)."""
    return doc.get("type") == "gap"


def is_reset(doc: dict[str, Any]) -> bool:
    """A reset: the room's ids were reused (``epoch``, ``last_id``; see
    ``redis_chat._epochs``)."""
    return doc.get("type") == "reset"


def resume_after(docs: list[dict[str, Any]]) -> int | None:
    """The id a history page ends at, to ask for the next page after it: the
    last message's id, or past a gap that ends the page, the id before the
    oldest message kept. None when the page names no id."""
    for doc in reversed(docs):
        if is_gap(doc):
            if "before" in doc:
                return integer(doc["before"]) - 1
        elif "id" in doc:
            return integer(doc["id"])
    return None


def error_text(error: BaseException) -> str:
    """The message of an error reply, lower-cased for matching.

    redis-py strips the error code (``ERR ``, ``CROSSSLOT ``) from the text and
    encodes it in the exception class instead, so matching is done on the rest.
    """
    return str(error).lower()


def is_not_member(error: BaseException) -> bool:
    """``ERR user is not a member of the room`` or ``ERR no such room``."""
    t = error_text(error)
    return isinstance(error, ResponseError) and (
        "not a member" in t or "no such room" in t
    )


def is_no_such_user(error: BaseException) -> bool:
    return isinstance(error, ResponseError) and "no such user" in error_text(error)


def is_no_such_room(error: BaseException) -> bool:
    return isinstance(error, ResponseError) and "no such room" in error_text(error)


def is_crossslot(error: BaseException) -> bool:
    """A ``CROSSSLOT`` reply, whichever way the client's parser classified it."""
    return isinstance(error, ClusterCrossSlotError) or (
        isinstance(error, ResponseError) and error_text(error).startswith("crossslot")
    )
