"""Replies, threads, reactions, pins, mentions and the inbox, on a single
server and on a cluster (untagged ids: rooms and users on other nodes)."""

from __future__ import annotations

import pytest
import redis
from test_methods import new_room, people

from redis_chat import Chat


def test_replies_and_threads(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    room = new_room(chat, ids, alice, bob, carol)
    root = chat.send(room, alice, "question")
    first = chat.send(room, bob, "answer", reply_to=root)
    second = chat.send(room, carol, "@alice another", reply_to=root, mentions=[alice])
    other = chat.send(room, alice, "unrelated")
    assert (root, first, second, other) == (1, 2, 3, 4)

    thread = chat.thread(room, root)
    assert [d["id"] for d in thread] == [root, first, second]
    assert thread[0]["replies"] == 2 and thread[0]["last_reply"] == second
    assert "reply_to" not in thread[0]
    assert [d.get("reply_to") for d in thread[1:]] == [root, root]
    assert thread[2]["mentions"] == [alice]
    assert [d["id"] for d in chat.thread(room, root, after=first)] == [second]
    assert [d["id"] for d in chat.thread(room, root, count=1)] == [root, first]
    assert chat.thread(room, root, after=second) == []
    # The history shows the same fields.
    by_id = {d["id"]: d for d in chat.history(room)}
    assert by_id[second]["reply_to"] == root and by_id[second]["mentions"] == [alice]
    assert "mentions" not in by_id[first] and "reply_to" not in by_id[other]

    # A reply retried with its DEDUP key is stored once.
    again = chat.send(room, bob, "retried", dedup="reply-key", reply_to=root, mentions=[carol])
    assert chat.send(room, bob, "retried", dedup="reply-key", reply_to=root, mentions=[carol]) == again
    assert [d["id"] for d in chat.thread(room, root)] == [root, first, second, again]
    # Mentions named twice are folded.
    twice = chat.send(room, alice, "hi twice", mentions=[bob, bob, carol])
    assert chat.history(room, after=twice - 1)[0]["mentions"] == [bob, carol]

    with pytest.raises(redis.ResponseError, match=r"no such message\W+99"):
        chat.send(room, alice, "to nothing", reply_to=99)
    outsider = people(chat, ids, 1)[0]
    with pytest.raises(redis.ResponseError, match="cannot mention"):
        chat.send(room, alice, "hi outsider", mentions=[outsider])
    chat.client.execute_command("CHAT.DELETE", room, alice, other)
    with pytest.raises(redis.ResponseError, match=f"message {other} is deleted"):
        chat.send(room, bob, "to a tombstone", reply_to=other)
    assert chat.history(room)[-1]["id"] == twice  # nothing stored by the refusals


def test_reactions(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    msg = chat.send(room, alice, "react to me")
    assert chat.reactions(room, msg) == {}
    assert chat.react(room, bob, msg, "👍") is True
    assert chat.react(room, bob, msg, "👍") is False
    assert chat.react(room, alice, msg, "👍") is True
    assert chat.react(room, alice, msg, "ok") is True
    assert chat.reactions(room, msg) == {"👍": sorted([alice, bob]), "ok": [alice]}
    doc = chat.history(room)[-1]
    assert list(doc["reactions"].items()) == [("👍", 2), ("ok", 1)]  # in the order first given

    assert chat.unreact(room, bob, msg, "👍") is True
    assert chat.unreact(room, bob, msg, "👍") is False
    assert chat.unreact(room, bob, msg, "never") is False
    assert chat.reactions(room, msg) == {"👍": [alice], "ok": [alice]}

    with pytest.raises(redis.ResponseError, match="invalid reaction"):
        chat.react(room, bob, msg, "two words")
    with pytest.raises(redis.ResponseError, match="no such message"):
        chat.react(room, bob, msg + 100, "ok")
    chat.client.execute_command("CHAT.DELETE", room, alice, msg)
    with pytest.raises(redis.ResponseError, match="is deleted"):
        chat.react(room, bob, msg, "ok")
    assert "reactions" not in chat.history(room)[-1]  # a tombstone loses them


def test_pins(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    ids_ = [chat.send(room, alice, f"m{i}") for i in range(3)]
    assert chat.pins(room) == []
    chat.pin(room, alice, ids_[0])
    chat.pin(room, bob, ids_[2])
    chat.pin(room, bob, ids_[2])  # again: still one pin
    assert [d["id"] for d in chat.pins(room)] == [ids_[2], ids_[0]]  # most recent first
    info = chat.client.execute_command("CHAT.INFO", room)
    info = dict(zip(info[::2], info[1::2], strict=True)) if isinstance(info, list) else info
    assert int(info["pins"]) == 2 and int(info["first_id"]) == 1
    chat.unpin(room, alice, ids_[2])
    assert [d["id"] for d in chat.pins(room)] == [ids_[0]]
    with pytest.raises(redis.ResponseError, match="no such message"):
        chat.pin(room, alice, 77)
    chat.client.execute_command("CHAT.DELETE", room, alice, ids_[1])
    with pytest.raises(redis.ResponseError, match="is deleted"):
        chat.pin(room, alice, ids_[1])


def test_mentions_across_slots(chat: Chat, ids) -> None:
    """Untagged ids: in a cluster the user's rooms are in other slots, so
    CHAT.MENTIONS refuses with CROSSSLOT and the counts come from the
    rooms' cursors."""
    alice, bob = people(chat, ids, 2)
    rooms = [new_room(chat, ids, alice, bob) for _ in range(2)]
    assert chat.mentions(bob) == {}
    chat.send(rooms[0], alice, "hi @bob", mentions=[bob])
    chat.send(rooms[1], alice, "@bob one", mentions=[bob])
    last = chat.send(rooms[1], alice, "@bob two", mentions=[bob, alice])
    chat.send(rooms[1], alice, "no mention")
    assert chat.mentions(bob) == {rooms[0]: 1, rooms[1]: 2}
    assert chat.mentions(alice) == {}  # her own message, read by sending
    assert chat.cursors(bob)[rooms[1]]["mentions"] == 2
    if chat.cluster:
        with pytest.raises(redis.ResponseError):
            chat.client.execute_command("CHAT.MENTIONS", bob)
    chat.read(rooms[1], bob, last - 1)
    assert chat.mentions(bob) == {rooms[0]: 1, rooms[1]: 1}
    chat.read(rooms[1], bob, last)
    assert chat.mentions(bob) == {rooms[0]: 1}
    assert chat.cursors(bob)[rooms[1]]["mentions"] == 0


def test_sending_clears_mentions(chat: Chat, ids) -> None:
    """Sending in a room moves the sender's read cursor past what is there,
    mentions included."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    chat.send(room, alice, "@bob", mentions=[bob])
    assert chat.mentions(bob) == {room: 1}
    chat.send(room, bob, "reading by sending")
    assert chat.cursors(bob)[room]["unread"] == 0
    assert chat.mentions(bob) == {}


def test_mentions_in_one_slot(chat: Chat, ids) -> None:
    """Rooms and users sharing a hash tag: CHAT.MENTIONS answers itself."""
    alice, bob, room = tagged(chat, ids)
    chat.send(room, alice, "@bob", mentions=[bob])
    raw = chat.client.execute_command("CHAT.MENTIONS", bob)
    assert raw in ({room: 1}, [room, 1])
    assert chat.mentions(bob) == {room: 1}


def test_inbox_fetch_and_ack(chat: Chat, ids) -> None:
    """Bob is not listening: a fan-out room leaves copies in his inbox, with
    reply_to and mentions as sent."""
    # In a cluster a room in another slot than its member's is a broadcast
    # room, which fills no inbox: one slot for all three.
    alice, bob, room = tagged(chat, ids)
    root = chat.send(room, alice, "root")
    reply = chat.send(room, alice, "@bob look", reply_to=root, mentions=[bob])
    inbox = chat.fetch(bob)
    assert [(d["room"], d["id"]) for d in inbox] == [(room, root), (room, reply)]
    assert inbox[1]["reply_to"] == root and inbox[1]["mentions"] == [bob]
    assert all(d["delivery"] for d in inbox)
    assert [d["id"] for d in chat.fetch(bob, count=1)] == [root]
    assert chat.ack(bob, inbox[0]["delivery"]) == 1
    assert [d["id"] for d in chat.fetch(bob)] == [reply]
    assert chat.ack(bob, inbox[1]["delivery"]) == 1
    assert chat.fetch(bob) == []


def tagged(chat: Chat, ids, *others: str) -> tuple[str, ...]:
    """alice, bob, (the ``others``) and a room of them all, in one slot."""
    tag = ids("t")
    users = [f"{{{tag}}}{name}" for name in ("alice", "bob", *others)]
    for user in users:
        chat.register(user, user)
    room = f"{{{tag}}}room"
    chat.create(room, "tagged")
    for user in users:
        chat.join(room, user)
    return (*users, room)
