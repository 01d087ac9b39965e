"""Benchmarks CHAT.SEND against the same work done by a Lua script and
against a bare XADD, on one redis-server with the release module, plus reads
(HISTORY, FETCH + ACK), memory per stored message, and (bench_capacity.py)
memory per user of a realistic dataset against the Lua-script design, memory
per thing, and RDB save and load.

Run through scripts/bench, which builds the module and prepares Python.
Writes a Markdown table and a PNG plot to docs/benchmarks/ (with --quick, a
few-seconds smoke run, or --only, some of the sections, to target/bench/
instead). Every section talks to the module through the documented CHAT.*
commands only, never its key names, so that it measures any storage layout.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.environ.get("CHAT_MODULE", os.path.join(ROOT, "target/release/libredis_chat.so"))
# The server to measure (CHAT_REDIS_SERVER, as for the tests), else Debian's.
SERVER = os.environ.get("CHAT_REDIS_SERVER", "redis-server")
TEXT = "hello from the benchmark, a message of a typical chat length"

# The Lua script a Redis user would write for the same semantics: member
# check, next id, history append, per-sender counter, the sender's read
# cursor, then for each other
# member a presence check and either a publish that reached someone or an
# inbox append (kept to the newest inbox-max). It keeps all its data in keys
# of its own (lua:...), never the module's, whose layout is the module's
# business: members and their read cursors, presence, push channels.
LUA_SEND = """
local members, log, counts, meta = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local room, sender, text = ARGV[1], ARGV[2], ARGV[3]
local history_max, inbox_max = ARGV[4], tonumber(ARGV[5])
if redis.call('HEXISTS', members, sender) == 0 then
  return redis.error_reply('ERR user is not a member of the room')
end
local id = redis.call('HINCRBY', meta, 'last_id', 1)
local ts = redis.call('TIME')
ts = tonumber(ts[1]) * 1000 + math.floor(tonumber(ts[2]) / 1000)
redis.call('XADD', log, 'MAXLEN', '~', history_max, id .. '-0', 'sender', sender, 'text', text, 'ts', ts)
redis.call('HINCRBY', counts, sender, 1)
redis.call('HSET', members, sender, id)
local doc = cjson.encode({type = 'message', room = room, id = id, sender = sender, text = text, ts = ts})
for _, member in ipairs(redis.call('HKEYS', members)) do
  if member ~= sender then
    local live = 0
    if redis.call('EXISTS', 'lua:user:{' .. member .. '}:online') == 1 then
      live = redis.call('PUBLISH', 'lua:user:{' .. member .. '}:push', doc)
    end
    if live == 0 then
      local inbox = 'lua:user:{' .. member .. '}:inbox'
      redis.call('RPUSH', inbox, doc)
      redis.call('LTRIM', inbox, -inbox_max, -1)
    end
  end
end
return id
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A redis-server on a free loopback port, with the module unless
    `module` is false (the plain designs it is compared with)."""

    def __init__(self, module_args=(), server_args=("--appendonly", "no"), module=True):
        self.dir = tempfile.mkdtemp(prefix="redis-chat-bench-")
        self.port = free_port()
        self.argv = [
            SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            *server_args, "--dir", self.dir, "--logfile", os.path.join(self.dir, "log"),
            # Readers of 500 push channels fall behind at full speed; let
            # them catch up instead of being disconnected.
            "--client-output-buffer-limit", "pubsub 0 0 0",
            *(("--loadmodule", MODULE, *module_args) if module else ())]
        self.readers = []
        self.start()

    def start(self):
        """Starts the process and waits until it answers PING (not LOADING);
        returns the seconds that took."""
        started = time.perf_counter()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # No retries: redis-py 6 retries a failed command after sleeps of up
        # to seconds, which would add to the time a start or a load takes.
        self.r = redis.Redis(port=self.port, retry=None)
        # Loading a big RDB takes a while; PING answers LOADING (an error
        # redis-py raises as a ConnectionError) until it is done.
        while time.perf_counter() - started < 600:
            try:
                self.r.ping()
                return time.perf_counter() - started
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server exited; see {self.dir}/log")
                time.sleep(0.005)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING")

    def restart(self):
        """Kills the process and starts it again on the same port and
        directory, so that it loads what the last SAVE wrote; returns the
        seconds until it answered PING."""
        self.proc.kill()
        self.proc.wait()
        return self.start()

    def purged_memory(self):
        """used_memory after MEMORY PURGE, from a new connection, once two
        readings 0.1 s apart agree: the connection that loaded the data holds
        big buffers until the server has seen it close, and a keyspace that
        grew is rehashed in the background for a while."""
        self.r.connection_pool.disconnect()
        previous = None
        for _ in range(50):
            self.r.execute_command("MEMORY", "PURGE")
            current = self.used_memory()
            if current == previous:
                break
            previous = current
            time.sleep(0.1)
        return current

    def stop(self):
        self.stop_listening()
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def listen(self, channels):
        """A real subscriber connection on each of `channels`, as each user's
        app would have: one connection per channel, all served by a process
        of their own that reads and drops what arrives as fast as the sockets
        deliver it (a client that parsed every message would fall behind and
        measure itself; and Redis writes at most 64 KB to one connection per
        event-loop turn, so one connection for all channels would fall behind
        too)."""
        if not channels:
            return
        self.readers.append(subprocess.Popen(
            [sys.executable, __file__, "--drain", str(self.port), *channels],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wanted = {}
        for channel in channels:
            wanted[channel] = wanted.get(channel, 0) + 1
        for channel, count in wanted.items():
            while self.r.execute_command("PUBSUB", "NUMSUB", channel)[1] < count:
                time.sleep(0.01)

    def stop_listening(self):
        for reader in self.readers:
            reader.kill()
            reader.wait()
        self.readers = []

    def used_memory(self):
        return int(self.r.info("memory")["used_memory"])


def benchmark(port, n, *command):
    """redis-benchmark throughput (requests/s) of one command: 50 clients,
    pipeline 16."""
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-n", str(n), "-c", "50", "-P", "16", "-q", *command],
        capture_output=True, text=True, check=True).stdout
    rates = re.findall(r"([0-9.]+) requests per second", out)
    if not rates:
        raise RuntimeError(f"no rate in redis-benchmark output for {command}: {out[-300:]}")
    return float(rates[-1])


def channels(r, user):
    """The channels CHAT.CHANNELS tells the user's app to listen on."""
    return [c.decode() for c in r.execute_command("CHAT.CHANNELS", user)[1:]]


def setup_room(server, size, prefix="r"):
    """Room <prefix><size> with members <prefix><size>-0..; half of the
    others online; and the Lua script's own copy of its members and their
    presence. Returns the room, its members, the online ones, and each
    member's push channel."""
    r = server.r
    room = f"{prefix}{size}"
    users = [f"{room}-{i}" for i in range(size)]
    online = users[1::2]
    pipe = r.pipeline(transaction=False)
    for u in users:
        pipe.execute_command("CHAT.REGISTER", u, u)
        # In no room yet, a user has one channel: their own push channel.
        pipe.execute_command("CHAT.CHANNELS", u)
    push = {u: reply[1].decode() for u, reply in zip(users, pipe.execute()[1::2])}
    pipe.execute_command("CHAT.CREATE", room, room)
    pipe.execute_command("HSET", f"lua:room:{{{room}}}", "last_id", 0)
    for u in users:
        pipe.execute_command("CHAT.SUBSCRIBE", room, u)
        pipe.execute_command("HSET", f"lua:room:{{{room}}}:members", u, 0)
    for u in online:
        pipe.execute_command("CHAT.ONLINE", u, "TTL", 86400)
        pipe.execute_command("SET", f"lua:user:{{{u}}}:online", 1, "EX", 86400)
    pipe.execute()
    return room, users, online, push


def send_throughputs(server, sizes, rounds, scale):
    """Sends/s for the module, the Lua script and a bare XADD, at each room
    size, alternating so drift hits all alike. Medians of `rounds`."""
    sha = server.r.script_load(LUA_SEND)
    rooms = {}
    for size in sizes:
        room, users, online, push = setup_room(server, size)
        # Each online member's app listens on the module's push channel and
        # on the Lua script's: whichever runs finds someone listening.
        server.listen([push[u] for u in online] + [f"lua:user:{{{u}}}:push" for u in online])
        rooms[size] = (room, users[0])
    results = {(size, kind): [] for size in sizes for kind in ("module", "lua")}
    results.update({("xadd", "xadd"): []})
    for _ in range(rounds):
        results[("xadd", "xadd")].append(benchmark(
            server.port, int(200_000 * scale), "XADD", "bench:xadd", "*",
            "sender", "m0", "text", TEXT, "ts", str(int(time.time() * 1000))))
        for size in sizes:
            room, sender = rooms[size]
            n = max(200, int(scale * {2: 200_000, 10: 100_000, 100: 20_000}.get(size, 2_000)))
            results[(size, "module")].append(benchmark(server.port, n, "CHAT.SEND", room, sender, TEXT))
            results[(size, "lua")].append(benchmark(
                server.port, n, "EVALSHA", sha, "4",
                f"lua:room:{{{room}}}:members", f"lua:room:{{{room}}}:log",
                f"lua:room:{{{room}}}:counts", f"lua:room:{{{room}}}",
                room, sender, TEXT, "10000", "1000"))
    return {k: statistics.median(v) for k, v in results.items()}


def broadcast_throughputs(sizes, rounds, scale):
    """Sends/s in rooms past chat.fanout-max-members (default 500), which
    store the message once and publish it once on the room's channel, against
    a 10-member fan-out room (5 online members listening, 4 inbox copies).

    Each broadcast room is measured with as many listeners on its channel as
    the 10-member room has (5), which isolates the module's own work, and
    with every other member online and listening, where Redis's delivery of
    one message to each connection adds its own cost: a bare PUBLISH of the
    same document to the same listeners is measured beside it."""
    server = Server()
    try:
        r = server.r
        small, users, online, push = setup_room(server, 10, prefix="b")
        small_sender = users[0]
        server.listen([push[u] for u in online])
        rooms, room_channel = {}, {}
        for size in sizes:
            room, users, _, push = setup_room(server, size, prefix="b")
            mode = dict(zip(*[iter(r.execute_command("CHAT.INFO", room))] * 2))[b"mode"]
            if mode != b"broadcast":
                raise RuntimeError(f"room of {size} members is {mode!r}, not a broadcast room")
            # A member of a broadcast room listens on the room's channel too.
            rooms[size] = room
            room_channel[size] = next(c for c in channels(r, users[0]) if c != push[users[0]])
        document = json.dumps({"type": "message", "room": rooms[sizes[-1]], "id": 1, "sender": "x",
                               "text": TEXT, "ts": int(time.time() * 1000)}, separators=(",", ":"))
        results = {}
        for listening in ("five", "half"):
            for size, room in rooms.items():
                count = 5 if listening == "five" else size // 2
                server.listen([room_channel[size]] * count)
            for _ in range(rounds):
                n = max(1000, int(100_000 * scale))
                results.setdefault(("fanout", 10), []).append(
                    benchmark(server.port, n, "CHAT.SEND", small, small_sender, TEXT))
                for size, room in rooms.items():
                    # Each send is one write to every listener: fewer sends
                    # keep the run short where there are thousands of them.
                    n = max(1000, int(100_000 * scale * (1 if listening == "five" else 5 / size)))
                    results.setdefault((listening, size, "send"), []).append(
                        benchmark(server.port, n, "CHAT.SEND", room, f"{room}-0", TEXT))
                    results.setdefault((listening, size, "publish"), []).append(
                        benchmark(server.port, n, "PUBLISH", room_channel[size], document))
            server.stop_listening()
        return {k: statistics.median(v) for k, v in results.items()}
    finally:
        server.stop()


def replication_cost(rounds, scale):
    """CHAT.SEND on a server with AOF on (everysec) and a replication
    backlog, against one with neither, all members offline (every member gets
    an inbox copy, the most there is to propagate)."""
    durable = Server(server_args=("--appendonly", "yes", "--appendfsync", "everysec"))
    bare = Server()
    try:
        # A replica that connects once leaves a backlog that every write is
        # then copied into, as with a live replica, without a second server
        # competing for the CPU during the runs. It loads the module, as a
        # replica of chat data must.
        replica = Server(server_args=("--appendonly", "no", "--replicaof", "127.0.0.1", str(durable.port)))
        while durable.r.info("replication").get("connected_slaves", 0) == 0:
            time.sleep(0.05)
        replica.stop()
        results = {}
        for size in (10, 100):
            room = f"offline{size}"
            for server in (durable, bare):
                pipe = server.r.pipeline(transaction=False)
                pipe.execute_command("CHAT.CREATE", room, room)
                for i in range(size):
                    pipe.execute_command("CHAT.REGISTER", f"o{size}-{i}", "o")
                    pipe.execute_command("CHAT.SUBSCRIBE", room, f"o{size}-{i}")
                pipe.execute()
            n = max(200, int(scale * (100_000 if size == 10 else 20_000)))
            for _ in range(rounds):
                for mode, server in (("durable", durable), ("bare", bare)):
                    rate = benchmark(server.port, n, "CHAT.SEND", room, f"o{size}-0", TEXT)
                    results.setdefault((size, mode), []).append(rate)
        return {k: statistics.median(v) for k, v in results.items()}
    finally:
        durable.stop()
        bare.stop()


def read_throughputs(server, scale):
    """HISTORY 50 newest, FETCH 50, and FETCH 50 + ACK by one client."""
    r = server.r
    pipe = r.pipeline(transaction=False)
    for u in ("reader", "writer"):
        pipe.execute_command("CHAT.REGISTER", u, u)
    pipe.execute_command("CHAT.CREATE", "reads", "reads")
    pipe.execute_command("CHAT.SUBSCRIBE", "reads", "reader")
    pipe.execute_command("CHAT.SUBSCRIBE", "reads", "writer")
    pipe.execute(raise_on_error=False)
    messages = int(50_000 * scale) + 100
    subprocess.run(["redis-benchmark", "-p", str(server.port), "-n", str(messages), "-c", "50", "-P", "16",
                    "-q", "CHAT.SEND", "reads", "writer", TEXT], capture_output=True, check=True)
    history = benchmark(server.port, int(50_000 * scale) + 100, "CHAT.HISTORY", "reads", "COUNT", "50")
    fetch = benchmark(server.port, int(50_000 * scale) + 100, "CHAT.FETCH", "reader", "COUNT", "50")
    pairs, started = 0, time.perf_counter()
    while True:
        page = r.execute_command("CHAT.FETCH", "reader", "COUNT", 50)
        if not page:
            break
        r.execute_command("CHAT.ACK", "reader", json.loads(page[-1])["delivery"])
        pairs += 1
    elapsed = time.perf_counter() - started
    return {"history": history, "fetch": fetch, "fetch_ack": pairs / elapsed, "fetch_ack_messages": pairs * 50 / elapsed}


def memory(scale):
    """Bytes per stored message (room log), per inbox copy, and per bare
    XADD entry with the same fields, from used_memory deltas."""
    n = int(100_000 * scale) + 1000
    big = ("history-max", "100000000", "inbox-max", "100000000")

    def delta(setup, *command):
        server = Server(big)
        try:
            setup(server)
            before = server.used_memory()
            subprocess.run(["redis-benchmark", "-p", str(server.port), "-n", str(n), "-c", "50", "-P", "16",
                            "-q", *command], capture_output=True, check=True)
            return (server.used_memory() - before) / n
        finally:
            server.stop()

    def room(offline):
        def setup(server):
            r = server.r
            for u in ("a", "b"):
                r.execute_command("CHAT.REGISTER", u, u)
            r.execute_command("CHAT.CREATE", "m", "m")
            for u in ("a", "b"):
                r.execute_command("CHAT.SUBSCRIBE", "m", u)
            if not offline:
                r.execute_command("CHAT.ONLINE", "b", "TTL", 86400)
                server.listen(channels(r, "b"))
        return setup

    ts = str(int(time.time() * 1000))
    xadd = delta(lambda s: None, "XADD", "bench:xadd", "*", "sender", "a", "text", TEXT, "ts", ts)
    log = delta(room(offline=False), "CHAT.SEND", "m", "a", TEXT)
    with_copy = delta(room(offline=True), "CHAT.SEND", "m", "a", TEXT)
    document = len(json.dumps({"type": "message", "room": "m", "id": n, "sender": "a", "text": TEXT,
                               "ts": int(ts)}, separators=(",", ":")))
    return {"xadd": xadd, "log": log, "inbox_copy": with_copy - log, "document": document}


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    # "Redis server v=7.0.15 ..." or "Valkey server v=8.0.1 ...".
    words = subprocess.run([SERVER, "--version"], capture_output=True, text=True).stdout.split()
    server = f"{words[0]} {words[2].removeprefix('v=')}"
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, {server}"


def ratio(x):
    """A ratio with two significant digits at least: 0.0034x, 0.41x, 3.07x."""
    return f"{x:.2f}x" if x >= 0.1 else f"{x:.2g}x"


def send_lines(send, sizes):
    xadd = send[("xadd", "xadd")]
    rows = []
    for size in sizes:
        module, lua = send[(size, "module")], send[(size, "lua")]
        rows.append((size, module, lua, module / lua, module / xadd))
    # Cost per member: how much a send's time grows per added member.
    cost = {size: 1 / send[(size, "module")] for size in sizes}
    steps = []
    for a, b in zip(sizes, sizes[1:]):
        steps.append((a, b, (cost[b] - cost[a]) / (b - a) * 1e6))
    lines = [
        "## CHAT.SEND",
        "",
        "| room size | CHAT.SEND sends/s | Lua script sends/s | vs Lua | vs bare XADD |",
        "|---|---|---|---|---|",
    ]
    for size, module, lua, vs_lua, vs_xadd in rows:
        lines.append(f"| {size:,} | {module:,.0f} | {lua:,.0f} | {ratio(vs_lua)} | {ratio(vs_xadd)} |")
    lines += [
        "",
        f"Bare `XADD` of the same fields (the ceiling): {xadd:,.0f}/s.",
        "",
        "Cost per added member (from the send rates):",
        "",
    ]
    for a, b, us in steps:
        lines.append(f"- {a} -> {b} members: {us:.3f} µs per member")
    if len(steps) >= 3:
        lines.append(f"- ratio of the 100 -> 1000 step to the 10 -> 100 step: {steps[2][2] / steps[1][2]:.2f}")
    return lines


def broadcast_lines(broadcast, broadcast_sizes):
    small = broadcast[("fanout", 10)]
    lines = [
        "## Broadcast rooms",
        "",
        "Rooms with more members than `chat.fanout-max-members` (default 500) store a message once and "
        "publish it once on the room's channel; offline members catch up from `CHAT.UNREAD` and "
        "`CHAT.HISTORY`. Compared with a 10-member fan-out room (5 members listening, 4 inbox copies), "
        "default configs:",
        "",
        "| room size | listening on the room channel | CHAT.SEND sends/s | vs the 10-member room | "
        "bare PUBLISH to the same listeners |",
        "|---|---|---|---|---|",
        f"| 10 (fan-out) | 5 (on their own channels) | {small:,.0f} | 1.00x | |",
    ]
    for listening in ("five", "half"):
        for size in broadcast_sizes:
            rate, publish_rate = broadcast[(listening, size, "send")], broadcast[(listening, size, "publish")]
            count = 5 if listening == "five" else size // 2
            lines.append(f"| {size:,} | {count:,} | {rate:,.0f} | {ratio(rate / small)} | {publish_rate:,.0f}/s |")
    lines += [
        "",
        "With 5 listeners the send does the same work at every size. With half of the members listening, "
        "Redis writes the message to each of their connections, as it does for a bare PUBLISH: that "
        "delivery cost, not the module, is what grows with the room.",
    ]
    return lines


def replication_lines(repl):
    lines = [
        "## Replication cost",
        "",
        "CHAT.SEND with AOF on (`appendfsync everysec`) and a replication backlog, against a server with "
        "neither; all members offline, so that every member gets an inbox copy to propagate:",
        "",
        "| room size | AOF everysec + backlog | no AOF, no backlog | ratio |",
        "|---|---|---|---|",
    ]
    for size in (10, 100):
        durable, bare = repl[(size, "durable")], repl[(size, "bare")]
        lines.append(f"| {size} | {durable:,.0f} sends/s | {bare:,.0f} sends/s | {durable / bare:.2f}x |")
    return lines


def reads_lines(reads):
    return [
        "## Reads",
        "",
        "| operation | rate |",
        "|---|---|",
        f"| `CHAT.HISTORY <room> COUNT 50` | {reads['history']:,.0f}/s |",
        f"| `CHAT.FETCH <user> COUNT 50` | {reads['fetch']:,.0f}/s |",
        f"| `CHAT.FETCH` 50 + `CHAT.ACK`, one client, one round trip each | {reads['fetch_ack']:,.0f} pairs/s "
        f"({reads['fetch_ack_messages']:,.0f} messages/s) |",
    ]


def memory_lines(mem, quick):
    return [
        "## Memory",
        "",
        "| what | bytes | ratio |",
        "|---|---|---|",
        f"| bare `XADD` entry with fields sender, text, ts | {mem['xadd']:.1f} | 1.00 |",
        f"| stored message (room log) | {mem['log']:.1f} | {mem['log'] / mem['xadd']:.2f}x XADD |",
        f"| inbox copy | {mem['inbox_copy']:.1f} | {mem['inbox_copy'] / mem['document']:.2f}x its document |",
        f"| the message's JSON document | {mem['document']} | |",
        "",
        f"`used_memory` deltas over {'a few thousand' if quick else '101,000'} messages of {len(TEXT)} bytes of "
        "text; the room log row includes the room's title and its table of people, which do not grow.",
    ]


def report(results, sizes, broadcast_sizes, rounds, out_dir, quick):
    """Writes README.md (and throughput.png, when the send and broadcast
    sections ran) to out_dir, with a section for each section that ran."""
    import bench_capacity
    import bench_cluster
    import bench_events
    import bench_moderation
    import bench_talk

    lines = [
        "# Benchmarks",
        "",
        f"{'Quick smoke run, not a measurement. ' if quick else ''}"
        f"Measured {datetime.date.today().isoformat()} on {machine()}, by `scripts/bench`.",
    ]
    if "send" in results:
        lines.append(
            f"redis-benchmark with 50 clients and pipeline 16 on the same machine; medians of {rounds} "
            "alternating rounds. Rooms of N members, the first of whom sends; half of the other members are "
            "online with a real subscriber on their push channel, half offline (inbox). Default configs "
            "(history-max 10000, inbox-max 1000) except `fanout-max-members`, raised so that every room "
            "below copies to each member as the Lua script does; no AOF, no replica.")
    sections = {
        "send": lambda data: send_lines(data, sizes),
        "broadcast": lambda data: broadcast_lines(data, broadcast_sizes),
        "replication": replication_lines,
        "reads": reads_lines,
        "memory": lambda data: memory_lines(data, quick),
        "capacity": bench_capacity.capacity_lines,
        "things": bench_capacity.things_lines,
        "rdb": lambda data: bench_capacity.rdb_lines(data, quick),
        "cluster": bench_cluster.cluster_lines,
        "conversation": bench_talk.conversation_lines,
        "moderation": bench_moderation.moderation_lines,
        "events": bench_events.events_lines,
    }
    for name, make in sections.items():
        if name in results:
            lines += ["", *make(results[name])]
    os.makedirs(out_dir, exist_ok=True)
    if "send" in results and "broadcast" in results:
        lines += ["", "![CHAT.SEND throughput by room size](throughput.png)"]
        plot(results["send"], results["broadcast"], sizes, broadcast_sizes, os.path.join(out_dir, "throughput.png"))
    lines += ["", "Where the time goes, and what would close the gaps: [analysis.md](analysis.md)."]
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"\nwritten to {out_dir}/README.md")


def plot(send, broadcast, sizes, broadcast_sizes, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    ax.plot(sizes, [send[(s, "module")] for s in sizes], "o-", label="CHAT.SEND, every room fan-out")
    ax.plot(sizes, [send[(s, "lua")] for s in sizes], "s--", label="Lua script, same semantics")
    ax.axhline(send[("xadd", "xadd")], color="grey", linestyle=":", label="bare XADD (ceiling)")
    small = broadcast[("fanout", 10)]
    for listening, label in (("five", "broadcast room, 5 listening"), ("half", "broadcast room, half listening")):
        ax.plot([10, *broadcast_sizes], [small, *(broadcast[(listening, s, "send")] for s in broadcast_sizes)],
                "^-" if listening == "five" else "v-.", label=f"CHAT.SEND, default configs: {label}")
    ticks = sorted({*sizes, *broadcast_sizes})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{s:,}" for s in ticks])
    ax.set_xlabel("members in the room")
    ax.set_ylabel("sends per second")
    ax.set_title("CHAT.SEND vs a Lua script vs XADD (Redis 7.0, one server)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


def drain(port, channels):
    """The subscriber process: one connection per channel, SUBSCRIBEd, then
    read and drop forever."""
    import selectors
    selector = selectors.DefaultSelector()
    for channel in channels:
        sock = socket.create_connection(("127.0.0.1", port))
        name = channel.encode()
        sock.sendall(b"*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(name), name))
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
    buffer = bytearray(1 << 20)
    while True:
        for key, _ in selector.select():
            try:
                if not key.fileobj.recv_into(buffer):
                    return
            except BlockingIOError:
                pass


SECTIONS = ("send", "reads", "broadcast", "memory", "replication", "capacity", "things", "rdb", "cluster",
            "conversation", "moderation", "events")


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--drain":
        drain(int(sys.argv[2]), sys.argv[3:])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few-seconds smoke run; writes to target/bench/")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full run's operation counts")
    parser.add_argument("--out", "--out-dir", dest="out",
                        help="where to write the results (default docs/benchmarks, or target/bench with --quick "
                             "or --only)")
    parser.add_argument("--only", type=lambda s: s.split(","), default=list(SECTIONS),
                        help="run only these sections, comma-separated, of: " + ", ".join(SECTIONS) +
                             ". send: CHAT.SEND against the Lua script and XADD; reads: HISTORY and FETCH; "
                             "broadcast: rooms past fanout-max-members; memory: bytes per message and copy; "
                             "replication: AOF and backlog against neither; capacity: bytes per user of a "
                             "realistic dataset, module against the Lua design and the payload; things: bytes "
                             "per user, room, message and inbox copy against their targets; rdb: SAVE and "
                             "load of 1M messages against plain streams (the slowest); cluster: a send whose "
                             "room's members live on three nodes (callgrind) and sends/s per primary; "
                             "conversation: a send with REPLY and three MENTIONs against a plain one; "
                             "moderation: a send in a room with an owner, with slow mode on, with the rate "
                             "limit on, and one refused by a mute, against a plain one; events: a send that "
                             "records four notifications against one with notifications off, and presence "
                             "events per second while 10,000 users go online and offline. A "
                             "partial run writes "
                             "to target/bench unless --out says otherwise.")
    args = parser.parse_args()
    unknown = set(args.only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    if not os.path.exists(MODULE):
        sys.exit(f"bench: module not built: {MODULE}")
    sizes = [2, 10, 100, 1000]
    broadcast_sizes = [1000, 2000] if args.quick else [1000, 10_000]
    rounds, scale = (1, 0.02) if args.quick else (args.rounds, args.scale)
    partial = set(args.only) != set(SECTIONS)
    out_dir = args.out or os.path.join(ROOT, "target/bench" if args.quick or partial else "docs/benchmarks")
    # bench_capacity uses this file's Server as `bench.Server`: let that name
    # be this very module rather than a second copy of it.
    sys.modules.setdefault("bench", sys.modules[__name__])
    import bench_capacity
    import bench_cluster
    import bench_events
    import bench_moderation
    import bench_talk

    timings = []

    def timed(name, run):
        started = time.perf_counter()
        data = run()
        timings.append(f"{name}: {time.perf_counter() - started:.1f} s")
        return data

    results = {}
    if "send" in args.only or "reads" in args.only:
        # Every room here is a fan-out room, whatever its size, so that each
        # size is compared with the Lua script doing the same per-member work.
        server = Server(("fanout-max-members", "1000000"))
        try:
            if "send" in args.only:
                results["send"] = timed("send", lambda: send_throughputs(server, sizes, rounds, scale))
            if "reads" in args.only:
                results["reads"] = timed("reads", lambda: read_throughputs(server, scale))
        finally:
            server.stop()
    runs = {
        "broadcast": lambda: broadcast_throughputs(broadcast_sizes, rounds, scale),
        "memory": lambda: memory(scale),
        "replication": lambda: replication_cost(rounds, scale),
        "capacity": lambda: bench_capacity.capacity(scale),
        "things": lambda: bench_capacity.things(scale),
        "rdb": lambda: bench_capacity.rdb(scale),
        "cluster": lambda: bench_cluster.cluster(scale, args.quick),
        "conversation": lambda: bench_talk.conversation(1 if args.quick else max(rounds, 5), scale, args.quick),
        "moderation": lambda: bench_moderation.moderation(1 if args.quick else max(rounds, 5), scale, args.quick),
        "events": lambda: bench_events.events(1 if args.quick else max(rounds, 5), scale, args.quick),
    }
    for name, run in runs.items():
        if name in args.only:
            results[name] = timed(name, run)
    report(results, sizes, broadcast_sizes, rounds, out_dir, args.quick)
    print("time per section: " + ", ".join(timings))


if __name__ == "__main__":
    main()
