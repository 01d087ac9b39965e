"""examples/notify/worker.py against real servers (one server, and a
3-primary cluster), a local webhook, and worker processes killed by PID.

Each test starts with no notification stream (the ``chat`` fixture deletes
them) and its own consumer group.
"""

from __future__ import annotations

import json
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


def recorded(server: Any) -> list[dict[str, Any]]:
    """The fields of every entry of the notification streams, ``to`` parsed
    (user -> reason, in the module's order)."""
    client = server.client()
    out = []
    for s in streams(server):
        for _, fields in client.xrange(s):
            out.append({**fields, "to": json.loads(fields["to"])})
    return out


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


def scatter(chat: Chat, server: Any, ids, n_tenants: int, per_room: int,
            away: int = 1) -> list[tuple[str, str]]:
    """Tenants each with a room of alice and ``away`` members notified of
    every message, alice sending ``per_room`` messages: one entry each,
    naming every member away. Returns the notifications due, (user, text).
    In a cluster, one stream per tenant, on every primary."""
    notes = []
    for tag in tenants(chat, server, ids, n_tenants):
        alice, *others = people(chat, ids, tag, 1 + away)
        room = new_room(chat, ids, tag, alice, *others)
        for i in range(per_room):
            text = f"{room} {i}"
            chat.send(room, alice, text)
            notes += [(user, text) for user in others]
    return notes


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
        assert r["key"] == f"{p['stream']}/{p['entry']}:{p['user']}"  # one per notification
        assert p["sender"] == alice
        assert isinstance(p["id"], int) and isinstance(p["ts"], int)
        assert list(p) == ["user", "reason", "room", "id", "sender", "ts", "text", "stream", "entry"]
        if isinstance(server, Server):
            assert p["stream"] == "chat:notify"
        else:  # one stream per slot, in the room's slot
            assert re.fullmatch(r"chat:notify:\{\d+\}", p["stream"])
            assert chat.client.keyslot(p["stream"]) == chat.client.keyslot(p["room"])
    assert [p["id"] for p in webhook.payloads() if p["room"] == room and p["user"] == bob] == [1, 2]
    # "hi carol" concerned both: one entry, one POST for each.
    assert entries(server) == 3
    assert len({p["entry"] for p in webhook.payloads() if p["text"] == "hi carol"}) == 1
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    assert "posted" in workers.log()


def test_one_send_notifies_two_away_members(chat: Chat, server: Any, ids, webhook: Webhook,
                                            workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol, dave = people(chat, ids, tag, 4)
    room = new_room(chat, ids, tag, alice, bob, carol, dave)
    chat.client.execute_command("CHAT.ONLINE", dave)
    sent = chat.send(room, alice, "to both")
    # One entry for the send, naming the two members away (dave is online),
    # in the room's member order.
    (entry,) = recorded(server)
    assert list(entry) == ["room", "id", "sender", "ts", "text", "to"]
    assert entry["to"] == {bob: "message", carol: "message"}
    assert (entry["room"], int(entry["id"]), entry["sender"], entry["text"]) == (room, sent, alice, "to both")

    workers.start()
    wait(lambda: len(webhook.received) >= 2, "2 notifications")
    wait(lambda: pending(server, workers.group) == 0, "the entry acknowledged")
    time.sleep(0.6)  # one more pass over pending entries: nothing more
    assert webhook.notes() == [(bob, "to both"), (carol, "to both")]
    first, second = webhook.payloads()
    assert first["entry"] == second["entry"]
    assert (first["reason"], second["reason"]) == ("message", "message")
    assert {**first, "user": None} == {**second, "user": None}  # the same message
    where = f"{first['stream']}/{first['entry']}"
    assert webhook.keys() == [f"{where}:{bob}", f"{where}:{carol}"]


def test_streams_on_every_primary(chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    workers.start()
    notes = scatter(chat, server, ids, 3, 2)
    wait(lambda: len(webhook.received) >= len(notes), "every notification")
    assert sorted(webhook.notes()) == sorted(notes)
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
    # The entry names carol only: the module does not notify bob.
    assert [e["to"] for e in recorded(server)] == [{carol: "message"}]
    workers.start()
    wait(lambda: webhook.texts(carol) == ["bob is here"], "carol's notification")
    wait(lambda: pending(server, workers.group) == 0, "the entry acknowledged")
    assert webhook.texts(bob) == []


def test_a_member_online_by_delivery_time_is_skipped(chat: Chat, server: Any, ids, webhook: Webhook,
                                                     workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol = people(chat, ids, tag, 3)
    room = new_room(chat, ids, tag, alice, bob, carol)
    chat.send(room, alice, "first")  # both away: one entry naming both
    assert [e["to"] for e in recorded(server)] == [{bob: "message", carol: "message"}]
    chat.client.execute_command("CHAT.ONLINE", bob)  # bob is back before the worker runs
    workers.start()
    wait(lambda: webhook.texts(carol) == ["first"], "carol's notification")
    wait(lambda: pending(server, workers.group) == 0, "the entry acknowledged")
    assert webhook.texts(bob) == []
    assert re.search(rf"skipped \S+ \({re.escape(bob)} message {re.escape(room)}#1\): "
                     rf"{re.escape(bob)} is online", workers.log())

    chat.client.execute_command("CHAT.OFFLINE", bob)  # away again: notified again
    chat.send(room, alice, "second")
    wait(lambda: webhook.texts(bob) == ["second"], "bob's notification")


def test_nothing_is_lost_when_the_worker_is_killed_while_the_webhook_fails(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    notes = scatter(chat, server, ids, 3, 3, away=2)
    webhook.status = 503
    first = workers.start("w1")
    # It read what there was, failed to post it, and left it all pending.
    wait(lambda: pending(server, workers.group) == entries(server) == 9 and webhook.attempts >= 3,
         "pending entries")
    workers.kill(first)
    assert webhook.received == []

    webhook.status = 204
    workers.start("w1")  # the same consumer: its own pending entries first
    wait(lambda: len(webhook.received) >= len(notes), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    time.sleep(0.6)  # one more pass over pending entries
    assert sorted(webhook.notes()) == sorted(notes)  # each exactly once
    assert "re-delivering" in workers.log()


def test_nothing_is_lost_when_the_worker_is_killed_mid_batch(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    notes = scatter(chat, server, ids, 3, 3, away=2)  # each entry names two members
    webhook.delay = 0.3  # slow: the worker is killed in the middle of its batch
    first = workers.start("w1")
    wait(lambda: len(webhook.received) >= 3, "the first notifications")
    workers.kill(first)
    assert len(webhook.received) < len(notes) and pending(server, workers.group) > 0

    webhook.delay = 0
    workers.start("w1")
    wait(lambda: set(webhook.notes()) == set(notes), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    time.sleep(0.6)
    counts = Counter(webhook.keys())
    # At least once: only the entry in flight at the kill (never
    # acknowledged) is posted again, whole: its member posted before the
    # kill, and the one whose POST was answered after the worker died.
    # Each under the same key as the first time.
    twice = [k for k, n in counts.items() if n > 1]
    assert max(counts.values()) <= 2, counts
    assert len({k.rsplit(":", 1)[0] for k in twice}) <= 1, twice
    assert len(webhook.received) == len(notes) + len(twice)


def test_nothing_is_sent_twice_after_a_restart(chat: Chat, server: Any, ids, webhook: Webhook,
                                               workers: Workers) -> None:
    tag, = tenants(chat, server, ids)
    alice, bob, carol = people(chat, ids, tag, 3)
    room = new_room(chat, ids, tag, alice, bob, carol)
    for i in range(5):
        chat.send(room, alice, f"m{i}")  # one entry naming bob and carol
    first = workers.start("w1")
    wait(lambda: len(webhook.received) == 10 and pending(server, workers.group) == 0, "5 acknowledged")
    workers.kill(first)

    workers.start("w1")
    chat.send(room, alice, "m5")
    wait(lambda: len(webhook.received) >= 12, "the next notifications")
    time.sleep(1.2)  # two passes over pending entries, and idle reads
    for user in (bob, carol):
        assert webhook.texts(user) == [f"m{i}" for i in range(6)]  # once each, in order
    assert len(set(webhook.keys())) == 12


def test_another_consumer_takes_over_what_a_dead_one_left(
        chat: Chat, server: Any, ids, webhook: Webhook, workers: Workers) -> None:
    notes = scatter(chat, server, ids, 2, 2)
    webhook.status = 500
    first = workers.start("w1")
    wait(lambda: pending(server, workers.group) == len(notes), "pending entries")
    workers.kill(first)

    webhook.status = 200
    workers.start("w2", "--claim-idle-ms", "300")  # another name: it claims w1's entries
    wait(lambda: len(webhook.received) >= len(notes), "every notification")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    assert sorted(webhook.notes()) == sorted(notes)
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
    # Each entry names bob, then carol: bob's refusal holds up neither
    # carol's notification nor the next entries, and keeps its entry pending.
    wait(lambda: webhook.texts(carol) == ["m0", "m1", "m2"], "carol's notifications")
    wait(lambda: pending(server, workers.group) == 3, "the entries pending")
    assert webhook.texts(bob) == []
    assert "webhook refused" in workers.log()

    del webhook.refuse[bob]  # the next pass over pending entries delivers them
    wait(lambda: sorted(webhook.texts(bob)) == ["m0", "m1", "m2"], "bob's notifications")
    wait(lambda: pending(server, workers.group) == 0, "no pending entry")
    time.sleep(0.6)  # one more pass
    # The passes that retried bob did not post carol's again: the worker
    # remembers who of an entry it holds is done with.
    assert webhook.texts(carol) == ["m0", "m1", "m2"]
