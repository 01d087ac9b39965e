"""Every method of Chat, on a single server and on a cluster."""

from __future__ import annotations

import pytest
import redis

from redis_chat import Chat


def people(chat: Chat, ids, n: int, prefix: str = "u") -> list[str]:
    users = [ids(prefix) for _ in range(n)]
    for u in users:
        chat.register(u, u.upper())
    return users


def new_room(chat: Chat, ids, *members: str) -> str:
    room = ids("room")
    chat.create(room, f"title of {room}")
    for m in members:
        chat.join(room, m)
    return room


def test_conversation(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    assert chat.rooms(alice) == [room] and chat.rooms(bob) == [room]

    first = chat.send(room, alice, "hello")
    second = chat.send(room, bob, "hi")
    third = chat.send(room, alice, "how are you?")
    assert (first, second, third) == (1, 2, 3)

    history = chat.history(room)
    assert [(m["id"], m["sender"], m["text"]) for m in history] == [
        (1, alice, "hello"), (2, bob, "hi"), (3, alice, "how are you?")]
    assert all(m["room"] == room and m["type"] == "message" and "ts" in m for m in history)

    # Bob's cursor moved to his own message: one unread, one missed.
    assert chat.unread(bob) == {room: 1}
    assert [(m["room"], m["id"]) for m in chat.missed(bob)] == [(room, 3)]
    assert chat.read(room, bob, 3) == 3
    assert chat.read(room, bob, 1) == 3  # never back
    assert chat.unread(bob) == {} and chat.missed(bob) == []
    assert chat.cursors(bob)[room] == {"cursor": 3, "last_id": 3, "unread": 0, "mentions": 0}

    assert chat.leave(room, bob) is True
    assert chat.leave(room, bob) is False
    assert chat.rooms(bob) == []
    assert chat.unread(bob) == {}

    assert chat.drop(room) is True
    assert chat.drop(room) is False
    assert chat.rooms(alice) == []
    assert chat.unregister(alice) is True
    assert chat.unregister(alice) is False


def test_history_paging(chat: Chat, ids) -> None:
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    for i in range(1, 11):
        assert chat.send(room, alice, f"m{i}") == i
    assert [m["id"] for m in chat.history(room, count=3)] == [8, 9, 10]
    assert [m["id"] for m in chat.history(room, after=4, count=3)] == [5, 6, 7]
    assert [m["id"] for m in chat.history(room, before=4)] == [1, 2, 3]
    assert chat.history(room, after=10) == []
    with pytest.raises(ValueError):
        chat.history(room, after=1, before=5)
    with pytest.raises(redis.ResponseError, match="no such room"):
        chat.history(ids("nowhere"))


def test_missed_pages_past_1000(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    pipe = chat.client.pipeline(transaction=False)
    for i in range(1205):
        pipe.execute_command("CHAT.SEND", room, alice, f"m{i}")
    pipe.execute()
    missed = chat.missed(bob)
    assert [m["id"] for m in missed] == list(range(1, 1206))
    assert chat.unread(bob) == {room: 1205}


def test_several_rooms(chat: Chat, ids) -> None:
    """Rooms in several slots (untagged ids), with users in others."""
    users = people(chat, ids, 4)
    rooms = [new_room(chat, ids, *users) for _ in range(5)]
    for u in users:
        assert chat.rooms(u) == sorted(rooms)
    for i, room in enumerate(rooms):
        for n in range(i + 1):
            chat.send(room, users[0], f"{room} {n}")
    expected = {room: i + 1 for i, room in enumerate(rooms)}
    for u in users[1:]:
        assert chat.unread(u) == expected
        missed = chat.missed(u)
        assert [(m["room"], m["id"]) for m in missed] == [
            (room, n) for room in sorted(rooms) for n in range(1, expected[room] + 1)]
    assert chat.unread(users[0]) == {}
    chat.leave(rooms[0], users[1])
    assert chat.rooms(users[1]) == sorted(rooms[1:])
    assert users[1] not in chat.client.execute_command("CHAT.MEMBERS", rooms[0])


def test_join_is_idempotent_and_new_members_start_at_the_end(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    chat.send(room, alice, "before bob")
    chat.join(room, bob)
    chat.join(room, bob)
    assert chat.unread(bob) == {} and chat.missed(bob) == []
    chat.send(room, alice, "after bob")
    assert [m["text"] for m in chat.missed(bob)] == ["after bob"]
    assert sorted(chat.client.execute_command("CHAT.MEMBERS", room)) == sorted([alice, bob])


def test_errors(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    with pytest.raises(redis.ResponseError, match="already exists"):
        chat.register(alice, "again")
    with pytest.raises(redis.ResponseError, match="already exists"):
        chat.create(room, "again")
    with pytest.raises(redis.ResponseError, match="not a member"):
        chat.send(room, bob, "not yet")
    with pytest.raises(redis.ResponseError, match="no such room"):
        chat.send(ids("nowhere"), alice, "hello")
    nowhere = ids("nowhere")
    with pytest.raises(redis.ResponseError, match="no such room"):
        chat.join(nowhere, bob)
    # The failed join leaves no listing behind.
    assert chat.client.execute_command("CHAT.ROOMS", bob) == []
    with pytest.raises(redis.ResponseError, match="no such user"):
        chat.join(room, ids("nobody"))
    assert chat.rooms(alice) == [room]


def test_dm(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = chat.dm(alice, bob)
    assert chat.dm(bob, alice) == room
    assert room in chat.rooms(alice) and room in chat.rooms(bob)
    assert chat.send(room, alice, "psst") == 1
    assert [m["text"] for m in chat.missed(bob)] == ["psst"]
    chat.leave(room, bob)
    assert chat.rooms(bob) == []
    assert chat.dm(alice, bob) == room  # back in
    assert chat.rooms(bob) == [room]
    with pytest.raises(redis.ResponseError):
        chat.dm(alice, alice)


def test_dm_in_one_slot(chat: Chat, ids) -> None:
    tag = ids("t")
    alice, bob = f"{{{tag}}}alice", f"{{{tag}}}bob"
    chat.register(alice, "A")
    chat.register(bob, "B")
    room = chat.dm(alice, bob)
    assert room.startswith(f"{{{tag}}}dm:")
    chat.send(room, bob, "same slot")
    assert chat.unread(alice) == {room: 1}


def test_send_dedup(chat: Chat, ids) -> None:
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    assert chat.send(room, alice, "once", dedup="k1") == 1
    assert chat.send(room, alice, "twice?", dedup="k1") == 1
    assert chat.send(room, alice, "other") == 2
    assert [m["text"] for m in chat.history(room)] == ["once", "other"]


def test_unregister_ends_memberships(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    rooms = [new_room(chat, ids, alice, bob) for _ in range(4)]
    chat.send(rooms[0], bob, "bye")
    assert chat.unregister(bob) is True
    for room in rooms:
        assert chat.client.execute_command("CHAT.MEMBERS", room) == [alice]
    assert chat.history(rooms[0])[0]["sender"] == bob
    chat.register(bob, "new bob")
    assert chat.rooms(bob) == []


def test_drop_removes_listings(chat: Chat, ids) -> None:
    users = people(chat, ids, 3)
    room = new_room(chat, ids, *users)
    chat.drop(room)
    for u in users:
        assert chat.client.execute_command("CHAT.ROOMS", u) == []
        assert chat.rooms(u) == [] and chat.unread(u) == {} and chat.missed(u) == []


def test_reconcile_only_old_listings(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    stray = ids("room")
    chat.create(stray, "stray")
    # A listing without a membership, as a join interrupted after its first step.
    chat.client.execute_command("CHAT.LIST-ROOM", bob, stray)
    chat.join(room, bob)
    assert chat.rooms(bob) == [room]
    assert chat.reconcile(bob) == []  # too young: may be a join in flight
    young = Chat(chat.client, reconcile_age=0)
    assert young.reconcile(bob) == [stray]
    assert chat.client.execute_command("CHAT.ROOMS", bob) == [room]
    assert young.reconcile(bob) == []


def test_bytes_replies(server, ids) -> None:
    """decode_responses=False: the same str/int/dict results."""
    client = server.client(decode_responses=False)
    chat = Chat(client)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        chat.send(room, alice, "bytes")
        assert chat.rooms(bob) == [room]
        assert chat.unread(bob) == {room: 1}
        assert chat.missed(bob)[0]["text"] == "bytes"
        assert isinstance(chat.dm(alice, bob), str)
        assert chat.history(room)[0]["sender"] == alice
    finally:
        client.close()
