"""Commands on one raw connection, with no retry layer in between.

redis-py's clients and pipelines retry a lost connection by opening a new
one and sending again. Where the library must know which connection a
command ran on (a send and its ``WAIT``), or must not touch redis-py's own
cluster bookkeeping (reading the slot map), it writes to a connection taken
from a pool and reads the replies itself.
"""

from __future__ import annotations

from typing import Any

from redis.backoff import NoBackoff
from redis.connection import BlockingConnectionPool, Connection, ConnectionPool
from redis.exceptions import ResponseError
from redis.retry import Retry


def take(pool: ConnectionPool) -> Connection:
    """A connected connection from ``pool``; give it back with ``pool.release``."""
    try:
        return pool.get_connection()
    except TypeError:
        # redis-py before 5.3 wants a command name (it ignores it).
        return pool.get_connection("_")  # type: ignore[call-arg]


def exchange(conn: Connection, commands: list[tuple[Any, ...]]) -> list[Any]:
    """Writes all commands at once and reads one reply per command.

    An error reply is returned in its place (not raised) so that the replies
    after it are still read and the connection stays usable. A lost
    connection raises (redis-py's ConnectionError or TimeoutError) and leaves
    the connection closed.
    """
    conn.send_packed_command(conn.pack_commands(commands))
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except ResponseError as error:
            replies.append(error)
    return replies


def run(pool: ConnectionPool, *command: Any) -> Any:
    """One command on a connection of ``pool``; an error reply is raised."""
    conn = take(pool)
    ok = False
    try:
        reply = exchange(conn, [command])[0]
        ok = True
    finally:
        if not ok:
            conn.disconnect()
        pool.release(conn)
    if isinstance(reply, ResponseError):
        raise reply
    return reply


def pool_like(pool: ConnectionPool, retries: bool = True, **changes: Any) -> ConnectionPool | None:
    """A new pool that connects as ``pool`` does (class, password, TLS,
    timeouts, decoding), with ``changes`` applied; ``retries=False`` turns
    off redis-py's silent reconnect-and-resend.

    ``None`` for pools of other kinds (Sentinel's, say), which cannot be
    copied this way.
    """
    if type(pool) not in (ConnectionPool, BlockingConnectionPool):
        return None
    kwargs = dict(pool.connection_kwargs)
    kwargs.update(changes)
    if not retries:
        # No error is "supported": redis-py then neither retries nor
        # reconnects behind the caller's back, it raises.
        kwargs["retry"] = Retry(NoBackoff(), 0, supported_errors=())
    return ConnectionPool(connection_class=pool.connection_class, **kwargs)
