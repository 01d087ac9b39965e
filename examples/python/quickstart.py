"""A two-user conversation through redis-chat, from Python (redis-py).

Alice and Bob join a room. Bob's app listens on his push channel while he is
online and gets Alice's first message live; then Bob goes offline, misses two
messages, and on his return fetches and acknowledges them from his inbox.

    pip install redis
    REDIS_URL=redis://127.0.0.1:6379/0 python examples/python/quickstart.py
"""

import json
import os

import redis

r = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


def ensure(*command):
    """Runs a create-style command; an earlier run may already have done it."""
    try:
        r.execute_command(*command)
    except redis.ResponseError as e:
        if "already exists" not in str(e):
            raise


ensure("CHAT.REGISTER", "alice", "Alice")
ensure("CHAT.REGISTER", "bob", "Bob")
ensure("CHAT.CREATE", "general", "General chat")
r.execute_command("CHAT.SUBSCRIBE", "general", "alice")
channel = r.execute_command("CHAT.SUBSCRIBE", "general", "bob").decode()

# Bob's app: listen on his push channel, then tell the server he is online.
bob_app = r.pubsub()
bob_app.subscribe(channel)
bob_app.get_message(timeout=1)  # the subscribe confirmation
r.execute_command("CHAT.ONLINE", "bob", "TTL", 60)

first = r.execute_command("CHAT.SEND", "general", "alice", "Hi Bob!")
live = bob_app.get_message(timeout=2)
message = json.loads(live["data"])
print(f"bob got live: {message['sender']}: {message['text']} (id {message['id']})")
assert message["id"] == first and message["text"] == "Hi Bob!"

# Bob closes the app: he is offline, so the next messages wait in his inbox.
bob_app.close()
r.execute_command("CHAT.OFFLINE", "bob")
r.execute_command("CHAT.SEND", "general", "alice", "Are you there?")
r.execute_command("CHAT.SEND", "general", "alice", "Call me when you are back.")

# Bob comes back: fetch what he missed, show it, then acknowledge it.
missed = [json.loads(d) for d in r.execute_command("CHAT.FETCH", "bob")]
for m in missed:
    print(f"bob missed: {m['sender']}: {m['text']} (id {m['id']})")
assert [m["text"] for m in missed][-2:] == ["Are you there?", "Call me when you are back."]
removed = r.execute_command("CHAT.ACK", "bob", missed[-1]["delivery"])
print(f"bob acknowledged {removed} message(s); inbox now holds {len(r.execute_command('CHAT.FETCH', 'bob'))}")
assert r.execute_command("CHAT.FETCH", "bob") == []

# Anyone can page through the room's history.
history = [json.loads(d) for d in r.execute_command("CHAT.HISTORY", "general", "COUNT", 3)]
print("history:", [m["text"] for m in history])
