"""A client process killed (SIGKILL) between the steps of an operation that
spans cluster slots, before each of its writes in turn.

After every kill, the rule the steps keep must hold: a user's list names
every room they are a member of. Then the operation, run again by another
client, completes it.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from redis import ResponseError
from test_methods import new_room, people

from redis_chat import Chat

# The child: runs one operation of the library, killing itself just before
# its N-th write command reaches the server.
CHILD = r"""
import os, signal, sys
from redis.cluster import RedisCluster
from redis_chat import Chat

port, op, n, *args = sys.argv[1:]
chat = Chat(RedisCluster(host="127.0.0.1", port=int(port), decode_responses=True))
WRITES = {"CHAT.LIST-ROOM", "CHAT.SUBSCRIBE", "CHAT.UNSUBSCRIBE", "CHAT.UNLIST-ROOM",
          "CHAT.DM-ROOM", "CHAT.UNREGISTER", "CHAT.DROP"}
real, writes = Chat._call, 0

def dying(self, *command):
    global writes
    if command[0] in WRITES:
        writes += 1
        if writes == int(n):
            os.kill(os.getpid(), signal.SIGKILL)
    return real(self, *command)

Chat._call = dying
getattr(chat, op)(*args)
"""

# Each operation with the number of writes it makes on the way.
OPERATIONS = {"join": 3, "leave": 2, "dm": 5, "unregister": 3, "drop": 2}


def killed_at(cluster, op: str, n: int, *args: str) -> None:
    port = cluster.alive()[0].port
    out = subprocess.run([sys.executable, "-c", CHILD, str(port), op, str(n), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL, f"{op} before write {n}: {out.returncode} {out.stderr}"


def listed_covers_memberships(chat: Chat, user: str, rooms: list[str]) -> None:
    """Every room of ``rooms`` the user is a member of is in their list."""
    listed = set(chat.client.execute_command("CHAT.ROOMS", user) or [])
    for room in rooms:
        try:
            chat.client.execute_command("CHAT.CURSOR", room, user)
        except ResponseError:
            continue  # not a member (or no such room): nothing to find
        assert room in listed, f"{user} is a member of {room} but does not list it"


@pytest.fixture
def chat(cluster) -> Chat:
    client = cluster.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    yield chat
    chat.close()
    client.close()


@pytest.mark.parametrize("n", range(1, OPERATIONS["join"] + 1))
def test_join_killed(chat: Chat, cluster, ids, n: int) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice)
    killed_at(cluster, "join", n, room, bob)
    listed_covers_memberships(chat, bob, [room])
    chat.send(room, alice, "after the kill")
    chat.join(room, bob)
    assert chat.rooms(bob) == [room]
    chat.send(room, alice, "after the join")
    assert [m["text"] for m in chat.missed(bob)][-1] == "after the join"


@pytest.mark.parametrize("n", range(1, OPERATIONS["leave"] + 1))
def test_leave_killed(chat: Chat, cluster, ids, n: int) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    killed_at(cluster, "leave", n, room, bob)
    listed_covers_memberships(chat, bob, [room])
    chat.leave(room, bob)
    assert chat.rooms(bob) == [] and chat.client.execute_command("CHAT.ROOMS", bob) == []


@pytest.mark.parametrize("n", range(1, OPERATIONS["dm"] + 1))
def test_dm_killed(chat: Chat, cluster, ids, n: int) -> None:
    alice, bob = people(chat, ids, 2)
    killed_at(cluster, "dm", n, alice, bob)
    room = chat.dm_id(alice, bob)
    for user in (alice, bob):
        listed_covers_memberships(chat, user, [room])
    assert chat.dm(alice, bob) == room
    chat.send(room, alice, "hi")
    assert [m["text"] for m in chat.missed(bob)] == ["hi"]
    assert chat.rooms(alice) == [room] and chat.rooms(bob) == [room]


@pytest.mark.parametrize("n", range(1, OPERATIONS["unregister"] + 1))
def test_unregister_killed(chat: Chat, cluster, ids, n: int) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    killed_at(cluster, "unregister", n, bob)
    listed_covers_memberships(chat, bob, [room])
    assert chat.unregister(bob) is (n <= OPERATIONS["unregister"])
    assert chat.client.execute_command("CHAT.MEMBERS", room) == [alice]


@pytest.mark.parametrize("n", range(1, OPERATIONS["drop"] + 1))
def test_drop_killed(chat: Chat, cluster, ids, n: int) -> None:
    alice, bob = people(chat, ids, 2)
    room = new_room(chat, ids, alice, bob)
    killed_at(cluster, "drop", n, room)
    dropped = n > 1  # killed after CHAT.DROP, before the listings went
    for user in (alice, bob):
        listed_covers_memberships(chat, user, [room])
        assert chat.rooms(user) == ([] if dropped else [room])
    # Run again: a room still there is dropped with its listings; listings
    # of a room already gone are a repair's to remove.
    assert chat.drop(room) is (not dropped)
    healer = Chat(chat.client, reconcile_age=0)
    for user in (alice, bob):
        assert healer.reconcile(user) == ([room] if dropped else [])
        assert chat.client.execute_command("CHAT.ROOMS", user) == []
