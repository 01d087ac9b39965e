"""A two-user conversation through redis-chat, from Python (redis-py).

Alice and Bob join a room. Bob's app listens on his push channel while he is
online and gets Alice's first message live; then Bob goes offline, misses two
messages, and on his return fetches and acknowledges them from his inbox.

    pip install -r examples/python/requirements.txt
    REDIS_URL=redis://127.0.0.1:6379/0 python3 examples/python/quickstart.py
"""

import json
import os

import redis

r = redis.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    decode_responses=True,
    socket_timeout=10,  # no step should take long: give up rather than hang
)


def ensure(*command):
    """Runs a create-style command; an earlier run may already have done it."""
    try:
        r.execute_command(*command)
    except redis.ResponseError as e:
        if "already exists" not in str(e):
            raise


# [readme:conversation]
ensure("CHAT.REGISTER", "alice", "Alice")
ensure("CHAT.REGISTER", "bob", "Bob")
ensure("CHAT.CREATE", "general", "General chat")
r.execute_command("CHAT.SUBSCRIBE", "general", "alice")
channel = r.execute_command("CHAT.SUBSCRIBE", "general", "bob")  # Bob's push channel

# Bob's app listens on his push channel, then tells the server he is online.
bob_app = r.pubsub()
bob_app.subscribe(channel)
bob_app.get_message(timeout=2)  # Redis confirms the subscription
r.execute_command("CHAT.ONLINE", "bob", "TTL", 60)

first = r.execute_command("CHAT.SEND", "general", "alice", "Hi Bob!")
live = json.loads(bob_app.get_message(timeout=2)["data"])
print(f"bob got live: {live['sender']}: {live['text']} (id {live['id']})")

# Bob closes the app and goes offline: the next messages wait in his inbox.
bob_app.close()
r.execute_command("CHAT.OFFLINE", "bob")
r.execute_command("CHAT.SEND", "general", "alice", "Are you there?")
r.execute_command("CHAT.SEND", "general", "alice", "Call me when you are back.")

# Back again, Bob fetches what he missed, shows it and acknowledges it.
missed = [json.loads(doc) for doc in r.execute_command("CHAT.FETCH", "bob")]
for m in missed:
    print(f"bob missed: {m['sender']}: {m['text']} (id {m['id']})")
removed = r.execute_command("CHAT.ACK", "bob", missed[-1]["delivery"])
# [end]
assert live["id"] == first and live["text"] == "Hi Bob!", live
assert [m["text"] for m in missed[-2:]] == ["Are you there?", "Call me when you are back."], missed

left = r.execute_command("CHAT.FETCH", "bob")
print(f"bob acknowledged {removed} message(s); inbox now holds {len(left)}")
assert left == [], left

# Anyone can page through the room's history.
history = [json.loads(doc) for doc in r.execute_command("CHAT.HISTORY", "general", "COUNT", 3)]
print("history: " + " | ".join(m["text"] for m in history))
