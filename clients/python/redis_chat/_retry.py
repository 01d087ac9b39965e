"""Bounded retries with backoff, for commands that are safe to run twice.

Every membership step the library takes (LIST-ROOM, SUBSCRIBE, UNSUBSCRIBE,
UNLIST-ROOM, DM-ROOM, READ, ...) gives the same result when repeated, so a
step whose reply was lost, or that bounced off a node in the middle of a
failover, is simply run again. redis-py already retries some of these
cases itself; this loop adds the ones it passes through (``TRYAGAIN`` on a
standalone client, ``READONLY`` from a demoted primary, a cluster still
electing, redis-py's own retries running out during a failover).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import (
    ClusterDownError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")

# A reply was lost or the node could not be reached: the command may or may
# not have run.
LOST = (RedisConnectionError, RedisTimeoutError, OSError)

_TRANSIENT_CODES = ("TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "NOREPLICAS", "READONLY", "LOADING")


def transient_reply(error: BaseException) -> bool:
    """An error reply that means "not now, not here" rather than "never".

    None of these ran the command.
    """
    if isinstance(error, (TryAgainError, ClusterDownError, ReadOnlyError)):
        return True
    if not isinstance(error, ResponseError):
        return False
    return str(error).split(" ", 1)[0].upper() in _TRANSIENT_CODES


def retriable(error: BaseException) -> bool:
    """An error after which an idempotent step is worth running again: a
    lost reply, an unreachable node, or a transient error reply."""
    if isinstance(error, LOST + (RedisClusterException,)):
        return True
    return isinstance(error, ResponseError) and transient_reply(error)


class Retry:
    """Attempts, and the pause between them (exponential, with jitter so that
    clients retrying after the same failover spread out)."""

    def __init__(self, attempts: int, backoff: float, max_backoff: float):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff

    def pause(self, attempt: int) -> None:
        """Sleeps before attempt number ``attempt`` (2, 3, ...)."""
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 2)))
        time.sleep(delay * (0.5 + random.random() / 2))

    def run(self, step: Callable[[], T]) -> T:
        """Runs an idempotent step until it gets an answer, or raises the last error."""
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                self.pause(attempt)
            try:
                return step()
            except LOST + (RedisClusterException,):
                # redis-py's cluster client has already reloaded its slot
                # map where it saw fit; another attempt goes by it.
                if attempt == self.attempts:
                    raise
            except ResponseError as error:
                if attempt == self.attempts or not transient_reply(error):
                    raise
        raise AssertionError("unreachable")
