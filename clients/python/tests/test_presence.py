"""Presence, devices, notification settings and the events that come with
them: presence changes through a listener that follows other users (going
online, offline, and a presence that runs out), devices, member events, a
read from the user's other device, and the notifications a send records
for members who are away; on a single server and on a cluster (untagged
ids: each user's presence channel on the node of their own slot)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis
from test_listen import Collector, started
from test_methods import new_room, people
from test_moderation import config

from redis_chat import Chat, presence_channel


def presence_events(collector: Collector, user: str | None = None) -> list[dict[str, Any]]:
    return [
        e for e in collector.events if e.get("type") == "presence" and (user is None or e.get("user") == user)
    ]


def wait_presence(collector: Collector, user: str, n: int, timeout: float = 10.0) -> dict[str, Any]:
    """The ``n``-th presence event of ``user`` (1-based), once it came."""
    collector.wait_for(lambda: len(presence_events(collector, user)) >= n, timeout, f"presence event {n} of {user}")
    return presence_events(collector, user)[n - 1]


def test_presence_channel_names() -> None:
    assert presence_channel("bob") == "chat:user:{bob}:presence"
    assert presence_channel("{acme}bob") == "chat:user:{acme}{bob}:presence"
    from redis_chat._presence import user_of_presence_channel

    for user in ("bob", "{acme}bob", "a:b", "{t}x:y"):
        assert user_of_presence_channel(presence_channel(user)) == user
    assert user_of_presence_channel("chat:user:{bob}:push") is None


def test_profile_channels_and_notify_setting(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    profile = chat.profile(bob)
    assert profile is not None
    assert profile["id"] == bob and profile["online"] is False
    assert profile["presence_channel"] == presence_channel(bob) == chat.presence_channel(bob)
    assert profile["notify"] == "mentions"
    assert chat.profile(ids("nobody")) is None
    for setting in ("all", "NONE", "mentions"):
        chat.notify(bob, setting)
        assert chat.profile(bob)["notify"] == setting.lower()
    with pytest.raises(ValueError):
        chat.notify(bob, "some")
    with pytest.raises(redis.ResponseError, match="notify must be"):
        chat.client.execute_command("CHAT.NOTIFY", bob, "some")
    with pytest.raises(redis.ResponseError, match="no such user"):
        chat.notify(ids("nobody"), "all")

    # CHANNELS ... PRESENCE: the other members of the user's fan-out rooms.
    # In a cluster, rooms whose members live in other slots broadcast, so
    # only members sharing a hash tag count.
    tag = ids("tag")
    a, b, c = (f"{{{tag}}}{name}" for name in ("a", "b", "c"))
    for user in (a, b, c):
        chat.register(user, user)
    room = f"{{{tag}}}room"
    chat.create(room, "Tagged")
    for user in (a, b, c):
        chat.join(room, user)
    verb, channels = chat.channels(a, presence=True)
    assert verb == ("SSUBSCRIBE" if chat.cluster else "SUBSCRIBE")
    assert channels[-2:] == [presence_channel(b), presence_channel(c)]
    assert presence_channel(a) not in channels
    assert chat.channels(a) == (verb, channels[:-2])
    other = new_room(chat, ids, alice, bob, carol)
    _, channels = chat.channels(alice, presence=True)
    if chat.cluster:
        assert not any(ch.endswith(":presence") for ch in channels)  # a broadcast room
    else:
        assert set(channels[-2:]) == {presence_channel(bob), presence_channel(carol)}
    chat.drop(other)


def test_online_offline_and_expiry_through_a_listener(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    collector = started(chat, alice, follow=[carol])
    try:
        assert collector.listener.follow_presence(bob) == {bob: False}
        assert collector.listener.followed == sorted([bob, carol])
        assert chat.is_online([bob, carol, alice]) == {bob: False, carol: False, alice: True}

        chat.online(bob, ttl=60)
        event = wait_presence(collector, bob, 1)
        assert event["online"] is True and isinstance(event["until"], int)
        assert event["until"] > time.time() * 1000 + 50_000
        chat.online(bob, ttl=60)  # a heartbeat: nothing published
        chat.offline(bob)
        event = wait_presence(collector, bob, 2)
        assert event == {"type": "presence", "user": bob, "online": False, "until": None}
        assert collector.listener.presence_state[bob] is False

        # A presence that runs out is announced by the server, within 2 s.
        chat.online(bob, ttl=1)
        wait_presence(collector, bob, 3)
        began = time.monotonic()
        event = wait_presence(collector, bob, 4, timeout=5)
        assert event["online"] is False and event["until"] is None
        assert time.monotonic() - began < 3
        assert chat.profile(bob)["online"] is False

        # carol, followed from the start.
        chat.online(carol, ttl=30)
        assert wait_presence(collector, carol, 1)["online"] is True
        assert collector.listener.presence_state == {bob: False, carol: True}

        # Unfollowed: no more of bob's events.
        collector.listener.unfollow_presence(bob)
        assert collector.listener.followed == [carol]
        chat.online(bob, ttl=30)
        chat.offline(carol)
        wait_presence(collector, carol, 2)
        time.sleep(0.3)
        assert len(presence_events(collector, bob)) == 4
    finally:
        collector.stop()
        chat.offline(bob)


def test_devices(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    collector = started(chat, alice, follow=[bob])
    try:
        chat.online(bob, ttl=60, device="phone")
        wait_presence(collector, bob, 1)
        chat.online(bob, ttl=60, device="laptop")  # online already: no event
        chat.offline(bob, device="phone")  # the laptop stays: no event
        assert chat.profile(bob)["online"] is True
        dump = chat.client.execute_command("CHAT.DUMP", bob)
        assert '"devices":{"laptop":' in (dump if isinstance(dump, str) else dump.decode())
        chat.offline(bob, device="laptop")  # the last one: offline
        assert wait_presence(collector, bob, 2)["online"] is False
        with pytest.raises(redis.ResponseError, match="invalid device id"):
            chat.online(bob, device="bad device")

        # A listener with a device keeps it online, and ends it when closed.
        bob_app = chat.listen(bob, device="tab", presence_ttl=30)
        try:
            assert wait_presence(collector, bob, 3)["online"] is True
            chat.online(bob, ttl=60, device="phone")
        finally:
            bob_app.close()
        time.sleep(0.3)
        assert len(presence_events(collector, bob)) == 3  # the phone is online
        assert chat.profile(bob)["online"] is True
        chat.offline(bob, device="phone")
        assert wait_presence(collector, bob, 4)["online"] is False
        with chat.listen(bob, device="tab"):
            assert wait_presence(collector, bob, 5)["online"] is True
        began = time.monotonic()
        assert wait_presence(collector, bob, 6)["online"] is False  # at once, not after the TTL
        assert time.monotonic() - began < 3
    finally:
        collector.stop()


def test_presence_after_a_break(chat: Chat, server, ids) -> None:
    """A change while the listener's connections are down is lost to pub/sub:
    once back, the listener reads the followed users' presence again and
    hands out the change (with ``until`` None: the profile does not say it)."""
    alice, bob = people(chat, ids, 2)
    with chat.listen(alice, follow=[bob]) as listener:
        assert listener.presence_state == {bob: False}
        for node in server.nodes if hasattr(server, "nodes") else [server]:
            node.client().execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        chat.online(bob, ttl=60)  # published to nobody
        event = listener.get(timeout=10)
        assert event == {"type": "presence", "user": bob, "online": True, "until": None}
        assert listener.presence_state == {bob: True}
        assert listener.causes["failure"] + listener.causes["reconnect"] >= 1
        chat.offline(bob)  # live again
        event = listener.get(timeout=10)
        assert event == {"type": "presence", "user": bob, "online": False, "until": None}


def test_following_the_members_of_rooms(chat: Chat, ids) -> None:
    # One hash tag: in a cluster the room fans out (all its members in its
    # slot), as on one server.
    tag = ids("tag")
    alice, bob, carol, dave = (f"{{{tag}}}{n}" for n in ("alice", "bob", "carol", "dave"))
    for user in (alice, bob, carol, dave):
        chat.register(user, user)
    room = f"{{{tag}}}room"
    chat.create(room, "Team")
    for user in (alice, bob, carol):
        chat.join(room, user)
    collector = started(chat, alice, follow_members=True)
    try:
        listener = collector.listener
        assert listener.followed == [bob, carol]
        assert listener.presence_state == {bob: False, carol: False}
        chat.join(room, dave)
        joined = {"type": "member", "room": room, "user": dave, "change": "join"}
        collector.wait_for(lambda: joined in collector.events, what="dave's member event")
        collector.wait_for(lambda: dave in listener.followed, what="dave followed")
        chat.online(dave, ttl=30)
        assert wait_presence(collector, dave, 1)["online"] is True
        chat.leave(room, carol)
        left = {"type": "member", "room": room, "user": carol, "change": "leave"}
        collector.wait_for(lambda: left in collector.events, what="carol's member event")
        collector.wait_for(lambda: carol not in listener.followed, what="carol unfollowed")
    finally:
        collector.stop()
        chat.offline(dave)


def test_member_events_and_a_read_on_another_device(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    room = new_room(chat, ids, alice, bob)
    collector = started(chat, alice)
    try:
        chat.join(room, carol)
        joined = {"type": "member", "room": room, "user": carol, "change": "join"}
        collector.wait_for(lambda: joined in collector.events, what="carol's join")
        chat.leave(room, bob)
        left = {"type": "member", "room": room, "user": bob, "change": "leave"}
        collector.wait_for(lambda: left in collector.events, what="bob's leave")
        msg = chat.send(room, carol, "hello")
        collector.wait_count(1)
        # Alice reads on another device: her listener hears it once.
        chat.read(room, alice, msg)
        read = {"type": "read", "room": room, "user": alice, "id": msg}
        collector.wait_for(lambda: read in collector.events, what="alice's own read")
        time.sleep(0.3)
        assert collector.events.count(read) == 1
    finally:
        collector.stop()


def test_a_read_on_another_device_in_a_broadcast_room(standalone, ids) -> None:
    """A broadcast room publishes a read on its channel, and on the reader's
    own channel for their other devices: the listener hands it out once."""
    client = standalone.client()
    chat = Chat(client)
    alice, bob, carol = people(chat, ids, 3)
    with config(standalone, "chat.fanout-max-members", 2):
        room = new_room(chat, ids, alice, bob, carol)
        collector = started(chat, alice)
        try:
            msg = chat.send(room, bob, "hello")
            collector.wait_count(1)
            chat.read(room, alice, msg)
            read = {"type": "read", "room": room, "user": alice, "id": msg}
            collector.wait_for(lambda: read in collector.events, what="alice's own read")
            time.sleep(0.3)
            assert collector.events.count(read) == 1
        finally:
            collector.stop()
    chat.close()
    client.close()


def notifications(chat: Chat, server, room: str) -> list[dict[str, Any]]:
    """The entries of the notification stream of ``room``'s slot
    (``chat:notify`` on one server; in a cluster, the ``chat:notify:{...}``
    stream in the room's slot, found with SCAN on its node): one per send,
    each entry's fields in order, its ``to`` parsed (user -> reason)."""
    if not chat.cluster:
        client, key = server.client(), "chat:notify"
    else:
        slot = chat.client.keyslot(room)
        client = server.node_of_slot(slot).client()
        keys = [
            k
            for k in client.scan_iter(match="chat:notify*", _type="stream", count=1000)
            if client.execute_command("CLUSTER", "KEYSLOT", k) == slot
        ]
        if not keys:
            return []
        (key,) = keys
    return [{**fields, "to": json.loads(fields["to"])} for _, fields in client.xrange(key)]


def test_notifications_of_members_away(chat: Chat, server, ids) -> None:
    # One hash tag: the room and its members in one slot, so that the send
    # sees who is away (in a cluster, members of other slots are not read).
    tag = ids("tag")
    alice, bob, carol, dave = (f"{{{tag}}}{n}" for n in ("alice", "bob", "carol", "dave"))
    for user in (alice, bob, carol, dave):
        chat.register(user, user)
    room = f"{{{tag}}}room"
    chat.create(room, "Team")
    for user in (alice, bob, carol, dave):
        chat.join(room, user)
    chat.notify(bob, "all")
    chat.notify(dave, "none")
    chat.online(carol, ttl=60)
    before = len(notifications(chat, server, room))

    first = chat.send(room, alice, "Lunch?")  # bob: all
    second = chat.send(room, alice, "Carol, Dave?", mentions=[carol, dave])  # carol online, dave none
    chat.offline(carol)
    third = chat.send(room, alice, "Carol?", mentions=[carol])  # carol: the mention; bob: all
    got = [n for n in notifications(chat, server, room)[before:] if n["room"] == room]
    # One entry per send, naming each member away it concerns, in member order.
    assert [(int(n["id"]), n["to"]) for n in got] == [
        (first, {bob: "message"}),
        (second, {bob: "message"}),
        (third, {bob: "message", carol: "mention"}),
    ]
    entry = got[0]
    assert entry["sender"] == alice and entry["text"] == "Lunch?" and int(entry["ts"]) > 0
    assert list(entry) == ["room", "id", "sender", "ts", "text", "to"]

    # A direct room notifies with the default setting.
    dm = chat.dm(carol, alice)
    sent = chat.send(dm, alice, "Psst")
    direct = [n for n in notifications(chat, server, dm) if n["room"] == dm]
    assert [(int(n["id"]), n["to"]) for n in direct] == [(sent, {carol: "direct"})]
