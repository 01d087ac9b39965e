"""Real redis-server processes with the module loaded, for the tests.

Each server runs in a temporary directory on a free loopback port, as a
child process, and is stopped by its PID. Paths come from the environment:
``CHAT_MODULE`` (default ``target/release/libredis_chat.so`` under the
repository root), ``CHAT_REDIS_SERVER`` (default ``redis-server``) and
``CHAT_REDIS_CLI`` (default ``redis-cli``).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

REPO = Path(__file__).resolve().parents[3]
MODULE = os.environ.get("CHAT_MODULE") or str(REPO / "target/release/libredis_chat.so")
SERVER = os.environ.get("CHAT_REDIS_SERVER", "redis-server")
CLI = os.environ.get("CHAT_REDIS_CLI", "redis-cli")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(cluster_bus: bool = False) -> int:
    """A free loopback port (and port + 10000 too, for a cluster node's bus)."""
    for _ in range(1000):
        port = random.randint(20000, 30000)
        if _port_free(port) and (not cluster_bus or _port_free(port + 10000)):
            return port
    raise RuntimeError("no free port found")


def wait_until(check, timeout: float = 10.0, interval: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if result:
                return result
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(interval)


class Server:
    """One redis-server child process."""

    def __init__(self, *extra: str, cluster: bool = False) -> None:
        self.port = free_port(cluster_bus=cluster)
        self.dir = tempfile.mkdtemp(prefix=f"chat-client-{self.port}-")
        self.log = os.path.join(self.dir, "redis.log")
        args = [
            SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self.dir,
            "--save", "",
            "--appendonly", "no",
            "--logfile", self.log,
            "--enable-debug-command", "local",
        ]
        if cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", "3000",
            ]
        args += [*extra, "--loadmodule", MODULE]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: self.client().ping(), what=f"redis-server on {self.port}")
        except TimeoutError as error:
            log = self.read_log()
            self.stop()
            raise RuntimeError(f"redis-server did not start; log:\n{log}") from error

    def read_log(self) -> str:
        try:
            return Path(self.log).read_text()
        except OSError:
            return ""

    def client(self, **options: Any) -> redis.Redis:
        options.setdefault("decode_responses", True)
        options.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **options)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Cluster:
    """Three primaries (and ``replicas`` replicas of each), every slot
    assigned and agreed on."""

    def __init__(self, size: int = 3, replicas: int = 0) -> None:
        self.nodes: list[Server] = []
        try:
            for _ in range(size * (1 + replicas)):
                self.nodes.append(Server(cluster=True))
            out = subprocess.run(
                [CLI, "--cluster", "create", *[f"127.0.0.1:{n.port}" for n in self.nodes],
                 "--cluster-replicas", str(replicas), "--cluster-yes"],
                capture_output=True, text=True, timeout=60,
            )
            if out.returncode != 0:
                raise RuntimeError(f"cluster create failed:\n{out.stdout}\n{out.stderr}")
            self.wait_agreed()
        except BaseException:
            self.stop()
            raise

    def alive(self) -> list[Server]:
        return [n for n in self.nodes if n.process.poll() is None]

    def slot_maps(self) -> list[Any]:
        maps = []
        for n in self.alive():
            slots = n.client().execute_command("CLUSTER", "SLOTS")
            maps.append(sorted((s[0], s[1], s[2][1]) for s in slots))
        return maps

    def wait_agreed(self, timeout: float = 30.0) -> None:
        """Until every node says cluster_state:ok and all report the same slots."""

        def agreed() -> bool:
            for n in self.alive():
                info = n.client().execute_command("CLUSTER", "INFO")
                if "cluster_state:ok" not in info:
                    return False
            maps = self.slot_maps()
            covered = sum(end - start + 1 for start, end, _ in maps[0])
            return covered == 16384 and all(m == maps[0] for m in maps)

        wait_until(agreed, timeout=timeout, interval=0.1, what="cluster agreement")

    def client(self, **options: Any) -> RedisCluster:
        options.setdefault("decode_responses", True)
        options.setdefault("socket_timeout", 10)
        return RedisCluster(
            startup_nodes=[ClusterNode("127.0.0.1", n.port) for n in self.alive()], **options
        )

    def node_of_slot(self, slot: int) -> Server:
        for start, end, port in self.slot_maps()[0]:
            if start <= slot <= end:
                return next(n for n in self.nodes if n.port == port)
        raise KeyError(slot)

    def node_id(self, node: Server) -> str:
        return node.client().execute_command("CLUSTER", "MYID")

    def move_slot(self, slot: int, target: Server | None = None, between=None) -> Server:
        """Moves a slot to another node the way ``redis-cli --cluster reshard``
        does (IMPORTING/MIGRATING, MIGRATE key by key, SETSLOT NODE everywhere).

        ``between`` is called after each key, while the slot is half moved.
        """
        source = self.node_of_slot(slot)
        if target is None:
            target = next(n for n in self.nodes if n is not source)
        src, dst = source.client(), target.client()
        src_id, dst_id = self.node_id(source), self.node_id(target)
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        while True:
            keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10)
            if not keys:
                break
            for key in keys:
                src.execute_command("MIGRATE", "127.0.0.1", target.port, key, 0, 5000)
                if between:
                    between()
        for n in (target, source, *[n for n in self.nodes if n not in (source, target)]):
            n.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        self.wait_agreed()
        return target

    def stop(self) -> None:
        for n in self.nodes:
            n.stop()
