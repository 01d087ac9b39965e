"""examples/notify/worker.py against real servers (one server, and a
3-primary cluster), a local webhook, and worker processes killed by PID.

Each test starts with no notification stream (the ``chat`` fixture deletes
them) and its own consumer group.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import redis
from conftest import Chat, Server, Webhook, Workers, primaries, streams, wait_until


def tenants(chat: Chat, server: Any, ids, n: int = 1) -> list[str]:
    """``n`` hash tags to put a room and its members in one slot.

    In a cluster a send notifies only the members whose keys share the
    room's slot (a room with members in other slots is a broadcast room:
    docs/deployment.md), so each test's rooms and users are a tenant's,
    under one hash tag; the tags are spread over the primaries (on every
    one when ``n`` is at least their number). On one server, tags change
    nothing.
    """
    want = 0 if isinstance(server, Server) else min(n, len(primaries(server)))
    tags: list[str] = []
    owners: set[int] = set()
    while len(tags) < n:
        tag = "{" + ids("t") + "}"
        if want:
            owner = server.node_of_slot(chat.client.keyslot(tag)).port
            if owner in owners and n - len(tags) <= want - len(owners):
                continue  # keep the last places for primaries not covered yet
            owners.add(owner)
        tags.append(tag)
    return tags


def people(chat: Chat, ids, tag: str, n: int, notify: str | None = "all") -> list[str]:
    users = [tag + ids("u") for _ in range(n)]
    for u in users:
        chat.register(u, u.upper())
        if notify:
            chat.client.execute_command("CHAT.NOTIFY", u, notify)
    return users


def new_room(chat: Chat, ids, tag: str, *members: str) -> str:
    room = tag + ids("room")
    chat.create(room, f"title of {room}")
    for m in members:
        chat.join(room, m)
    return room


def entries(server: Any) -> int:
    """Entries in all notification streams."""
    client = server.client()
    return sum(client.xlen(s) for s in streams(server))


def pending(server: Any, group: str) -> int:
    """Entries delivered to the group's consumers and not acknowledged."""
    client = server.client()
    total = 0
    for s in streams(server):
        try:
            total += client.xpending(s, group)["pending"]
        except redis.ResponseError:  # NOGROUP: the worker has not got there
            pass
    return total


def wait(check, what: str, timeout: float = 30.0) -> Any:
    return wait_until(check, timeout=timeout, interval=0.05, what=what)


def scatter(chat: Chat, server: Any, ids, n_tenants: int, per_room: int) -> list[str]:
    """Tenants each with alice and bob (notified of every message) in a room,
    alice sending ``per_room`` messages: the texts bob is to be notified of.
    In a cluster, one stream per tenant, on every primary."""
    texts = []
    for tag in tenants(chat, server, ids, n_tenants):
        alice, bob = people(chat, ids, tag, 2)
        room = new_room(chat, ids, tag, alice, bob)
        for i in range(per_room):
            texts.append(f"{room} {i}")
            chat.send(room, alice, texts[-1])
    return texts


def test_an_away_member_is_notified(chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob = people(chat, ids, tag, 2)  # bob: every message
    carol, = people(chat, ids, tag, 1, notify=None)  # the default: mentions and direct rooms
    workers.start()  # before any stream exists: it finds them as they come
    room = new_room(chat, ids, tag, alice, bob, carol)
    chat.send(room, alice, "hello all")
    chat.send(room, alice, "hi carol", mentions=[carol])
    dm = chat.dm(alice, carol)
    chat.send(dm, alice, "psst")

    wait(lambda: len(webhook.received) >= 4, "4 notifications")
    time.sleep(0.5)
    got = sorted((p["user"], p["reason"], p["room"], p["text"]) for p in webhook.payloads())
    assert got == sorted([
        (bob, "message", room, "hello all"),
        (bob, "message", room, "hi carol"),
        (carol, "mention", room, "hi carol"),
        (carol, "direct", dm, "psst"),
    ])
    for r in webhook.received:
        p = r["payload"]
        assert r["type"] == "application/json"
        assert r["key"] == f"{p['stream']}/{p['entry']}"
        assert p["sender"] == alice
        assert isinstance(p["id"], int) and isinstance(p["ts"], int)
        assert list(p) == ["user", "reason", "room", "id", "sender", "ts", "text", "stream", "entry"]
        if isinstance(server, Server):
            assert p["stream"] == "chat:notify"
        else:  # one stream per slot, in the room's slot
            assert re.fullmatch(r"chat:notify:\{\d+\}", p["stream"])
            assert chat.client.keyslot(p["stream"]) == chat.client.keyslot(p["room"])
    assert [p["id"] for p in webhook.payloads() if p["room"] == room and p["user"] == bob] == [1, 2]
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    assert "posted" in workers.log()


def test_streams_on_every_primary(chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    workers.start()
    texts = scatter(chat, server, ids, 3, 2)
    wait(lambda: len(webhook.received) >= len(texts), "every notification")
    assert sorted(webhook.texts()) == sorted(texts)
    used = {p["stream"] for p in webhook.payloads()}
    assert len(used) == (1 if isinstance(server, Server) else 3)
    assert sorted(used) == streams(server)
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")


def test_an_online_member_gets_no_notification(chat: Chat, server: Any, ids, webhook: Webhook,
                                               workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol = people(chat, ids, tag, 3)
    room = new_room(chat, ids, tag, alice, bob, carol)
    chat.client.execute_command("CHAT.ONLINE", bob)
    chat.send(room, alice, "bob is here")
    assert entries(server) == 1  # carol's only: the module records none for bob
    workers.start()
    wait(lambda: webhook.texts(carol) == ["bob is here"], "carol's notification")
    # Later entries of the same stream come after: bob's would have come first.
    assert webhook.texts(bob) == []


def test_a_member_online_by_delivery_time_is_skipped(chat: Chat, server: Any, ids, webhook: Webhook,
                                                     workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol = people(chat, ids, tag, 3)
    room = new_room(chat, ids, tag, alice, bob, carol)
    chat.send(room, alice, "first")  # both away: two entries
    assert entries(server) == 2
    chat.client.execute_command("CHAT.ONLINE", bob)  # bob is back before the worker runs
    workers.start()
    wait(lambda: webhook.texts(carol) == ["first"], "carol's notification")
    wait(lambda: pending(server, workers.group) == 0, "bob's entry acknowledged")
    assert webhook.texts(bob) == []
    assert re.search(rf"skipped \S+ \({re.escape(bob)} message {re.escape(room)}#1\): "
                     rf"{re.escape(bob)} is online", workers.log())

    chat.client.execute_command("CHAT.OFFLINE", bob)  # away again: notified again
    chat.send(room, alice, "second")
    wait(lambda: webhook.texts(bob) == ["second"], "bob's notification")


def test_nothing_is_lost_when_the_worker_is_killed_while_the_webhook_fails(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    texts = scatter(chat, server, ids, 3, 3)
    webhook.status = 503
    first = workers.start("w1")
    # It read what there was, failed to post it, and left it all pending.
    wait(lambda: pending(server, workers.group) == len(texts) and webhook.attempts >= 3, "pending entries")
    workers.kill(first)
    assert webhook.received == []

    webhook.status = 204
    workers.start("w1")  # the same consumer: its own pending entries first
    wait(lambda: len(webhook.received) >= len(texts), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    time.sleep(0.6)  # one more pass over pending entries
    assert sorted(webhook.texts()) == sorted(texts)  # each exactly once
    assert "re-delivering" in workers.log()


def test_nothing_is_lost_when_the_worker_is_killed_mid_batch(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    texts = scatter(chat, server, ids, 3, 3)
    webhook.delay = 0.3  # slow: the worker is killed in the middle of its batch
    first = workers.start("w1")
    wait(lambda: len(webhook.received) >= 3, "the first notifications")
    workers.kill(first)
    assert len(webhook.received) < len(texts) and pending(server, workers.group) > 0

    webhook.delay = 0
    workers.start("w1")
    wait(lambda: set(webhook.texts()) == set(texts), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    time.sleep(0.6)
    counts = Counter(webhook.texts())
    # At least once: only the POST in flight at the kill (answered after
    # the worker died, so never acknowledged) may have come twice.
    twice = [t for t, n in counts.items() if n > 1]
    assert len(twice) <= 1 and max(counts.values()) <= 2, counts
    assert len(webhook.received) == len(texts) + len(twice)


def test_nothing_is_sent_twice_after_a_restart(chat: Chat, server: Any, ids, webhook: Webhook,
                                               workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob = people(chat, ids, tag, 2)
    room = new_room(chat, ids, tag, alice, bob)
    for i in range(5):
        chat.send(room, alice, f"m{i}")
    first = workers.start("w1")
    wait(lambda: len(webhook.received) == 5 and pending(server, workers.group) == 0, "5 acknowledged")
    workers.kill(first)

    workers.start("w1")
    chat.send(room, alice, "m5")
    wait(lambda: len(webhook.received) >= 6, "the next notification")
    time.sleep(1.2)  # two passes over pending entries, and idle reads
    assert webhook.texts(bob) == [f"m{i}" for i in range(6)]  # once each, in order
    keys = [r["key"] for r in webhook.received]
    assert len(set(keys)) == 6


def test_another_consumer_takes_over_what_a_dead_one_left(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    texts = scatter(chat, server, ids, 2, 2)
    webhook.status = 500
    first = workers.start("w1")
    wait(lambda: pending(server, workers.group) == len(texts), "pending entries")
    workers.kill(first)

    webhook.status = 200
    workers.start("w2", "--claim-idle-ms", "300")  # another name: it claims w1's entries
    wait(lambda: len(webhook.received) >= len(texts), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    assert sorted(webhook.texts()) == sorted(texts)
    assert "claimed" in workers.log()


def test_a_refused_notification_stays_pending_and_blocks_no_other(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol = people(chat, ids, tag, 3)
    room = new_room(chat, ids, tag, alice, bob, carol)
    webhook.refuse[bob] = 400
    workers.start()
    for i in range(3):
        chat.send(room, alice, f"m{i}")
    wait(lambda: webhook.texts(carol) == ["m0", "m1", "m2"], "carol's notifications")
    wait(lambda: pending(server, workers.group) == 3, "bob's entries pending")
    assert webhook.texts(bob) == []
    assert "webhook refused" in workers.log()

    del webhook.refuse[bob]  # the next pass over pending entries delivers them
    wait(lambda: sorted(webhook.texts(bob)) == ["m0", "m1", "m2"], "bob's notifications")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
