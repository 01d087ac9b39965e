"""Many users, many rooms in many slots: every member gets every message once.

50 users and 20 untagged rooms (spread over the cluster's slots, so most
memberships cross slots and most rooms are broadcast rooms there). Ten users
listen from the start; the others only come back at the end with missed().
Joins, sends and reads are interleaved at random, and the listeners' pub/sub
connections are killed twice on the way. In the end:

- each listener has received every message of others sent in its rooms after
  it joined, exactly once, ascending per room;
- missed() of every other user returns exactly the messages after their read
  cursor (which their own sends and reads move);
- unread() agrees with those counts and with the history.
"""

from __future__ import annotations

import os
import random
import time
from collections import defaultdict

from test_listen import Collector, kill_pubsub_connections
from test_methods import people

from redis_chat import Chat

USERS, ROOMS, LISTENERS, OPERATIONS = 50, 20, 10, 1000


def broken(collector: Collector) -> int:
    """How often the listener found its connection broken."""
    return collector.listener.causes["failure"] + collector.listener.causes["reconnect"]


def test_exactly_once(chat: Chat, server, ids) -> None:
    rng = random.Random(20251130)
    users = people(chat, ids, USERS)
    rooms = [ids("room") for _ in range(ROOMS)]
    for room in rooms:
        chat.create(room, room)
    listeners = users[:LISTENERS]
    collectors = {u: Collector(chat.listen(u, refresh=0.5)) for u in listeners}

    members: dict[str, list[str]] = defaultdict(list)  # room -> members
    start: dict[str, dict[str, int]] = defaultdict(dict)  # user -> room -> cursor at join
    cursor: dict[str, dict[str, int]] = defaultdict(dict)  # the model of each read cursor
    sent: dict[str, list[tuple[int, str]]] = defaultdict(list)  # room -> (id, sender)

    try:
        for step in range(OPERATIONS):
            if step in (OPERATIONS // 3, 2 * OPERATIONS // 3):
                # Kill, send a few (they fall in the gap), then let every
                # listener notice before the next kill.
                breaks = {u: broken(c) for u, c in collectors.items()}
                kill_pubsub_connections(server)
            if step in (OPERATIONS // 3 + 20, 2 * OPERATIONS // 3 + 20):
                for u, c in collectors.items():
                    c.wait_for(
                        lambda c=c, n=breaks[u]: broken(c) > n and c.listener.synced,
                        what=f"{u} to recover from the kill",
                    )
            roll = rng.random()
            if roll < 0.25:
                user, room = rng.choice(users), rng.choice(rooms)
                if room in start[user]:
                    continue
                chat.join(room, user)
                members[room].append(user)
                at = chat.cursors(user)[room]["cursor"]
                assert at == (sent[room][-1][0] if sent[room] else 0)
                start[user][room] = cursor[user][room] = at
            elif roll < 0.9:
                room = rng.choice(rooms)
                senders = [u for u in members[room] if u not in collectors]
                if not senders:
                    continue
                sender = rng.choice(senders)
                msg_id = chat.send(room, sender, f"{room} {step}")
                assert msg_id == len(sent[room]) + 1
                sent[room].append((msg_id, sender))
                cursor[sender][room] = msg_id
            else:
                user = rng.choice(users[LISTENERS:])
                if not start[user]:
                    continue
                room = rng.choice(sorted(start[user]))
                if sent[room]:
                    upto = rng.randint(0, sent[room][-1][0])
                    cursor[user][room] = max(cursor[user][room], chat.read(room, user, upto))

        total_sent = sum(len(v) for v in sent.values())
        assert total_sent > 300

        # Listeners: others' messages after their join, once each, in order.
        for user, collector in collectors.items():
            expected = sorted(
                (room, i) for room, at in start[user].items() for i, s in sent[room] if i > at and s != user
            )
            collector.wait_count(len(expected), timeout=20)
        time.sleep(0.6)  # one more refresh: nothing extra may come
        for user, collector in collectors.items():
            got = collector.messages()
            assert len(got) == len(set(got)), f"{user} got repeats"
            expected = sorted(
                (room, i) for room, at in start[user].items() for i, s in sent[room] if i > at and s != user
            )
            assert sorted(got) == expected, user
            for room in start[user]:
                ids_in_room = [i for r, i in got if r == room]
                assert ids_in_room == sorted(ids_in_room), f"{user} got {room} out of order"
    finally:
        for collector in collectors.values():
            collector.stop()
        if os.environ.get("SHOW_LISTENERS"):
            for u, c in collectors.items():
                print(u, len(c.messages()), "filled", c.listener.filled, dict(c.listener.causes))

    # Everyone: missed() and unread() against the model and the history.
    for user in users:
        expected = [
            (room, i)
            for room in sorted(start[user])
            for i, _ in sent[room]
            if i > cursor[user][room]
        ]
        assert [(m["room"], m["id"]) for m in chat.missed(user)] == expected, user
        counts: dict[str, int] = defaultdict(int)
        for room, _ in expected:
            counts[room] += 1
        assert chat.unread(user) == dict(counts), user
        for room, n in counts.items():
            after = chat.history(room, after=cursor[user][room], count=1000)
            assert len(after) == n
    for room in rooms:
        assert [m["id"] for m in chat.history(room, count=1000)] == [i for i, _ in sent[room]]
