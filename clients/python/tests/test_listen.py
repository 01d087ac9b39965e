"""listen(): every message once, in order per room, through reconnects and moves."""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from test_methods import new_room, people

from redis_chat import Chat, Listener


class Collector:
    """Runs a listener in a thread and keeps what it hands out."""

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.listener:
                self.events.append(event)
        except BaseException as error:  # surfaced by the test
            self.error = error

    def messages(self) -> list[tuple[str, int]]:
        return [(e["room"], e["id"]) for e in self.events if e.get("type") == "message"]

    def shown(self) -> list[tuple[str, int]]:
        """``messages`` as an app shows them: after a room's reset, the room's
        next message and those after it replace the ones it had from that
        id on (see ``Listener``: ids are reused after a reset)."""
        kept: list[tuple[str, int]] = []
        reset: set[str] = set()
        for e in self.events:
            if e.get("type") == "reset":
                reset.add(e["room"])
            elif e.get("type") == "message":
                room, msg_id = e["room"], e["id"]
                if room in reset:
                    reset.discard(room)
                    kept = [(r, i) for r, i in kept if r != room or i < msg_id]
                kept.append((room, msg_id))
        return kept

    def wait_for(self, check: Callable[[], bool], timeout: float = 15.0, what: str = "events") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.error:
                raise self.error
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; {self.describe()}")
            time.sleep(0.02)

    def describe(self) -> str:
        """The listener's state and where its thread is, for a failed wait."""
        frame = sys._current_frames().get(self.thread.ident or 0)
        stack = "".join(traceback.format_stack(frame)) if frame else "(thread ended)"
        listener = self.listener
        return (
            f"causes={dict(listener.causes)} synced={listener.synced} "
            f"channels={sorted(listener._channels)} got={self.messages()}\n{stack}"
        )

    def wait_count(self, n: int, timeout: float = 15.0) -> None:
        self.wait_for(lambda: len(self.messages()) >= n, timeout, f"{n} messages")

    def stop(self) -> None:
        self.listener.close()
        self.thread.join(5)
        assert not self.thread.is_alive(), "listener did not stop after close()"
        if self.error:
            raise self.error


def started(chat: Chat, user: str, **options: Any) -> Collector:
    """A collector whose listener is subscribed and caught up."""
    options.setdefault("refresh", 1.0)
    return Collector(chat.listen(user, **options))


def assert_exactly_once_in_order(messages: list[tuple[str, int]], expected: dict[str, list[int]]) -> None:
    assert len(messages) == len(set(messages)), f"repeats: {messages}"
    by_room: dict[str, list[int]] = {}
    for room, i in messages:
        by_room.setdefault(room, []).append(i)
    assert by_room == {r: ids for r, ids in expected.items() if ids}


def kill_pubsub_connections(server) -> None:
    nodes = server.nodes if hasattr(server, "nodes") else [server]
    for node in nodes:
        node.client().execute_command("CLIENT", "KILL", "TYPE", "pubsub")


def test_messages_from_several_rooms(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    rooms = [new_room(chat, ids, alice, bob) for _ in range(4)]
    chat.send(rooms[0], alice, "before listening")  # after bob's cursor: comes first
    collector = started(chat, bob)
    try:
        for n in range(5):
            for room in rooms:
                chat.send(room, alice, f"{n}")
        collector.wait_count(21)
        time.sleep(0.3)  # nothing more may come
        expected = {r: list(range(1, 6)) for r in rooms}
        expected[rooms[0]] = list(range(1, 7))
        assert_exactly_once_in_order(collector.messages(), expected)
        doc = next(e for e in collector.events if e.get("type") == "message")
        assert {"room", "id", "sender", "text", "ts"} <= doc.keys()
    finally:
        collector.stop()


def drain(listener: Listener, quiet: float = 0.3) -> list[tuple[str, int]]:
    """What the listener hands out until it has been quiet for ``quiet`` seconds."""
    got = []
    while (event := listener.get(quiet)) is not None:
        if event.get("type") == "message":
            got.append((event["room"], event["id"]))
    return got


def test_gap_after_connection_killed(chat: Chat, server, ids) -> None:
    """Driven from this thread, so that the sends surely fall in the gap: the
    listener reads nothing (and cannot reconnect) until get() is called."""
    alice, bob = people(chat, ids, 2)
    rooms = [new_room(chat, ids, alice, bob) for _ in range(3)]
    with chat.listen(bob, refresh=None) as listener:
        for room in rooms:
            chat.send(room, alice, "live")
        got = drain(listener)
        assert sorted(got) == sorted((r, 1) for r in rooms)
        assert listener.filled == 0
        for round in range(2):
            kill_pubsub_connections(server)
            for room in rooms:  # sent while nobody listens
                for n in range(3):
                    chat.send(room, alice, f"gap {round} {n}")
            got += drain(listener)
        for room in rooms:
            chat.send(room, alice, "after")
        got += drain(listener)
        assert_exactly_once_in_order(got, {r: list(range(1, 9)) for r in rooms})
        assert listener.filled == 2 * 3 * 3
        assert listener.causes["reconnect"] + listener.causes["failure"] >= 2


def test_server_side_sunsubscribe_when_a_slot_moves(cluster, ids) -> None:
    client = cluster.client()
    chat = Chat(client)
    try:
        alice, bob = people(chat, ids, 2)
        tag = ids("t")
        # One room in bob's slot (fan-out, his push channel) and one elsewhere
        # (a broadcast room, its own channel): both slots move.
        carol, dave = f"{{{tag}}}carol", f"{{{tag}}}dave"
        chat.register(carol, "C")
        chat.register(dave, "D")
        same_slot = new_room_named(chat, f"{{{tag}}}room", carol, dave)
        other = new_room(chat, ids, alice, dave)
        collector = started(chat, dave)
        counter = iter(range(10_000))

        def send_both() -> None:
            chat.send(same_slot, carol, f"s{next(counter)}")
            chat.send(other, alice, f"o{next(counter)}")

        def send_other() -> None:
            # Not to same_slot while its slot is half moved: its sender's key
            # may be on the other node then (see test_send.py).
            chat.send(other, alice, f"o{next(counter)}")

        send_both()
        collector.wait_count(2)
        for key in (same_slot, other):
            slot = client.keyslot(key)
            before = collector.listener.causes["unsubscribed"]
            cluster.move_slot(slot, between=send_other)
            send_both()
            collector.wait_for(
                lambda before=before: collector.listener.causes["unsubscribed"] > before,
                what="SUNSUBSCRIBE from the server",
            )
        send_both()
        total = len(chat.history(same_slot, count=1000)) + len(chat.history(other, count=1000))
        collector.wait_count(total)
        time.sleep(0.3)
        n_same = len(chat.history(same_slot, count=1000))
        n_other = len(chat.history(other, count=1000))
        assert_exactly_once_in_order(
            collector.messages(),
            {same_slot: list(range(1, n_same + 1)), other: list(range(1, n_other + 1))},
        )
        collector.stop()
    finally:
        client.close()


def new_room_named(chat: Chat, room: str, *members: str) -> str:
    chat.create(room, room)
    for m in members:
        chat.join(room, m)
    return room


def test_mode_event_moves_to_the_room_channel(standalone, ids) -> None:
    client = standalone.client()
    chat = Chat(client)
    client.config_set("chat.fanout-max-members", 2)
    try:
        alice, bob, carol = people(chat, ids, 3)
        room = new_room(chat, ids, alice, bob)
        collector = started(chat, bob, refresh=None)  # only the mode event may help
        chat.send(room, alice, "fan-out")
        collector.wait_count(1)
        chat.join(room, carol)  # now a broadcast room
        collector.wait_for(lambda: any(e.get("type") == "mode" for e in collector.events), what="mode")
        for n in range(5):
            chat.send(room, alice, f"broadcast {n}")
        collector.wait_count(6)
        time.sleep(0.2)
        assert_exactly_once_in_order(collector.messages(), {room: list(range(1, 7))})
        assert "chat:room:" in " ".join(collector.listener._channels)
        collector.stop()
    finally:
        client.config_set("chat.fanout-max-members", 500)
        client.close()


def test_rooms_joined_while_listening(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    first = new_room(chat, ids, alice, bob)
    collector = started(chat, bob, refresh=0.5)
    try:
        later = new_room(chat, ids, alice)
        chat.send(later, alice, "before bob joined")  # not for bob
        chat.join(later, bob)
        for n in range(3):
            chat.send(later, alice, f"later {n}")
            chat.send(first, alice, f"first {n}")
        collector.wait_count(6)
        time.sleep(0.3)
        assert_exactly_once_in_order(collector.messages(), {first: [1, 2, 3], later: [2, 3, 4]})
    finally:
        collector.stop()


def test_own_messages_and_start(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    chat.send(room, alice, "one")
    chat.send(room, bob, "two")  # bob's cursor moves to 2
    chat.send(room, alice, "three")
    # From the cursor, without his own: only 3.
    with chat.listen(bob, idle_timeout=0.5) as listener:
        assert [e["id"] for e in listener if e["type"] == "message"] == [3]
    # From the start given, with his own: all three.
    with chat.listen(bob, idle_timeout=0.5, own=True, start={room: 0}) as listener:
        assert [e["text"] for e in listener if e["type"] == "message"] == ["one", "two", "three"]
        assert listener.last_ids[room] == 3


def test_events_pass_through(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    collector = started(chat, bob)
    try:
        chat.send(room, alice, "hello")
        collector.wait_count(1)
        chat.client.execute_command("CHAT.EDIT", room, alice, 1, "hello!")
        collector.wait_for(lambda: any(e["type"] == "edit" for e in collector.events), what="edit")
        chat.drop(room)
        collector.wait_for(lambda: any(e["type"] == "dropped" for e in collector.events), what="dropped")
    finally:
        collector.stop()


def test_close_from_another_thread(chat: Chat, ids) -> None:
    (bob,) = people(chat, ids, 1)
    collector = started(chat, bob)
    start = time.monotonic()
    collector.stop()
    assert time.monotonic() - start < 2
    assert collector.listener.get(0.1) is None


def test_bytes_client(server, ids) -> None:
    client = server.client(decode_responses=False)
    chat = Chat(client)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        collector = started(chat, bob)
        chat.send(room, alice, "bytes")
        collector.wait_count(1)
        assert collector.events[-1]["text"] == "bytes"
        collector.stop()
    finally:
        client.close()


def test_room_made_again_under_the_same_id(chat: Chat, server, ids) -> None:
    """Dropped and created again while the listener was cut off: the new
    room's ids start from 1 again, and none of them is taken for a repeat."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    with chat.listen(bob, refresh=None) as listener:
        for n in range(3):
            chat.send(room, alice, f"old {n}")
        assert drain(listener) == [(room, 1), (room, 2), (room, 3)]
        kill_pubsub_connections(server)  # the "dropped" event goes unheard
        chat.drop(room)
        chat.create(room, "again")
        chat.join(room, alice)
        chat.join(room, bob)
        chat.send(room, alice, "new 1")
        chat.send(room, alice, "new 2")
        assert drain(listener) == [(room, 1), (room, 2)]
