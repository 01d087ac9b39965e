"""Failovers in a cluster with a replica per primary: sends and listeners go on.

A manual failover (the replica takes over, the old primary becomes its
replica), then the crash of a primary (SIGKILL; the replica is elected after
the node timeout). Sends retry with their DEDUP key through both; messages
confirmed with ``replicas=1`` survive the crash; a listener gets every
message once per epoch of the room. Each promotion gives the room a new
epoch at its first send: a listener that reads the room again only after
that send gets a reset and the room's messages anew, which replace those it
handed out.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from servers import Cluster, Server, wait_until
from test_listen import Collector, assert_exactly_once_in_order
from test_methods import people

from redis_chat import Chat


@pytest.fixture(scope="module")
def ha_cluster() -> Iterator[Cluster]:
    c = Cluster(replicas=1)
    try:
        wait_until(lambda: all(
            n.client().info("replication").get("master_link_status", "up") == "up" for n in c.nodes
        ), what="replicas in sync")
        yield c
    finally:
        c.stop()


def replica_of(cluster: Cluster, primary: Server) -> Server | None:
    for node in cluster.alive():
        info = node.client().info("replication")
        if info.get("role") == "slave" and int(info.get("master_port", 0)) == primary.port:
            return node
    return None


def test_sends_and_listening_through_failovers(ha_cluster: Cluster, ids) -> None:
    client = ha_cluster.client()
    chat = Chat(client, attempts=30, backoff=0.05, max_backoff=0.5)
    alice, bob = people(chat, ids, 2)
    room = ids("room")
    chat.create(room, "HA")
    chat.join(room, alice)
    chat.join(room, bob)
    collector = Collector(chat.listen(bob, refresh=1.0))
    sent: list[int] = []

    def send(n: int, replicas: int = 0) -> None:
        for _ in range(n):
            sent.append(chat.send(room, alice, f"m{len(sent)}", replicas=replicas))

    try:
        send(5, replicas=1)
        primary = ha_cluster.node_of_slot(client.keyslot(room))

        # 1. A manual failover: the old primary answers MOVED from now on.
        replica = replica_of(ha_cluster, primary)
        assert replica is not None
        replica.client().execute_command("CLUSTER", "FAILOVER")
        wait_until(lambda: replica.client().info("replication")["role"] == "master", what="manual failover")
        send(5, replicas=1)
        assert ha_cluster.node_of_slot(client.keyslot(room)).port == replica.port

        # 2. The new primary crashes: what it confirmed with replicas=1 is on
        # its replica, which takes over; sends in between retry until then.
        wait_until(lambda: replica_of(ha_cluster, replica), what="the old primary to follow")
        follower = replica_of(ha_cluster, replica)
        assert follower is not None
        wait_until(
            lambda: follower.client().info("replication")["master_link_status"] == "up", what="replica link"
        )
        send(2, replicas=1)
        replica.process.kill()
        start = time.monotonic()
        send(5)
        assert time.monotonic() - start > 1  # it did have to wait for the election
        ha_cluster.wait_agreed()

        assert sent == list(range(1, len(sent) + 1))
        assert [m["id"] for m in chat.history(room, count=1000)] == sent
        collector.wait_for(lambda: len(collector.shown()) >= len(sent), 30, f"{len(sent)} messages")
        time.sleep(0.5)
        assert_exactly_once_in_order(collector.shown(), {room: sent})
        assert collector.listener.causes["failure"] + collector.listener.causes["unsubscribed"] >= 1
        assert collector.listener.resets >= 1  # two promotions: one reset or two
    finally:
        collector.stop()
        client.close()
