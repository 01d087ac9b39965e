"""A client that dies between the steps of join, leave, dm, unregister and drop.

Each test issues only the first step(s) of an operation by hand, as the
library would in a cluster, then checks that readers see a consistent state
(no dangling room in rooms/missed/unread) and that running the operation
again, or reconcile, finishes it.
"""

from __future__ import annotations

from test_methods import new_room, people

from redis_chat import Chat


def raw(chat: Chat, *args):
    return chat.client.execute_command(*args)


def healer(chat: Chat) -> Chat:
    """A Chat whose reconcile removes listings of any age (the tests cannot wait 60 s)."""
    return Chat(chat.client, reconcile_age=0)


def test_join_interrupted_after_listing(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    chat.send(room, alice, "before")
    raw(chat, "CHAT.LIST-ROOM", bob, room)  # step 1 of 3, then the client died
    chat.send(room, alice, "while half joined")
    assert chat.rooms(bob) == []
    assert chat.missed(bob) == [] and chat.unread(bob) == {}
    # The retried join completes it; the member starts at the end.
    chat.join(room, bob)
    assert chat.rooms(bob) == [room]
    chat.send(room, alice, "after")
    assert [m["text"] for m in chat.missed(bob)] == ["after"]
    assert healer(chat).reconcile(bob) == []  # a member's listing stays


def test_join_interrupted_then_reconciled(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    assert chat.reconcile(bob) == []  # young: left alone
    assert healer(chat).reconcile(bob) == [room]
    assert raw(chat, "CHAT.ROOMS", bob) == []
    chat.join(room, bob)
    assert chat.rooms(bob) == [room]


def test_join_interrupted_after_subscribe(chat: Chat, ids) -> None:
    """Member and listed: the last LIST-ROOM only repairs a race; nothing is missing."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    raw(chat, "CHAT.SUBSCRIBE", room, bob)
    chat.send(room, alice, "hello")
    assert chat.rooms(bob) == [room]
    assert [m["text"] for m in chat.missed(bob)] == ["hello"]


def test_reconcile_racing_a_join(chat: Chat, ids) -> None:
    """reconcile removes the listing between a join's first two steps; the
    join's last step puts it back."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    healer(chat).reconcile(bob)
    raw(chat, "CHAT.SUBSCRIBE", room, bob)
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    assert chat.rooms(bob) == [room]
    assert raw(chat, "CHAT.ROOMS", bob) == [room]


def test_leave_interrupted_after_unsubscribe(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    raw(chat, "CHAT.UNSUBSCRIBE", room, bob)  # step 1 of 2
    chat.send(room, alice, "gone")
    assert chat.rooms(bob) == []
    assert chat.missed(bob) == [] and chat.unread(bob) == {}
    assert chat.leave(room, bob) is False  # again: finishes quietly
    assert raw(chat, "CHAT.ROOMS", bob) == []


def test_dm_interrupted(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = chat.dm_id(alice, bob)
    raw(chat, "CHAT.LIST-ROOM", alice, room)  # steps 1-2 of 6
    assert chat.rooms(alice) == [] and chat.missed(alice) == []
    assert chat.dm(alice, bob) == room
    assert chat.rooms(alice) == [room] and chat.rooms(bob) == [room]
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    raw(chat, "CHAT.DM-ROOM", room, alice, bob)  # the rest, by hand, again
    assert chat.send(room, alice, "hi") == 1
    assert [m["text"] for m in chat.missed(bob)] == ["hi"]


def test_dm_interrupted_after_room(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = chat.dm_id(alice, bob)
    raw(chat, "CHAT.LIST-ROOM", alice, room)
    raw(chat, "CHAT.LIST-ROOM", bob, room)
    raw(chat, "CHAT.DM-ROOM", room, alice, bob)  # died before the last listings
    assert chat.rooms(alice) == [room] and chat.rooms(bob) == [room]
    assert chat.dm(bob, alice) == room
    assert sorted(raw(chat, "CHAT.MEMBERS", room)) == sorted([alice, bob])


def test_unregister_interrupted(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    rooms = [new_room(chat, ids, alice, bob) for _ in range(3)]
    raw(chat, "CHAT.UNSUBSCRIBE", rooms[0], bob)  # the first room only, then died
    assert chat.rooms(bob) == sorted(rooms[1:])
    assert chat.unregister(bob) is True
    for room in rooms:
        assert raw(chat, "CHAT.MEMBERS", room) == [alice]
    assert chat.unregister(bob) is False


def test_drop_interrupted_after_drop(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    other = new_room(chat, ids, bob)
    chat.send(room, alice, "soon gone")
    raw(chat, "CHAT.MEMBERS", room)
    raw(chat, "CHAT.DROP", room)  # died before unlisting the members
    assert chat.rooms(bob) == [other]
    assert chat.missed(bob) == [] and chat.unread(bob) == {}
    assert chat.drop(room) is False
    assert healer(chat).reconcile(bob) in ([], [room])  # [] where DROP unlisted it itself
    assert raw(chat, "CHAT.ROOMS", bob) == [other]
    # The id is free again; a new room with it starts empty.
    chat.create(room, "again")
    chat.join(room, bob)
    assert chat.rooms(bob) == sorted([room, other])
