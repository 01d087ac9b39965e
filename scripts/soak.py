"""scripts/soak [minutes]: mixed chat traffic for a while, with every
retention limit trimming, on a redis-server this script starts.

The traffic, from one client, each step picked at random: sends (most of
it) into rooms of 2, 10, 50 and 200 members, joins and leaves, inbox
fetches with their acks, presence going on and off, edits and reactions.
`chat.history-max`, `chat.inbox-max` and `chat.history-max-age` are set
low enough that all three trim all the time: the history age is a sixth
of the run (10 s to 5 min), and the warm-up, after which memory should
stay flat, twice that.

It reports memory (`used_memory`) over time, and CHAT.SEND latency
percentiles per minute (as the client sees them: round trip included).
At the end it checks that nothing acknowledged is missing from what
retention should keep: in each room, every send acknowledged less than
the history age ago (less a margin) and among the room's newest
`history-max` is in its history, and the ids kept are gap-free. A missing
message makes it exit 1; the speed and memory targets are reported, not
asserted (they depend on the machine).

Results go to docs/benchmarks/soak.md and soak.png for runs of 10 minutes
or more, to target/soak/ for shorter ones (or --out).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MODULE = os.environ.get("CHAT_MODULE") or os.path.join(ROOT, "target/release/libredis_chat.so")
SERVER = os.environ.get("CHAT_REDIS_SERVER", "redis-server")

ROOM_SIZES = [2] * 100 + [10] * 60 + [50] * 30 + [200] * 10
USERS = 2000
HISTORY_MAX = 500
INBOX_MAX = 100
TEXT = "soak " * 20  # 100 bytes
# What each step does, and how often.
STEPS = (("send", 70), ("fetch", 10), ("presence", 8), ("membership", 4), ("edit", 4), ("react", 4))


def free_port():
    import socket
    for _ in range(200):
        port = random.randint(20000, 30000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


class Server:
    def __init__(self, max_age):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="redis-chat-soak-")
        self.proc = subprocess.Popen(
            [SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log"),
             "--loadmodule", MODULE, "history-max", str(HISTORY_MAX), "inbox-max", str(INBOX_MAX),
             "history-max-age", str(max_age), "presence-ttl", "30", "notify-max", "10000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = redis.Redis(port=self.port, decode_responses=True)
        deadline = time.time() + 30
        while True:
            try:
                self.r.ping()
                return
            except redis.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start; see {self.dir}/redis.log")
                time.sleep(0.05)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


class Traffic:
    """The rooms, their members, and what each room acknowledged."""

    def __init__(self, r, rng):
        self.r, self.rng = r, rng
        self.users = [f"u{i}" for i in range(USERS)]
        self.rooms = [f"room{i}" for i in range(len(ROOM_SIZES))]
        self.members = {}
        self.sizes = dict(zip(self.rooms, ROOM_SIZES))
        self.acked = {room: [] for room in self.rooms}  # (id, when acknowledged)
        self.send_latency = []  # (minute, seconds)
        pipe = r.pipeline(transaction=False)
        for u in self.users:
            pipe.execute_command("CHAT.REGISTER", u, u)
        for room, size in zip(self.rooms, ROOM_SIZES):
            pipe.execute_command("CHAT.CREATE", room, room)
            self.members[room] = rng.sample(self.users, size)
            for u in self.members[room]:
                pipe.execute_command("CHAT.SUBSCRIBE", room, u)
        pipe.execute()

    def step(self, minute):
        kind = self.rng.choices([k for k, _ in STEPS], [w for _, w in STEPS])[0]
        getattr(self, kind)(minute)

    def send(self, minute):
        room = self.rng.choice(self.rooms)
        sender = self.rng.choice(self.members[room])
        started = time.perf_counter()
        id_ = self.r.execute_command("CHAT.SEND", room, sender, TEXT)
        done = time.perf_counter()
        self.send_latency.append((minute, done - started))
        self.acked[room].append((int(id_), time.time()))

    def fetch(self, minute):
        user = self.rng.choice(self.users)
        copies = self.r.execute_command("CHAT.FETCH", user, "COUNT", "50")
        if copies:
            last = json.loads(copies[-1])
            self.r.execute_command("CHAT.ACK", user, last["delivery"])

    def presence(self, minute):
        user = self.rng.choice(self.users)
        if self.rng.random() < 0.5:
            self.r.execute_command("CHAT.ONLINE", user, "TTL", "5")
        else:
            self.r.execute_command("CHAT.OFFLINE", user)

    def membership(self, minute):
        """A join or a leave that keeps the room near its first size (a walk
        left free would grow: a room of two cannot shrink)."""
        room = self.rng.choice(self.rooms)
        members = self.members[room]
        size = self.sizes[room]
        if len(members) > size or (len(members) == size and size > 2 and self.rng.random() < 0.5):
            user = members.pop(self.rng.randrange(len(members)))
            self.r.execute_command("CHAT.UNSUBSCRIBE", room, user)
        else:
            user = self.rng.choice(self.users)
            if user not in members:
                self.r.execute_command("CHAT.SUBSCRIBE", room, user)
                members.append(user)

    def _recent(self):
        room = self.rng.choice(self.rooms)
        return room, (self.acked[room][-1][0] if self.acked[room] else None)

    def edit(self, minute):
        room, id_ = self._recent()
        if id_ is None:
            return
        msg = self.r.execute_command("CHAT.HISTORY", room, "COUNT", "1")
        if msg:
            doc = json.loads(msg[-1])
            if doc.get("type") == "message" and doc.get("id") == id_:
                try:
                    self.r.execute_command("CHAT.EDIT", room, doc["sender"], id_, TEXT + " (edited)")
                except redis.ResponseError:
                    pass  # the sender left the room since

    def react(self, minute):
        room, id_ = self._recent()
        if id_ is None:
            return
        user = self.rng.choice(self.members[room])
        self.r.execute_command("CHAT.REACT", room, user, id_, "+1")


def percentile(values, p):
    values = sorted(values)
    if not values:
        return 0.0
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def check_kept(r, traffic, max_age):
    """What retention should keep is there; returns the problems found."""
    problems = []
    now = time.time()
    margin = 3.0
    for room in traffic.rooms:
        last_id = dict(zip(*[iter(r.execute_command("CHAT.INFO", room))] * 2))["last_id"]
        kept = []
        after = 0
        while True:
            page = r.execute_command("CHAT.HISTORY", room, "AFTER", after, "COUNT", 1000)
            docs = [json.loads(d) for d in page]
            ids = [d["id"] for d in docs if d.get("type") == "message"]
            if not docs:
                break
            kept += ids
            after = docs[-1].get("id", docs[-1].get("before", after))
            if not ids:
                break
        if kept and kept != list(range(kept[0], kept[0] + len(kept))):
            problems.append(f"{room}: ids kept are not gap-free")
        if kept and kept[-1] != last_id:
            problems.append(f"{room}: last id {last_id}, newest kept {kept[-1]}")
        keep = set(kept)
        for id_, when in traffic.acked[room]:
            if id_ > last_id - HISTORY_MAX and when > now - max_age + margin and id_ not in keep:
                problems.append(f"{room}: acknowledged id {id_}, sent {now - when:.1f} s ago, is missing")
    return problems


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("minutes", nargs="?", type=float, default=30.0)
    p.add_argument("--out", help="where to write soak.md and soak.png")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    seconds = args.minutes * 60
    max_age = max(10, int(seconds / 6))
    warm_up = 2 * max_age
    out = args.out or os.path.join(ROOT, "docs/benchmarks" if args.minutes >= 10 else "target/soak")
    os.makedirs(out, exist_ok=True)

    server = Server(max_age)
    try:
        rng = random.Random(args.seed)
        traffic = Traffic(server.r, rng)
        started = time.time()
        memory = []  # (seconds, used_memory)
        next_sample = started
        steps = 0
        while (now := time.time()) < started + seconds:
            if now >= next_sample:
                memory.append((now - started, int(server.r.info("memory")["used_memory"])))
                next_sample += 2
            traffic.step(int((now - started) // 60))
            steps += 1
        problems = check_kept(server.r, traffic, max_age)
    finally:
        server.stop()

    minutes = sorted({m for m, _ in traffic.send_latency})
    per_minute = [(m, [s for mm, s in traffic.send_latency if mm == m]) for m in minutes]
    after = [m for t, m in memory if t >= warm_up]
    plateau = statistics.median(after) if after else 0
    spread = max((abs(m - plateau) / plateau for m in after), default=0.0) if plateau else 0.0
    window = min(10, max(1, len(minutes) // 3))
    first = [s for m, ss in per_minute[:window] for s in ss]
    last = [s for m, ss in per_minute[-window:] for s in ss]
    p99_first, p99_last = percentile(first, 99), percentile(last, 99)
    drift = (p99_last - p99_first) / p99_first if p99_first else 0.0
    sends = len(traffic.send_latency)

    retention = ("nothing acknowledged is missing" if not problems else f"{len(problems)} problems")
    lines = [
        "# Soak",
        "",
        (f"`scripts/soak {args.minutes:g}`: {args.minutes:g} minute(s) of mixed traffic from one client on one "
         f"redis-server ({server_version()}), {steps:,} steps, {sends:,} sends into {len(traffic.rooms)} rooms "
         f"of 2 to 200 members ({USERS:,} users), with `history-max` {HISTORY_MAX}, `inbox-max` {INBOX_MAX} and "
         f"`history-max-age` {max_age} s all trimming, presence going on and off (TTL 5 s), joins and leaves, "
         "inbox fetches and acks, edits and reactions."),
        "",
        (f"- **Memory** after the warm-up ({warm_up} s): plateau {plateau / 1e6:.1f} MB (median), every sample "
         f"within {spread * 100:.1f}% of it (target: 3%)."),
        (f"- **CHAT.SEND p99** (round trip, one client): first {window} minute(s) {p99_first * 1e3:.3f} ms, "
         f"last {window} {p99_last * 1e3:.3f} ms: {drift * 100:+.1f}% (target: within 20%)."),
        (f"- **Retention check:** {retention} (every send acknowledged within the history age and among each "
         "room's newest `history-max` is kept; ids kept are gap-free)."),
        "",
        "| minute | sends | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
    ]
    for m, ss in per_minute:
        lines.append(f"| {m + 1} | {len(ss):,} | {percentile(ss, 50) * 1e3:.3f} | {percentile(ss, 99) * 1e3:.3f} "
                     f"| {max(ss) * 1e3:.3f} |")
    lines += ["", "![memory over time](soak.png)", ""]
    with open(os.path.join(out, "soak.md"), "w") as f:
        f.write("\n".join(lines))
    plot(memory, warm_up, plateau, os.path.join(out, "soak.png"))
    print("\n".join(lines[:8]))
    print(f"written to {out}/soak.md")
    for problem in problems[:20]:
        print("MISSING:", problem, file=sys.stderr)
    sys.exit(1 if problems else 0)


def server_version():
    out = subprocess.run([SERVER, "--version"], capture_output=True, text=True, check=False).stdout
    return " ".join(out.split()[:3])


def plot(memory, warm_up, plateau, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4), dpi=110)
    ax.plot([t / 60 for t, _ in memory], [m / 1e6 for _, m in memory], label="used_memory")
    ax.axvline(warm_up / 60, color="grey", linestyle=":", label="end of warm-up")
    if plateau:
        for f in (0.97, 1.03):
            ax.axhline(plateau * f / 1e6, color="red", linestyle="--", linewidth=0.8)
    ax.set_xlabel("minutes")
    ax.set_ylabel("MB")
    ax.set_title("Memory during the soak (the dashed lines: plateau ±3%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
