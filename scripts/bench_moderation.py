"""The `moderation` section of scripts/bench: what a room's rules and the
per-user send rate limit cost a send.

A room of 10 members, the first of whom sends, half of the others online
with a real subscriber on their push channel (five live deliveries and four
inbox copies a send), as in the `conversation` section. Five cases, each in
a room of its own on the same server:

- plain: a room created without OWNER, which has no rules;
- owner: created with `OWNER` (the last member), so that the room has
  rules, with nothing active: each send looks for a mute of the sender and
  for slow mode, and finds neither;
- slow mode: the same with `CHAT.SLOWMODE 3600` and the sender made an
  admin, who is exempt: the check runs on every send and never refuses,
  and the room notes each send's time (slow mode counts from it);
- rate limit: the plain room with `chat.send-rate` 1000000 (a burst of as
  many), which never refuses: each send takes a token from the sender's
  bucket;
- refused: the sender muted in a room with an owner; the send is refused
  before anything is written.

Two measures, as in the `conversation` section: instructions per send on
the server (valgrind's callgrind, exact where timings vary) and sends/s
with redis-benchmark (but for the refused send: redis-benchmark stops at
the first error reply), medians of alternating rounds.
"""

import shutil
import statistics
import subprocess
import sys
import time

import bench
import bench_cluster
import bench_talk

MEMBERS = 10
TEXT = bench.TEXT
RATE = 1_000_000
SLOWMODE_SECS = 3600
CASES = ("plain", "owner", "slowmode", "ratelimit", "refused")
LABELS = {
    "plain": "plain room (no owner, no rules)",
    "owner": "room with an owner, nothing active",
    "slowmode": f"slow mode on ({SLOWMODE_SECS} s), the sender an admin (exempt)",
    "ratelimit": f"`chat.send-rate` {RATE:,}, never refusing",
    "refused": "refused: the sender muted (`MUTED`)",
}
# The INFO chat counters of refusals, which only the refused case may move.
REFUSALS = ("refused_role", "refused_private", "refused_banned", "refused_muted",
            "refused_slowmode", "refused_ratelimit", "refused_other")


def make_rooms(r, prefix):
    """The rooms of the cases, each with members <prefix>-<case>-0..9, the
    odd ones online; returns case -> (room, sender, members, online)."""
    rooms = {}
    pipe = r.pipeline(transaction=False)
    for case in ("plain", "owner", "slowmode", "refused"):
        room = f"{prefix}-{case}"
        users = [f"{room}-{i}" for i in range(MEMBERS)]
        owner = users[-1]
        for u in users:
            pipe.execute_command("CHAT.REGISTER", u, u)
        if case == "plain":
            pipe.execute_command("CHAT.CREATE", room, room)
        else:
            pipe.execute_command("CHAT.CREATE", room, room, "OWNER", owner)
        for u in users:
            pipe.execute_command("CHAT.SUBSCRIBE", room, u)
        if case == "slowmode":
            pipe.execute_command("CHAT.ROLE", room, owner, users[0], "admin")
            pipe.execute_command("CHAT.SLOWMODE", room, owner, SLOWMODE_SECS)
        if case == "refused":
            pipe.execute_command("CHAT.MUTE", room, owner, users[0])
        online = users[1::2]
        for u in online:
            pipe.execute_command("CHAT.ONLINE", u, "TTL", 86400)
        rooms[case] = (room, users[0], users, online)
    pipe.execute()
    # The rate limit's case sends to the plain room.
    rooms["ratelimit"] = rooms["plain"]
    return rooms


def push_channels(r, rooms):
    """The push channel of every online member of every room."""
    channels = set()
    for room, _, _, online in rooms.values():
        for u in online:
            channels.add(r.execute_command("CHAT.CHANNELS", u)[1].decode())
    return sorted(channels)


def refusals(r):
    chat = r.info("chat")
    return tuple(int(chat.get(f"chat_{name}", 0)) for name in REFUSALS)


def with_rate(r, case):
    """CONFIG SET chat.send-rate for the rate limit's case, 0 otherwise."""
    r.execute_command("CONFIG", "SET", "chat.send-rate", RATE if case == "ratelimit" else 0)


def instructions(n, rounds):
    """Instructions per send of each case, half of the others listening."""
    node = bench_cluster.Node(bench.free_port(), counted=True, cluster=False)
    reader = None
    try:
        rooms = make_rooms(node.r, "counted")
        channels = push_channels(node.r, rooms)
        reader = subprocess.Popen([sys.executable, bench.__file__, "--drain", str(node.port), *channels],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while any(node.r.execute_command("PUBSUB", "NUMSUB", c)[1] == 0 for c in channels):
            time.sleep(0.05)

        def sends(case):
            room, sender, _, _ = rooms[case]
            with_rate(node.r, case)

            def run():
                pipe = node.r.pipeline(transaction=False)
                for _ in range(n):
                    pipe.execute_command("CHAT.SEND", room, sender, TEXT)
                replies = pipe.execute(raise_on_error=False)
                refused = [x for x in replies if isinstance(x, Exception)]
                if case == "refused":
                    if len(refused) != n or not str(refused[0]).startswith("MUTED"):
                        raise RuntimeError(f"a muted sender's sends were not all refused: {refused[:1]}")
                elif refused:
                    raise RuntimeError(f"{case}: {len(refused)} sends refused: {refused[0]}")
            return bench_talk.counted(node, run) / n

        counts = {case: [] for case in CASES}
        for _ in range(rounds):
            for case in CASES:
                counts[case].append(sends(case))
        with_rate(node.r, "plain")
        return {case: statistics.median(v) for case, v in counts.items()}
    finally:
        if reader:
            reader.kill()
            reader.wait()
        node.stop()


def throughput(n, rounds):
    """Sends/s of each case but the refused one (redis-benchmark stops at
    the first error reply) with redis-benchmark, half of the others
    listening; none may refuse a send."""
    server = bench.Server(("fanout-max-members", "1000000"))
    try:
        rooms = make_rooms(server.r, "timed")
        server.listen(push_channels(server.r, rooms))
        rates = {case: [] for case in CASES if case != "refused"}
        timed = list(rates)
        for i in range(rounds):
            # Each round starts with another case, so that a drift of the
            # machine's speed within a round favours none.
            for case in timed[i % len(timed):] + timed[:i % len(timed)]:
                room, sender, _, _ = rooms[case]
                with_rate(server.r, case)
                before = refusals(server.r)
                rates[case].append(bench.benchmark(server.port, n, "CHAT.SEND", room, sender, TEXT))
                if refusals(server.r) != before:
                    raise RuntimeError(f"{case}: refusals {before} -> {refusals(server.r)}")
        with_rate(server.r, "plain")
        return {case: statistics.median(v) for case, v in rates.items()}
    finally:
        server.stop()


def moderation(rounds, scale, quick):
    n = max(1_000, int(50_000 * scale))
    counted_runs = None
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        sends, times = (200, 1) if quick else (2_000, 3)
        counted_runs = instructions(sends, times)
    return {"instructions": counted_runs, "throughput": throughput(n, rounds), "rounds": rounds, "n": n}


def moderation_lines(data):
    lines = [
        "## Rules and the send rate limit",
        "",
        f"CHAT.SEND to a room of {MEMBERS} members, half of the others online and listening (five live "
        "deliveries, four inbox copies a send), in rooms whose rules differ, and with the per-user rate "
        f"limit on (`chat.send-rate` {RATE:,}, high enough never to refuse). Instructions per send on the "
        "server (callgrind), and sends/s with redis-benchmark, "
        f"{data['n']:,} sends per round, medians of {data['rounds']} alternating rounds: timings on this "
        "machine vary by 20% from round to round, instruction counts do not. The last row is a send "
        "refused by a mute, before anything is written (not timed: redis-benchmark stops at the first "
        "error reply).",
        "",
        "| send | instructions | over plain | sends/s |",
        "|---|---|---|---|",
    ]
    i, t = data["instructions"], data["throughput"]
    for case in CASES:
        if i:
            counts = f"{i[case]:,.0f} ({i[case] / i['plain']:.2f}x) | {i[case] - i['plain']:+,.0f}"
        else:
            counts = "(valgrind not installed) | "
        rate = f"{t[case]:,.0f} ({t[case] / t['plain']:.2f}x)" if case in t else "(not timed)"
        lines.append(f"| {LABELS[case]} | {counts} | {rate} |")
    return lines
