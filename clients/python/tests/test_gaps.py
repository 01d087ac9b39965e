"""Gap documents and the new events, through the listener and the inbox.

Retention is made small with ``CONFIG SET`` (``chat.history-max``,
``chat.inbox-max``, minimum 1; whole chunks of up to 128 messages or 64
inbox copies go at a time), on every node of the cluster, and set back
after each test.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from test_conversations import tagged
from test_listen import kill_pubsub_connections, started
from test_methods import new_room, people

from redis_chat import Chat, Listener

DEFAULTS = {"chat.history-max": 10000, "chat.inbox-max": 1000, "chat.fanout-max-members": 500}


@contextmanager
def configured(server: Any, name: str, value: int) -> Iterator[None]:
    nodes = server.nodes if hasattr(server, "nodes") else [server]
    for node in nodes:
        node.client().config_set(name, value)
    try:
        yield
    finally:
        for node in nodes:
            node.client().config_set(name, DEFAULTS[name])


def send_many(chat: Chat, room: str, sender: str, n: int) -> None:
    pipe = chat.client.pipeline(transaction=False)
    for i in range(n):
        pipe.execute_command("CHAT.SEND", room, sender, f"bulk {i}")
    pipe.execute()


def documents(listener: Listener, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Gaps and messages the listener hands out until quiet for ``quiet`` s."""
    got = []
    while (doc := listener.get(quiet)) is not None:
        if doc.get("type") in ("gap", "message"):
            got.append(doc)
    return got


def assert_gap_then_kept(docs: list[dict[str, Any]], room: str, after: int, last: int) -> None:
    """A gap after ``after``, then every message kept, up to ``last``."""
    gap = docs[0]
    assert gap["type"] == "gap", docs[:3]
    before = gap["before"]
    assert gap == {"type": "gap", "room": room, "after": after, "before": before}
    assert after + 1 < before <= last
    assert [(d["type"], d["id"]) for d in docs[1:]] == [("message", i) for i in range(before, last + 1)]


def test_gap_while_catching_up(chat: Chat, server, ids) -> None:
    """300 messages after bob's cursor, history-max 1: the listener's first
    catch-up starts with a gap, then the messages kept."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    with configured(server, "chat.history-max", 1):
        send_many(chat, room, alice, 300)
        assert chat.history(room, after=0, count=1)[0]["type"] == "gap"
        with chat.listen(bob, refresh=None) as listener:
            docs = documents(listener)
    assert_gap_then_kept(docs, room, 0, 300)
    assert listener.gaps == 1
    # missed() and catch_up() show the same gap first.
    missed = chat.missed(bob)
    assert missed[0] == docs[0] and [d["id"] for d in missed[1:]] == [d["id"] for d in docs[1:]]


def test_gap_after_a_reconnect(chat: Chat, server, ids) -> None:
    """Driven from this thread: the listener is cut off while 300 messages
    are sent, and finds the oldest of them removed when it catches up."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    with configured(server, "chat.history-max", 1), chat.listen(bob, refresh=None) as listener:
        chat.send(room, alice, "live")
        assert [d["id"] for d in documents(listener)] == [1]
        kill_pubsub_connections(server)
        send_many(chat, room, alice, 300)
        docs = documents(listener)
        assert_gap_then_kept(docs, room, 1, 301)
        chat.send(room, alice, "live again")
        assert [d["id"] for d in documents(listener)] == [302]
        assert listener.gaps == 1 and listener.last_ids[room] == 302


def test_inbox_gap(chat: Chat, server, ids) -> None:
    """Bob offline in a fan-out room, inbox-max 1: FETCH starts with a gap
    that counts the dropped copies; acknowledging it clears it."""
    alice, bob, room = tagged(chat, ids)
    with configured(server, "chat.inbox-max", 1):
        send_many(chat, room, alice, 200)
        inbox = chat.fetch(bob, count=1000)
    gap, copies = inbox[0], inbox[1:]
    assert gap["type"] == "gap" and set(gap) == {"type", "dropped", "delivery"}, gap
    kept = [d["id"] for d in copies]
    assert kept == list(range(201 - len(kept), 201)) and len(kept) < 200
    assert gap["dropped"] == 200 - len(kept)
    chat.ack(bob, gap["delivery"])
    after = chat.fetch(bob, count=1000)
    assert [d.get("id") for d in after] == kept, after[:2]
    chat.ack(bob, after[-1]["delivery"])
    assert chat.fetch(bob) == []


def test_new_events_pass_through(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    collector = started(chat, bob)
    try:
        msg = chat.send(room, alice, "hello @bob", mentions=[bob])
        reply = chat.send(room, alice, "and again", reply_to=msg)
        collector.wait_count(2)
        first, second = (e for e in collector.events if e["type"] == "message")
        assert first["mentions"] == [bob] and second["reply_to"] == msg
        chat.react(room, bob, msg, "mine")  # bob's own: not sent to him
        chat.react(room, alice, msg, "👍")
        chat.unreact(room, alice, msg, "👍")
        chat.pin(room, alice, reply)
        chat.unpin(room, alice, reply)
        chat.send(room, alice, "the end")
        collector.wait_count(3)

        # In a broadcast room (the cluster's: the room is in another slot
        # than its members) events go out once on the room's channel, so bob
        # hears of his own reaction there too; in a fan-out room he does not.
        wanted = ["reaction", "reaction", "pin", "unpin"]

        def alices() -> list[dict[str, Any]]:
            return [e for e in collector.events if e["type"] in wanted and e.get("user") == alice]

        collector.wait_for(lambda: [e["type"] for e in alices()] == wanted, what=str(wanted))
        events = alices()
        assert events[0] == {
            "type": "reaction", "room": room, "id": msg, "user": alice,
            "reaction": "👍", "added": True,
        }
        assert events[1]["added"] is False
        assert events[2] == {"type": "pin", "room": room, "id": reply, "user": alice}
        assert events[3] == {"type": "unpin", "room": room, "id": reply, "user": alice}
        own = [e for e in collector.events if e.get("user") == bob]
        if not chat.cluster:
            assert own == []
    finally:
        collector.stop()


def test_mention_event_in_a_broadcast_room(chat: Chat, server, ids) -> None:
    """A broadcast room (3 members, fanout-max-members 2): bob gets the
    message on the room's channel and a mention event on his own. In the
    cluster all share a slot, as the event needs."""
    with configured(server, "chat.fanout-max-members", 2):
        alice, bob, _carol, room = tagged(chat, ids, "carol")
        collector = started(chat, bob)
        try:
            msg = chat.send(room, alice, "hi @bob", mentions=[bob])
            collector.wait_for(
                lambda: {"message", "mention"} <= {e["type"] for e in collector.events},
                what="the message and the mention",
            )
            mention = next(e for e in collector.events if e["type"] == "mention")
            assert mention == {"type": "mention", "room": room, "id": msg, "sender": alice, "text": "hi @bob"}
            assert collector.messages() == [(room, msg)]
            assert any(ch.startswith("chat:room:") for ch in collector.listener._channels)
        finally:
            collector.stop()
