"""Exceptions raised by the library.

Errors the module replies (``ERR no such room``, ...) reach the caller as
redis-py's own ``redis.ResponseError``: the library does not wrap them, so an
app can catch what it would catch around ``execute_command``.

A room's rules refuse with codes of their own, and those come as
subclasses of ``Refused`` (itself a ``redis.ResponseError``, so code that
catches ``ResponseError`` still catches them, with the same text):

============  ==================  ============================================
code          class               when
============  ==================  ============================================
``NOPERM``    ``NoPermission``    a role too low (also ``NoPermissionError``)
``NOINVITE``  ``NoInvite``        joining a private room without invitation
``BANNED``    ``Banned``          joining (or being invited) while banned
``MUTED``     ``Muted``           sending, reacting, editing while muted
``SLOWMODE``  ``SlowMode``        sending sooner than the room's slow mode allows
``RATELIMIT`` ``RateLimited``     sending faster than ``chat.send-rate``
============  ==================  ============================================

The rest cover what the library itself decides: a send it gave up on.
"""

from __future__ import annotations

import re

from redis.exceptions import NoPermissionError, ResponseError


class ChatError(Exception):
    """Base class of the library's own exceptions."""


class SendFailed(ChatError):
    """A send whose outcome could not be confirmed after every attempt.

    The message may or may not be stored: the last attempt failed before a
    reply arrived. Sending again with the same ``dedup`` key (``key``) within
    the server's ``chat.dedup-window`` is safe and never makes a second copy.
    """

    def __init__(self, message: str, key: str, attempts: int) -> None:
        super().__init__(message)
        self.key = key
        self.attempts = attempts


class NotReplicated(SendFailed):
    """The message is stored (``id``) but fewer replicas than asked confirmed it.

    Raised by ``send(..., replicas=n)`` after its last attempt, when ``WAIT``
    (or the replication offsets, after a reconnect) still reported fewer than
    ``n`` replicas. The message is on the primary and may yet reach the
    replicas; it may also be lost if the primary fails before they do.
    """

    def __init__(self, message: str, key: str, attempts: int, id: int, acked: int) -> None:
        super().__init__(message, key, attempts)
        self.id = id
        self.acked = acked


class Refused(ChatError, ResponseError):
    """A command the module refused by a room's rules (see the table above).

    ``str()`` is the text redis-py would have given (``NOPERM`` without its
    code, as redis-py strips it; the others with theirs); ``code`` is the
    error code and ``detail`` the words after it.
    """

    code = ""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail if detail is not None else message


class NoPermission(Refused, NoPermissionError):
    """``NOPERM``: the actor's role in the room does not allow the action
    (only owners and admins moderate; nobody acts on an equal or higher
    role), or, with ACL identities, the connection's user may not act as the
    user named."""

    code = "NOPERM"


class NoInvite(Refused):
    """``NOINVITE``: the room is private, and the user has no invitation
    (``Chat.invite``)."""

    code = "NOINVITE"


class _Until(Refused):
    """A refusal that lasts until ``until`` (unix ms), or, when ``until`` is
    None, until lifted (``CHAT.UNBAN``, ``CHAT.UNMUTE``)."""

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message, detail)
        found = re.search(r" until (\d+)", self.detail)
        self.until: int | None = int(found.group(1)) if found else None


class Banned(_Until):
    """``BANNED``: the user is banned from the room (joining and invitations
    are refused) until ``until`` (unix ms), or until unbanned (None)."""

    code = "BANNED"


class Muted(_Until):
    """``MUTED``: the member is muted in the room (sends, reactions and
    edits are refused) until ``until`` (unix ms), or until unmuted (None)."""

    code = "MUTED"


class _TryLater(Refused):
    """A refusal that ends by itself after ``retry_after_ms`` milliseconds."""

    _pattern = re.compile(r" in (\d+) ms")

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message, detail)
        found = self._pattern.search(self.detail)
        self.retry_after_ms: int = int(found.group(1)) if found else 0


class SlowMode(_TryLater):
    """``SLOWMODE``: the room lets a member send one message every so many
    seconds; ``retry_after_ms``: when the member may send again."""

    code = "SLOWMODE"
    _pattern = re.compile(r"may send again in (\d+) ms")


class RateLimited(_TryLater):
    """``RATELIMIT``: the sender went over the server's ``chat.send-rate``
    (messages per second, every room); ``retry_after_ms``: when to retry."""

    code = "RATELIMIT"
    _pattern = re.compile(r"retry in (\d+) ms")


_BY_CODE: dict[str, type[Refused]] = {
    cls.code: cls for cls in (NoPermission, NoInvite, Banned, Muted, SlowMode, RateLimited)
}


def typed(error: BaseException) -> BaseException:
    """The ``Refused`` subclass for an error reply with one of the codes
    above, with the same text; any other error as it is."""
    if not isinstance(error, ResponseError) or isinstance(error, Refused):
        return error
    text = str(error)
    if isinstance(error, NoPermissionError):
        # redis-py took the code off already.
        code, detail = "NOPERM", text.removeprefix("NOPERM ")
    else:
        code, _, detail = text.partition(" ")
    cls = _BY_CODE.get(code)
    if cls is None:
        return error
    refined = cls(text, detail)
    refined.__traceback__ = error.__traceback__
    return refined
