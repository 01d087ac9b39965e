"""send(): one stored copy whatever goes wrong, and WAIT for replicas."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from servers import Server, wait_until
from test_methods import new_room, people

from redis_chat import Chat, NotReplicated, SendFailed


@pytest.fixture(scope="module")
def replicated() -> Iterator[tuple[Server, Server]]:
    """A primary with one replica."""
    primary = Server()
    replica = Server("--replicaof", "127.0.0.1", str(primary.port))
    try:
        wait_until(
            lambda: replica.client().info("replication").get("master_link_status") == "up",
            what="replica link",
        )
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def texts(chat: Chat, room: str) -> list[str]:
    return [m["text"] for m in chat.history(room, count=1000)]


def test_wait_for_a_replica(replicated, ids) -> None:
    primary, replica = replicated
    chat = Chat(primary.client())
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    assert chat.send(room, alice, "safe", replicas=1) == 1
    # Confirmed: the replica has it, with no waiting.
    on_replica = replica.client().execute_command("CHAT.HISTORY", room)
    assert len(on_replica) == 1 and '"safe"' in on_replica[0]


def test_too_few_replicas(replicated, ids) -> None:
    primary, _ = replicated
    chat = Chat(primary.client(), attempts=3, backoff=0.01, wait_timeout=0.1)
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    with pytest.raises(NotReplicated) as caught:
        chat.send(room, alice, "wanted two", replicas=2)
    assert caught.value.id == 1 and caught.value.acked == 1 and caught.value.key
    assert texts(chat, room) == ["wanted two"]  # the retries wrote nothing


def test_stalled_replica(replicated, ids) -> None:
    primary, replica = replicated
    chat = Chat(primary.client(), attempts=2, backoff=0.01, wait_timeout=0.2)
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    os.kill(replica.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(NotReplicated) as caught:
            chat.send(room, alice, "not yet", replicas=1)
        assert caught.value.acked == 0
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)
    # Sent again with its key once the replica is back: confirmed, one copy.
    assert chat.send(room, alice, "not yet", replicas=1, dedup=caught.value.key) == caught.value.id
    assert texts(chat, room) == ["not yet"]


def test_timeout_then_retry_confirms_replicas(replicated, ids) -> None:
    """The first attempt times out while writes are paused; the retry runs on a
    new connection, so WAIT alone would prove nothing: the replication offset
    is checked too. One copy in the end."""
    primary, replica = replicated
    admin = primary.client()
    chat = Chat(primary.client(socket_timeout=0.3), backoff=0.05, wait_timeout=2.0)
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    def role_calls() -> int:
        return admin.info("commandstats").get("cmdstat_role", {}).get("calls", 0)

    roles = role_calls()
    admin.execute_command("CLIENT", "PAUSE", 800, "WRITE")
    start = time.monotonic()
    msg_id = chat.send(room, alice, "through a pause", replicas=1)
    assert time.monotonic() - start > 0.5
    assert role_calls() > roles  # the offsets were checked
    assert msg_id == 1 and texts(chat, room) == ["through a pause"]
    wait_until(lambda: len(replica.client().execute_command("CHAT.HISTORY", room)) == 1)


def test_connections_killed_between_sends(chat: Chat, server, ids) -> None:
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    nodes = server.nodes if hasattr(server, "nodes") else [server]
    for n in range(5):
        assert chat.send(room, alice, f"m{n}") == n + 1
        for node in nodes:
            node.client().execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
    assert texts(chat, room) == [f"m{n}" for n in range(5)]


def test_server_gone(ids) -> None:
    server = Server()
    chat = Chat(server.client(socket_timeout=0.5), attempts=3, backoff=0.01)
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    server.stop()
    with pytest.raises(SendFailed) as caught:
        chat.send(room, alice, "into the void")
    assert caught.value.attempts == 3 and len(caught.value.key) == 32


def test_cluster_wait_without_replicas(cluster, ids) -> None:
    chat = Chat(cluster.client(), attempts=2, backoff=0.01, wait_timeout=0.05)
    (alice,) = people(chat, ids, 1)
    room = new_room(chat, ids, alice)
    with pytest.raises(NotReplicated) as caught:
        chat.send(room, alice, "no replicas here", replicas=1)
    assert caught.value.id == 1 and caught.value.acked == 0


def asking_calls(cluster) -> int:
    total = 0
    for node in cluster.nodes:
        stats = node.client().info("commandstats")
        total += stats.get("cmdstat_asking", {}).get("calls", 0)
    return total


def test_cluster_send_while_the_room_moves(cluster, ids) -> None:
    """Sends between each key of a slot migration (ASK), then with a stale
    slot map (MOVED): each stored once, ids without gaps."""
    client = cluster.client()
    chat = Chat(client)
    users = people(chat, ids, 3)
    room = new_room(chat, ids, *users)
    # More keys in the room's slot, so that the migration takes several steps.
    slot = client.keyslot(room)
    sent: list[int] = []

    def send() -> None:
        sent.append(chat.send(room, users[len(sent) % 3], f"m{len(sent)}"))

    send()
    asks = asking_calls(cluster)
    # Move only the room first (its members live in other slots), then
    # finish: the room is on the target while the slot is still the source's.
    source = cluster.node_of_slot(slot)
    target = next(n for n in cluster.nodes if n is not source)
    moved = threading.Event()

    def between() -> None:
        send()
        moved.set()

    cluster.move_slot(slot, target, between=between)
    assert moved.is_set()
    send()  # the library's slot map is stale now: MOVED, then the new owner
    cluster.move_slot(slot, source)
    send()
    assert sent == list(range(1, len(sent) + 1))
    assert texts(chat, room) == [f"m{n}" for n in range(len(sent))]
    assert asking_calls(cluster) > asks
    client.close()


def test_cluster_send_while_room_and_sender_move(cluster, ids) -> None:
    """Room and senders share a slot, which moves key by key while sends go
    on from another thread: between two MIGRATEs the room and a sender can
    be on different nodes, and the module answers ``no such user`` then;
    the send tries again and gets through. Each stored once, no gaps."""
    client = cluster.client()
    chat = Chat(client)
    tag = ids("t")
    senders = [f"{{{tag}}}u{i}" for i in range(4)]
    for u in senders:
        chat.register(u, u)
    room = f"{{{tag}}}room"
    chat.create(room, "R")
    for u in senders:
        chat.join(room, u)
    mover = threading.Thread(
        target=cluster.move_slot, args=(client.keyslot(room),), kwargs={"between": lambda: time.sleep(0.03)}
    )
    sent: list[int] = []
    mover.start()
    while mover.is_alive() or len(sent) < 5:
        sent.append(chat.send(room, senders[len(sent) % 4], f"m{len(sent)}"))
    mover.join()
    assert sent == list(range(1, len(sent) + 1))
    assert len(chat.history(room, count=1000)) == len(sent)
    client.close()
