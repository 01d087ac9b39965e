"""A Sentinel failover under load: one primary, two replicas, three
Sentinels, all real processes on loopback.

Four clients send through redis-py's Sentinel support and the client
library, each into its own room, with ``replicas=1`` (a send counts only
once a replica has it) and DEDUP retries. The primary is killed with
SIGKILL; the Sentinels promote a replica; the clients carry on. Then, on
the new primary: no acknowledged send lost, none stored twice, each room's
ids gap-free, and the time without service is printed.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.sentinel import Sentinel
from redis_chat import Chat
from redis_chat.errors import SendFailed
from servers import SERVER, Server, free_port, wait_until

NAME = "chat"
CLIENTS = 4


class SentinelProcess:
    """One Sentinel (``redis-server <conf> --sentinel``) watching ``primary``."""

    def __init__(self, primary: Server) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"chat-sentinel-{self.port}-")
        conf = Path(self.dir) / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"logfile {self.dir}/sentinel.log\n"
            f"sentinel monitor {NAME} 127.0.0.1 {primary.port} 2\n"
            f"sentinel down-after-milliseconds {NAME} 1000\n"
            f"sentinel failover-timeout {NAME} 10000\n"
            f"sentinel parallel-syncs {NAME} 2\n"
        )
        self.process = subprocess.Popen([SERVER, str(conf), "--sentinel"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: redis.Redis(port=self.port).ping(), what=f"sentinel on {self.port}")

    def master_info(self) -> dict[str, str]:
        """``SENTINEL MASTER``, as a dict of strings."""
        reply = redis.Redis(port=self.port, decode_responses=True).execute_command(
            "SENTINEL", "MASTER", NAME)
        return dict(zip(reply[::2], reply[1::2], strict=True))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def watched() -> Iterator[tuple[Server, list[Server], list[SentinelProcess]]]:
    primary = Server()
    servers = [primary]
    sentinels: list[SentinelProcess] = []
    try:
        replicas = [Server("--replicaof", "127.0.0.1", str(primary.port)) for _ in range(2)]
        servers += replicas
        wait_until(lambda: primary.client().info("replication")["connected_slaves"] == 2,
                   what="two replicas")
        sentinels = [SentinelProcess(primary) for _ in range(3)]
        # Each Sentinel knows the replicas and the other Sentinels.
        wait_until(lambda: all(
            s.master_info()["num-other-sentinels"] == "2" and s.master_info()["num-slaves"] == "2"
            for s in sentinels), timeout=20, what="the Sentinels to know each other")
        yield primary, replicas, sentinels
    finally:
        for s in sentinels:
            s.stop()
        for server in servers:
            server.stop()


class Sender(threading.Thread):
    """Sends into its own room until told to stop; keeps what was acknowledged."""

    def __init__(self, sentinel: Sentinel, n: int, room: str, user: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        client = sentinel.master_for(NAME, decode_responses=True, socket_timeout=2)
        self.chat = Chat(client, attempts=80, backoff=0.05, max_backoff=0.5, wait_timeout=1.0)
        self.n, self.room, self.user, self.stop = n, room, user, stop
        self.acked: dict[int, str] = {}  # id -> text
        self.unconfirmed: list[str] = []  # stored, but no replica confirmed it
        self.times: list[float] = []  # when each acknowledgement came
        self.failures: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            text = f"c{self.n}-m{i}"
            i += 1
            try:
                id_ = self.chat.send(self.room, self.user, text, replicas=1)
            except SendFailed as error:
                # Stored on a primary that died before a replica confirmed
                # it (or never stored): not acknowledged.
                self.unconfirmed.append(text)
                self.failures.append(f"{text}: {error}")
                continue
            assert id_ not in self.acked, f"id {id_} acknowledged twice"
            self.acked[id_] = text
            self.times.append(time.monotonic())


def test_a_sentinel_failover_loses_no_acknowledged_send(watched) -> None:
    primary, _replicas, sentinels = watched
    sentinel = Sentinel([("127.0.0.1", s.port) for s in sentinels], socket_timeout=1)
    setup = Chat(sentinel.master_for(NAME, decode_responses=True, socket_timeout=2))
    rooms = [f"sroom{n}" for n in range(CLIENTS)]
    users = [f"suser{n}" for n in range(CLIENTS)]
    for room, user in zip(rooms, users, strict=True):
        setup.register(user, user)
        setup.create(room, room)
        setup.join(room, user)

    stop = threading.Event()
    senders = [Sender(sentinel, n, rooms[n], users[n], stop) for n in range(CLIENTS)]
    for s in senders:
        s.start()
    wait_until(lambda: all(len(s.acked) >= 50 for s in senders), what="sends before the kill")
    old_port = primary.port
    killed_at = time.monotonic()
    primary.process.kill()  # SIGKILL
    wait_until(lambda: sentinel.discover_master(NAME)[1] != old_port, timeout=30,
               what="a promotion")
    promoted_at = time.monotonic()
    # The clients carry on: each gets 50 more acknowledgements.
    counts = [len(s.acked) for s in senders]
    wait_until(lambda: all(len(s.acked) >= c + 50 for s, c in zip(senders, counts, strict=True)),
               timeout=30, what="sends after the failover")
    stop.set()
    for s in senders:
        s.join(timeout=30)
        assert not s.is_alive()

    host, port = sentinel.discover_master(NAME)
    new_primary = redis.Redis(host=host, port=port, decode_responses=True)
    reader = Chat(new_primary)
    outage = 0.0
    for s in senders:
        history = []
        after = 0
        while True:
            page = reader.history(s.room, after=after, count=1000)
            if not page:
                break
            history += page
            after = page[-1]["id"]
        ids = [m["id"] for m in history]
        assert ids == list(range(1, len(ids) + 1)), f"{s.room}: ids not gap-free"
        texts = [m["text"] for m in history]
        assert len(set(texts)) == len(texts), f"{s.room}: a text stored twice"
        stored = {m["id"]: m["text"] for m in history}
        for id_, text in s.acked.items():
            assert stored.get(id_) == text, f"{s.room}: acknowledged {id_}={text!r} lost or changed"
        # Whatever else is stored is a send whose confirmation was lost.
        extra = set(texts) - set(s.acked.values())
        assert extra <= set(s.unconfirmed), f"{s.room}: stored but never sent: {extra}"
        gaps = [b - a for a, b in zip(s.times, s.times[1:]) if a <= promoted_at and b >= killed_at]
        outage = max([outage, *gaps])
    print(f"\nSentinel failover: promotion {promoted_at - killed_at:.2f} s after the kill; "
          f"longest time without an acknowledged send: {outage:.2f} s; "
          f"{sum(len(s.acked) for s in senders)} sends acknowledged, "
          f"{sum(len(s.unconfirmed) for s in senders)} unconfirmed")
