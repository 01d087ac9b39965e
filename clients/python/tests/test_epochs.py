"""Room epochs: a room whose ids were reused answers with a reset.

Two ways to change an epoch without debug commands: ``CHAT.DROP`` and
``CHAT.CREATE`` under the same id (no live event), and a promotion: a
primary told ``REPLICAOF`` a port nobody listens on and then ``REPLICAOF
NO ONE`` gives each room a new epoch at its next send, with a reset event
to its listeners. Promotions run on servers of their own (a standalone
server is refused ``REPLICAOF`` in a cluster, and the shared one stays a
plain primary for the other tests).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from servers import Server, free_port, wait_until
from test_conversations import tagged
from test_listen import kill_pubsub_connections
from test_methods import new_room, people

from redis_chat import Chat, Epochs, Listener

EPOCH = re.compile(r"[0-9a-f]{1,16}")
# Full syncs at once rather than after the default 5 s of waiting for more replicas.
NO_DELAY = ("--repl-diskless-sync-delay", "0")


@pytest.fixture(scope="module")
def primary() -> Iterator[Server]:
    server = Server(*NO_DELAY)
    yield server
    server.stop()


def promote(server: Server) -> None:
    """Makes ``server`` a replica of nobody, then a primary again: a promotion."""
    client = server.client()
    client.execute_command("REPLICAOF", "127.0.0.1", free_port())
    client.execute_command("REPLICAOF", "NO", "ONE")
    client.close()


def copy_of(replica: Server, source: Server, room: str, last_id: int) -> None:
    """Makes ``replica`` a replica of ``source`` until it holds ``room`` up to
    ``last_id``, then a primary of its own again (a promotion)."""
    client = replica.client()
    client.execute_command("REPLICAOF", "127.0.0.1", source.port)

    def synced() -> bool:
        if client.info("replication").get("master_link_status") != "up":
            return False
        info = client.execute_command("CHAT.INFO", room)
        return bool(info) and dict(zip(info[::2], info[1::2], strict=True))["last_id"] == last_id

    wait_until(synced, timeout=30, what=f"port {replica.port} in sync with {source.port}")
    client.execute_command("REPLICAOF", "NO", "ONE")
    client.close()


def epoch_of(chat: Chat, room: str) -> str:
    info = chat.info(room)
    assert info is not None, f"no room {room}"
    return str(info["epoch"])


def other_than(epoch: str) -> str:
    """A well-formed epoch (16 lowercase hex digits) that is not ``epoch``."""
    return "0" * 16 if epoch != "0" * 16 else "1" * 16


def reset(room: str, epoch: str, last_id: int) -> dict[str, Any]:
    return {"type": "reset", "room": room, "epoch": epoch, "last_id": last_id}


def kinds(docs: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(type, id) of messages, (type, last_id) of resets, (type, None) else."""
    return [(d["type"], d.get("id", d.get("last_id"))) for d in docs]


def by_room(docs: list[dict[str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    """``kinds`` per room, in the order given."""
    rooms: dict[str, list[tuple[str, Any]]] = {}
    for doc in docs:
        rooms.setdefault(doc["room"], []).append(kinds([doc])[0])
    return rooms


def drain(
    listener: Listener, quiet: float = 0.5, types: tuple[str, ...] = ("reset", "message")
) -> list[dict[str, Any]]:
    """Documents of ``types`` the listener hands out until quiet for ``quiet`` s."""
    got = []
    while (doc := listener.get(quiet)) is not None:
        if doc.get("type") in types:
            got.append(doc)
    return got


def recorded_reads(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The ``CHAT.HISTORY`` commands ``chat`` pipelines from now on (those of
    ``catch_up`` and ``missed``, and of a listener's catch-up)."""
    asked: list[tuple[Any, ...]] = []
    batch = chat._batch

    def recording(commands: Iterable[tuple[Any, ...]]) -> list[Any]:
        commands = list(commands)
        asked.extend(tuple(c) for c in commands if c[0] == "CHAT.HISTORY")
        return batch(commands)

    monkeypatch.setattr(chat, "_batch", recording)
    return asked


def test_epoch_in_info_join_and_channels(chat: Chat, ids) -> None:
    """INFO has ``epoch`` right after ``first_id``; a join and CHANNELS
    WITHEPOCHS say the same epoch and last id; the library learns it."""
    alice, bob, room = tagged(chat, ids)  # one slot: CHANNELS sees the room in a cluster too
    chat.send(room, alice, "one")
    raw = chat.client.execute_command("CHAT.INFO", room)
    names = list(raw[::2]) if isinstance(raw, list) else list(raw)
    assert names.index("epoch") == names.index("first_id") + 1, names
    info = chat.info(room)
    assert info is not None and EPOCH.fullmatch(info["epoch"]), info
    assert info["last_id"] == 1 and info["private"] is False and info["title"] == "tagged"
    assert chat.epochs.get(room) == {"epoch": info["epoch"], "last_id": 1}

    joined = chat.join(room, bob)  # a member already: nothing changes
    verb, channels = chat.channels(bob)
    # A fan-out room: the user's push channel, which CHANNELS names first.
    assert joined == {"listen": (verb, channels[:1]), "epoch": info["epoch"], "last_id": 1}
    assert chat.channels(bob, with_epochs=True) == (
        verb, channels, {room: {"epoch": info["epoch"], "last_id": 1}})
    assert chat.info(ids("room")) is None


def test_missed_after_a_promotion(primary: Server, ids, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a promotion the next send gives the room a new epoch: missed()
    names the old one, and gets the reset and the newest messages, not only
    those after the cursor; the next missed() is as usual again."""
    client = primary.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        quiet = new_room(chat, ids, alice, bob)  # no send after the promotion
        for n in range(3):
            chat.send(room, alice, f"before {n}")
        chat.send(quiet, alice, "quiet")
        chat.read(room, bob, 2)
        assert by_room(chat.missed(bob)) == {room: [("message", 3)], quiet: [("message", 1)]}
        old = chat.epochs.epoch(room)
        assert old == epoch_of(chat, room)

        promote(primary)
        assert chat.send(room, alice, "after") == 4
        new = epoch_of(chat, room)
        assert EPOCH.fullmatch(new) and new != old
        assert epoch_of(chat, quiet) == chat.epochs.epoch(quiet)  # not sent to: unchanged

        asked = recorded_reads(chat, monkeypatch)
        missed = chat.missed(bob)
        assert sorted(asked) == sorted([
            ("CHAT.HISTORY", room, "AFTER", 2, "COUNT", 1000, "EPOCH", old),
            ("CHAT.HISTORY", quiet, "AFTER", 0, "COUNT", 1000, "EPOCH", chat.epochs.epoch(quiet)),
        ])
        assert next(d for d in missed if d["room"] == room) == reset(room, new, 4)
        assert by_room(missed) == {
            room: [("reset", 4)] + [("message", i) for i in (1, 2, 3, 4)],
            quiet: [("message", 1)],
        }
        assert chat.epochs.get(room) == {"epoch": new, "last_id": 4}
        assert by_room(chat.missed(bob)) == {
            room: [("message", 3), ("message", 4)], quiet: [("message", 1)]}
    finally:
        chat.close()
        client.close()


def test_live_reset_after_a_promotion(primary: Server, ids) -> None:
    """A listener gets one reset event, with the last id before the send,
    then the message; its catch-up after a break names the new epoch."""
    client = primary.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        chat.send(room, alice, "one")
        with chat.listen(bob, refresh=None) as listener:
            old = listener.epochs[room]
            assert kinds(drain(listener)) == [("message", 1)]
            promote(primary)
            chat.send(room, alice, "two")
            chat.send(room, alice, "three")
            new = epoch_of(chat, room)
            assert new != old
            got = drain(listener)
            assert got[0] == reset(room, new, 1)
            assert kinds(got[1:]) == [("message", 2), ("message", 3)]
            assert listener.resets == 1 and listener.epochs[room] == new
            kill_pubsub_connections(primary)
            chat.send(room, alice, "four")
            assert kinds(drain(listener)) == [("message", 4)]  # no second reset
    finally:
        chat.close()
        client.close()


def test_catch_up_after_a_promotion_while_cut_off(
    primary: Server, ids, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listener is cut off while a promotion and a send change the epoch
    (the live reset goes to nobody): the catch-up after it reconnects asks
    AFTER <last id> EPOCH <old epoch>, and hands out the reset and the
    room's newest messages; the room goes on from there."""
    client = primary.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        chat.send(room, alice, "one")
        chat.send(room, alice, "two")
        asked = recorded_reads(chat, monkeypatch)
        with chat.listen(bob, refresh=None) as listener:
            old = listener.epochs[room]
            assert kinds(drain(listener)) == [("message", 1), ("message", 2)]
            assert asked == [("CHAT.HISTORY", room, "AFTER", 0, "COUNT", 1000, "EPOCH", old)]

            kill_pubsub_connections(primary)
            promote(primary)
            chat.send(room, alice, "three")  # bob is online still: published, to nobody
            new = epoch_of(chat, room)
            assert new != old
            got = drain(listener)
            assert listener.causes["reconnect"] + listener.causes["failure"] >= 1
            assert asked[1:] == [("CHAT.HISTORY", room, "AFTER", 2, "COUNT", 1000, "EPOCH", old)]
            assert got[0] == reset(room, new, 3)  # the room's last id now
            assert [(d["id"], d["text"]) for d in got[1:]] == [(1, "one"), (2, "two"), (3, "three")]
            assert listener.epochs[room] == new and listener.last_ids[room] == 3

            chat.send(room, alice, "four")
            assert kinds(drain(listener)) == [("message", 4)]
    finally:
        chat.close()
        client.close()


def test_listener_hands_out_a_reused_id(ids) -> None:
    """Server a lost messages 4 and 5 (it took a copy made before them) and
    was promoted: its next message is 4 again. The listener, which handed
    out the first 4, gets the reset event and then the new 4."""
    a, b = Server(*NO_DELAY), Server(*NO_DELAY)
    client = a.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    try:
        alice, bob = people(chat, ids, 2)
        room = new_room(chat, ids, alice, bob)
        for n in (1, 2, 3):
            chat.send(room, alice, f"old {n}")
        copy_of(b, a, room, 3)
        with chat.listen(bob, refresh=None) as listener:
            old = listener.epochs[room]
            for n in (4, 5):
                chat.send(room, alice, f"old {n}")
            assert [d["text"] for d in drain(listener)] == [f"old {n}" for n in range(1, 6)]
            assert listener.last_ids[room] == 5

            copy_of(a, b, room, 3)
            # The copy was taken before bob listened: online again, as his
            # next heartbeat would make him, or "new 4" goes to his inbox.
            chat.online(bob, ttl=30)
            assert chat.send(room, alice, "new 4") == 4
            new = epoch_of(chat, room)
            assert new != old
            got = drain(listener)
            assert got[0] == reset(room, new, 3), got
            assert [(d["id"], d["text"]) for d in got[1:]] == [(4, "new 4")]
            assert listener.last_ids[room] == 4 and listener.epochs[room] == new
            assert listener.resyncs == 1, dict(listener.causes)  # the live event, no catch-up
    finally:
        chat.close()
        client.close()
        a.stop()
        b.stop()


def test_drop_and_create_give_a_new_epoch(chat: Chat, ids) -> None:
    """A room made again under its id has a new epoch (INFO, the join):
    missed() names the old one and gets a reset, as does another Chat
    seeded with what the first one knew before."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    chat.send(room, alice, "old 1")
    chat.send(room, alice, "old 2")
    assert kinds(chat.missed(bob)) == [("message", 1), ("message", 2)]
    old = epoch_of(chat, room)
    saved = chat.epochs.snapshot()
    assert saved[room] == {"epoch": old, "last_id": 2}

    chat.drop(room)
    chat.create(room, "again")
    chat.join(room, alice)
    joined = chat.join(room, bob)
    new = epoch_of(chat, room)
    assert EPOCH.fullmatch(new) and new != old and joined["epoch"] == new
    assert chat.epochs.epoch(room) == old  # kept until a reset says otherwise
    chat.send(room, alice, "new 1")

    missed = chat.missed(bob)
    assert missed[0] == reset(room, new, 1)
    assert [(d["id"], d["text"]) for d in missed[1:]] == [(1, "new 1")]
    assert chat.epochs.get(room) == {"epoch": new, "last_id": 1}
    assert chat.missed(bob)[0]["type"] == "message"

    other, fresh = Chat(chat.client, epochs=Epochs(saved)), Chat(chat.client)
    try:
        assert kinds(other.missed(bob)) == [("reset", 1), ("message", 1)]
        assert kinds(fresh.missed(bob)) == [("message", 1)]  # knew nothing to reset
    finally:
        other.close()
        fresh.close()


def test_a_dropped_event_starts_the_room_afresh(chat: Chat, server, ids) -> None:
    """A listener that hears a room dropped forgets its epoch with its ids:
    the room made again under the id comes as a new one, with no reset (and
    nothing twice) at the next catch-up."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    chat.send(room, alice, "old 1")
    with chat.listen(bob, refresh=None) as listener:
        assert kinds(drain(listener)) == [("message", 1)]
        old = listener.epochs[room]
        chat.drop(room)
        assert [d["type"] for d in drain(listener, types=("dropped", "reset", "message"))] == ["dropped"]
        assert room not in listener.epochs

        chat.create(room, "again")
        chat.join(room, alice)
        chat.join(room, bob)
        chat.send(room, alice, "new 1")
        assert [(d["id"], d["text"]) for d in drain(listener)] == [(1, "new 1")]
        kill_pubsub_connections(server)
        chat.send(room, alice, "new 2")
        assert [(d["id"], d["text"]) for d in drain(listener)] == [(2, "new 2")]
        assert listener.epochs[room] == epoch_of(chat, room) != old
        assert listener.resets == 0


def test_after_beyond_the_last_id(chat: Chat, ids) -> None:
    """AFTER beyond the room's last id gives a reset and the newest messages,
    epoch given or not; so does a stale EPOCH with THREAD."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    root = chat.send(room, alice, "root")
    chat.send(room, bob, "reply", reply_to=root)
    chat.send(room, alice, "three")
    epoch = epoch_of(chat, room)

    stale = other_than(epoch)
    fresh = Chat(chat.client)  # knows no epoch
    try:
        assert kinds(fresh.history(room, after=10, count=2)) == [("reset", 3), ("message", 2), ("message", 3)]
        assert fresh.epochs.get(room) is None  # history leaves the store to catch_up and missed
        assert kinds(fresh.catch_up({room: 7})[room]) == [("reset", 3)] + [("message", i) for i in (1, 2, 3)]
        assert fresh.epochs.get(room) == {"epoch": epoch, "last_id": 3}
        assert kinds(fresh.catch_up({room: 1})[room]) == [("message", 2), ("message", 3)]
    finally:
        fresh.close()
    assert kinds(chat.history(room, after=1, epoch=epoch)) == [("message", 2), ("message", 3)]
    assert kinds(chat.history(room, before=3, epoch=stale)) == [("reset", 3)] + [
        ("message", i) for i in (1, 2, 3)]
    assert kinds(chat.thread(room, root, after=2, epoch=epoch)) == []
    root_and_reply = [("reset", 3), ("message", 1), ("message", 2)]
    assert kinds(chat.thread(room, root, after=2, epoch=stale)) == root_and_reply
    assert kinds(chat.thread(room, root, after=9)) == root_and_reply

    # A listener told to start beyond the last id starts with the reset.
    with chat.listen(bob, refresh=None, presence=False, start={room: 10}) as listener:
        assert kinds(drain(listener)) == [("reset", 3)] + [("message", i) for i in (1, 3)]
        assert listener.last_ids[room] == 3


def test_listener_catch_up_names_the_epoch(chat: Chat, server, ids) -> None:
    """Dropped and made again while the listener was cut off (the dropped
    event unheard): its catch-up names the old epoch and gets the reset and
    the new room's messages; a listener started with a stale epoch too."""
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    with chat.listen(bob, refresh=None) as listener:
        for n in range(3):
            chat.send(room, alice, f"old {n}")
        assert kinds(drain(listener)) == [("message", i) for i in (1, 2, 3)]
        old = listener.epochs[room]
        kill_pubsub_connections(server)
        chat.drop(room)
        chat.create(room, "again")
        chat.join(room, alice)
        chat.join(room, bob)
        chat.send(room, alice, "new 1")
        chat.send(room, alice, "new 2")
        new = epoch_of(chat, room)
        got = drain(listener)
        assert got[0]["type"] == "reset" and got[0]["epoch"] == new != old, got
        assert [(d["id"], d["text"]) for d in got[1:]] == [(1, "new 1"), (2, "new 2")]
        assert listener.epochs[room] == new and listener.resets == 1

    with chat.listen(bob, refresh=None, start={room: 1}, epochs={room: old}) as listener:
        assert kinds(drain(listener)) == [("reset", 2), ("message", 1), ("message", 2)]
    with chat.listen(bob, refresh=None, start={room: 1}, epochs={room: new}) as listener:
        assert kinds(drain(listener)) == [("message", 2)]
