"""Alice and Bob through the redis_chat client library, on one server or
across a Redis Cluster: the same code either way.

Bob's app listens, gets Alice's first message live and marks it read; then
it closes, two more messages arrive, and Bob's next session finds them with
`missed` (everything after his read cursor) and marks them read.

    pip install ./clients/python
    python3 examples/python/library.py                          # 127.0.0.1:6379
    REDIS_URL=redis://127.0.0.1:6390/0 python3 examples/python/library.py
    REDIS_CLUSTER=127.0.0.1:7001 python3 examples/python/library.py
"""

import os

import redis
from redis.cluster import RedisCluster

from redis_chat import Chat

if os.environ.get("REDIS_CLUSTER"):
    host, port = os.environ["REDIS_CLUSTER"].rsplit(":", 1)
    client = RedisCluster(host=host, port=int(port), decode_responses=True)
else:
    client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
                                  decode_responses=True)


def ensure(create, *args):
    """Registers or creates; an earlier run may already have done it."""
    try:
        create(*args)
    except redis.ResponseError as e:
        if "already exists" not in str(e):
            raise


# [readme:library]
chat = Chat(client)  # a redis.Redis or a redis.cluster.RedisCluster
ensure(chat.register, "alice", "Alice")
ensure(chat.register, "bob", "Bob")
ensure(chat.create, "general", "General chat")
chat.join("general", "alice")  # in a cluster: the steps across slots, in order
chat.join("general", "bob")

# Bob's app: every message of all his rooms, live, each exactly once.
with chat.listen("bob") as bob_app:
    chat.send("general", "alice", "Hi Bob!")  # retried with a DEDUP key if need be
    event = bob_app.get(timeout=5)
    print("live:", event["room"], event["id"], event["text"])
    chat.read("general", "bob", event["id"])  # shown: read

# Bob is away; Alice goes on.
chat.send("general", "alice", "Are you there?")
last = chat.send("general", "alice", "Call me")

# Bob's next session: what he missed, from his read cursor, then read.
for message in chat.missed("bob"):
    print("missed:", message["room"], message["id"], message["text"])
chat.read("general", "bob", last)
print("unread:", chat.unread("bob"))
# [end]
chat.close()
