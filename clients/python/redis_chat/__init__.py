"""Python client for redis-chat, the Redis module that adds CHAT.* commands.

    import redis
    from redis_chat import Chat

    chat = Chat(redis.Redis(decode_responses=True))
    chat.register("alice", "Alice")
    chat.create("general", "General chat")
    chat.join("general", "alice")
    chat.send("general", "alice", "Hello")
    for event in chat.listen("alice"):
        print(event)

The same code runs against a ``redis.cluster.RedisCluster``; see ``Chat``.
"""

from ._epochs import Epochs
from .chat import Chat
from .errors import (
    Banned,
    ChatError,
    Muted,
    NoInvite,
    NoPermission,
    NotReplicated,
    RateLimited,
    Refused,
    SendFailed,
    SlowMode,
)
from ._presence import presence_channel
from .listen import Listener

__all__ = [
    "Banned",
    "Chat",
    "ChatError",
    "Epochs",
    "Listener",
    "Muted",
    "NoInvite",
    "NoPermission",
    "NotReplicated",
    "presence_channel",
    "RateLimited",
    "Refused",
    "SendFailed",
    "SlowMode",
]
__version__ = "0.1.0"
