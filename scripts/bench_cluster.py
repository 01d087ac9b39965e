"""The `cluster` section of scripts/bench: one app across a Redis Cluster.

What a send costs on the node of its room when the room's members live on
three nodes, against the same room on one server (instructions counted by
valgrind's callgrind, which repeats to the instruction where a timing does
not), and how many sends each of three primaries serves at once.

A room with a member in another slot is a broadcast room: the send touches
the room's key only, so its cost cannot depend on where the members are;
these numbers show it on real nodes.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time

import redis
from redis.cluster import RedisCluster, ClusterNode

import bench

MEMBERS = 10


def free_ports(n):
    """n consecutive loopback ports, each free along with its cluster bus
    port (+10000)."""
    import socket

    def free(port):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return True
            except OSError:
                return False

    base = 20000 + os.getpid() % 5000
    while not all(free(p) and free(p + 10000) for p in range(base, base + n)):
        base += n
    return base


class Node:
    """A redis-server in cluster mode with the module; under callgrind
    (counting nothing until told) when `counted`."""

    def __init__(self, port, counted=False, cluster=True, module_args=()):
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="redis-chat-bench-cluster-")
        argv = [bench.SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--logfile", os.path.join(self.dir, "log"),
                "--loadmodule", bench.MODULE, *module_args]
        if cluster:
            argv += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-node-timeout", "60000"]
        if counted:
            argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                    f"--callgrind-out-file={self.dir}/callgrind.%p", *argv]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = redis.Redis(port=port, retry=None)
        deadline = time.time() + 120
        while True:
            try:
                self.r.ping()
                break
            except redis.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server on {port} did not start; see {self.dir}/log")
                time.sleep(0.05)

    def instructions(self, run):
        """Instructions this server executes while `run()` runs."""
        subprocess.run(["callgrind_control", "-i", "on", str(self.proc.pid)], check=True,
                       capture_output=True)
        run()
        subprocess.run(["callgrind_control", "-i", "off", str(self.proc.pid)], check=True,
                       capture_output=True)
        subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], check=True, capture_output=True)
        dumps = [os.path.join(self.dir, f) for f in os.listdir(self.dir) if f.startswith("callgrind.")]
        biggest = max(dumps, key=os.path.getsize)
        out = subprocess.run(["callgrind_annotate", biggest], capture_output=True, text=True).stdout
        line = next(l for l in out.splitlines() if "PROGRAM TOTALS" in l)
        return int(line.split()[0].replace(",", ""))

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def make_cluster(ports):
    out = subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                          "--cluster-replicas", "0", "--cluster-yes"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout[-500:]}{out.stderr[-500:]}")
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
    deadline = time.time() + 120
    while time.time() < deadline:
        infos = [redis.Redis(port=p).execute_command("CLUSTER", "INFO") for p in ports]
        if all(b"cluster_state:ok" in i for i in infos):
            return rc
        time.sleep(0.1)
    raise RuntimeError("the cluster did not come up")


def owner(rc, key):
    return rc.get_node_from_key(key).port


def spread_room(r, owner_of, room_port, ports, name):
    """A room on `room_port` with MEMBERS members whose keys live on every
    node, joined in the documented steps. Returns (room, sender)."""
    room = next(f"{name}{n}" for n in range(100_000) if owner_of(f"{name}{n}") == room_port)
    members = []
    n = 0
    while len(members) < MEMBERS:
        user = f"{name}-member{n}"
        n += 1
        if owner_of(user) == ports[len(members) % len(ports)]:
            members.append(user)
    r.execute_command("CHAT.CREATE", room, "Bench")
    for user in members:
        r.execute_command("CHAT.REGISTER", user, "U")
        r.execute_command("CHAT.LIST-ROOM", user, room)
        r.execute_command("CHAT.SUBSCRIBE", room, user)
        r.execute_command("CHAT.LIST-ROOM", user, room)
    return room, members[0]


def local_room(r, name):
    """The same room on one server: MEMBERS members, all offline."""
    room = f"{name}0"
    r.execute_command("CHAT.CREATE", room, "Bench")
    members = [f"{name}-member{n}" for n in range(MEMBERS)]
    for user in members:
        r.execute_command("CHAT.REGISTER", user, "U")
        r.execute_command("CHAT.SUBSCRIBE", room, user)
    return room, members[0]


def send_load(port, room, sender, n):
    subprocess.run(["redis-benchmark", "-p", str(port), "-c", "10", "-P", "16", "-n", str(n), "-q",
                    "CHAT.SEND", room, sender, bench.TEXT], capture_output=True, check=True)


def info_mode(info):
    """The `mode` field of a CHAT.INFO reply: a flat list of names and
    values (other fields follow it), or a map."""
    if isinstance(info, list):
        info = dict(zip(*[iter(info)] * 2))
    mode = info.get(b"mode", info.get("mode"))
    return mode.decode() if isinstance(mode, bytes) else mode


def instructions_per_send(n):
    """Callgrind's count per CHAT.SEND: a room of MEMBERS on one server, and
    the same room in a 3-node cluster with its members on all three."""
    result = {}
    # The room as one server delivers it (fan-out: an inbox copy per
    # member), and made a broadcast room there too (the cluster's mode).
    for name, module_args in (("one_server", ()), ("one_server_broadcast", ("fanout-max-members", "5"))):
        one = Node(bench.free_port(), counted=True, cluster=False, module_args=module_args)
        try:
            room, sender = local_room(one.r, "solo")
            send_load(one.port, room, sender, 200)  # warm-up, not counted
            result[name] = one.instructions(lambda: send_load(one.port, room, sender, n)) / n
            result[name + "_mode"] = info_mode(one.r.execute_command("CHAT.INFO", room))
        finally:
            one.stop()
    base = free_ports(3)
    ports = [base, base + 1, base + 2]
    nodes = [Node(ports[0], counted=True)] + [Node(p) for p in ports[1:]]
    try:
        rc = make_cluster(ports)
        room, sender = spread_room(rc, lambda k: owner(rc, k), ports[0], ports, "spread")
        send_load(ports[0], room, sender, 200)
        result["cluster"] = nodes[0].instructions(lambda: send_load(ports[0], room, sender, n)) / n
        result["cluster_mode"] = info_mode(rc.execute_command("CHAT.INFO", room))
        rc.close()
    finally:
        for node in nodes:
            node.stop()
    return result


def throughput_per_node(n):
    """Sends/s of each of three primaries, all three loaded at once, each
    with a room whose members live on every node; and one server alone with
    the same room (fan-out, members offline)."""
    result = {}
    one = Node(bench.free_port(), cluster=False)
    try:
        room, sender = local_room(one.r, "solo")
        result["one_server"] = bench.benchmark(one.port, n, "CHAT.SEND", room, sender, bench.TEXT)
    finally:
        one.stop()
    base = free_ports(3)
    ports = [base, base + 1, base + 2]
    nodes = [Node(p) for p in ports]
    try:
        rc = make_cluster(ports)
        rooms = [spread_room(rc, lambda k: owner(rc, k), p, ports, f"node{i}-") for i, p in enumerate(ports)]
        rates = [0.0] * len(ports)

        def load(i):
            rates[i] = bench.benchmark(ports[i], n, "CHAT.SEND", rooms[i][0], rooms[i][1], bench.TEXT)

        threads = [threading.Thread(target=load, args=(i,)) for i in range(len(ports))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        result["per_node"] = rates
        rc.close()
    finally:
        for node in nodes:
            node.stop()
    return result


def cluster(scale, quick):
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        counted = instructions_per_send(1_000 if quick else 20_000)
    else:
        counted = None
    return {"instructions": counted, "throughput": throughput_per_node(max(2_000, int(200_000 * scale)))}


def cluster_lines(c):
    lines = [
        "## Redis Cluster: one app over three primaries",
        "",
        f"A room of {MEMBERS} members. On one server it is a fan-out room, every member offline (an inbox "
        f"copy for each); in a cluster of three primaries its members' keys live on all three nodes, which "
        "makes it a broadcast room: the send touches the room's key only, and every member reads from their "
        "cursor (docs/deployment.md).",
        "",
    ]
    i = c["instructions"]
    if i:
        def versus(name):
            return f"{(i['cluster'] - i[name]) / i[name] * 100:+.0f}%"

        lines += [
            "| where | mode | instructions per CHAT.SEND (callgrind, server side) |",
            "|---|---|---|",
            f"| one server | {i['one_server_mode']} | {i['one_server']:,.0f} |",
            f"| one server, `fanout-max-members 5` | {i['one_server_broadcast_mode']} "
            f"| {i['one_server_broadcast']:,.0f} |",
            f"| the room's node in a 3-node cluster | {i['cluster_mode']} | {i['cluster']:,.0f} "
            f"({versus('one_server')} against the first, {versus('one_server_broadcast')} against the "
            "second) |",
            "",
        ]
    else:
        lines += ["(valgrind not installed: no instruction counts)", ""]
    t = c["throughput"]
    rates = t["per_node"]
    lines += [
        "| redis-benchmark, 50 clients, pipeline 16 | sends/s |",
        "|---|---|",
        f"| one server alone, the fan-out room | {t['one_server']:,.0f} |",
        *[f"| primary {n + 1} of 3, all three loaded at once | {r:,.0f} |" for n, r in enumerate(rates)],
        f"| the three primaries together | {sum(rates):,.0f} |",
        "",
        "The three primaries and their three benchmark clients share this machine's cores, so their sum "
        "shows what one machine gives, not what three would.",
    ]
    return lines
