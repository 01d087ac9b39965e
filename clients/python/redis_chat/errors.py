"""Exceptions raised by the library.

Errors the module replies (``ERR no such room``, ...) reach the caller as
redis-py's own ``redis.ResponseError``: the library does not wrap them, so an
app can catch what it would catch around ``execute_command``. The classes
here cover what the library itself decides: a send it gave up on.
"""

from __future__ import annotations


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
