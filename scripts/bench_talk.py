"""The `conversation` section of scripts/bench: what a reply with mentions
costs against a plain send.

A room of 10 members, the first of whom sends. Two measures:

- instructions per send on the server (valgrind's callgrind, which repeats
  to the instruction where a timing does not), every other member offline
  so that each send makes nine inbox copies;
- sends/s with redis-benchmark, half of the other members online with a
  real subscriber on their push channel (the `send` section's room).

Each measure alternates a plain CHAT.SEND and a CHAT.SEND ... REPLY <id>
MENTION a MENTION b MENTION c to the same room, replying to a message sent
just before, so that the root stays in the history while its thread
grows; the three mentioned members
never read, so their unread mentions pile up as an away user's would.
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

import bench
import bench_cluster

MEMBERS = 10
TEXT = bench.TEXT


def members(prefix):
    return [f"{prefix}-{i}" for i in range(MEMBERS)]


def make_room(r, room, users):
    pipe = r.pipeline(transaction=False)
    for u in users:
        pipe.execute_command("CHAT.REGISTER", u, u)
    pipe.execute_command("CHAT.CREATE", room, room)
    for u in users:
        pipe.execute_command("CHAT.SUBSCRIBE", room, u)
    pipe.execute()


def reply_args(r, room, sender, mentioned):
    """The options of a reply to a message sent now, mentioning three."""
    root = r.execute_command("CHAT.SEND", room, sender, "root")
    return ["REPLY", str(root), *[w for u in mentioned for w in ("MENTION", u)]]


def counted(node, run):
    """Instructions the server executes while `run()` runs: each dump
    starts counting from zero, and the newest dump holds the last count."""
    pid = str(node.proc.pid)
    for switch in ("on", "off"):
        if switch == "off":
            run()
        subprocess.run(["callgrind_control", "-i", switch, pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    dumps = [os.path.join(node.dir, f) for f in os.listdir(node.dir) if f.startswith("callgrind.")]
    newest = max(dumps, key=os.path.getmtime)
    out = subprocess.run(["callgrind_annotate", newest], capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if "PROGRAM TOTALS" in l)
    return int(line.split()[0].replace(",", ""))


def instructions(n, rounds, listening):
    """Instructions per send, plain and as a reply with three mentions; with
    `listening`, every other member is online with a real subscriber on
    their push channel (the mentioned three stay offline)."""
    node = bench_cluster.Node(bench.free_port(), counted=True, cluster=False,
                              module_args=("fanout-max-members", "1000000"))
    reader = None
    try:
        users = members("c")
        make_room(node.r, "counted", users)
        sender, others = users[0], users[1:]
        online = others[::2] if listening else []
        mentioned = [u for u in others if u not in online][:3]
        if online:
            channels = []
            for u in online:
                node.r.execute_command("CHAT.ONLINE", u, "TTL", 86400)
                channels.append(node.r.execute_command("CHAT.CHANNELS", u)[1].decode())
            reader = subprocess.Popen([sys.executable, bench.__file__, "--drain", str(node.port), *channels],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while any(node.r.execute_command("PUBSUB", "NUMSUB", c)[1] == 0 for c in channels):
                time.sleep(0.05)

        def sends(extra):
            def run():
                pipe = node.r.pipeline(transaction=False)
                for _ in range(n):
                    pipe.execute_command("CHAT.SEND", "counted", sender, TEXT, *extra)
                pipe.execute()
            return counted(node, run) / n

        plain, reply = [], []
        for _ in range(rounds):
            plain.append(sends([]))
            reply.append(sends(reply_args(node.r, "counted", sender, mentioned)))
        return {"plain": statistics.median(plain), "reply": statistics.median(reply)}
    finally:
        if reader:
            reader.kill()
            reader.wait()
        node.stop()


def throughput(n, rounds):
    # A history long enough that no root leaves it during its round.
    server = bench.Server(("fanout-max-members", "1000000", "history-max", str(4 * n)))
    try:
        room, users, online, push = bench.setup_room(server, MEMBERS, prefix="talk")
        server.listen([push[u] for u in online])
        sender = users[0]
        mentioned = [u for u in users[1:] if u not in online][:3]
        plain, reply = [], []
        for _ in range(rounds):
            plain.append(bench.benchmark(server.port, n, "CHAT.SEND", room, sender, TEXT))
            extra = reply_args(server.r, room, sender, mentioned)
            reply.append(bench.benchmark(server.port, n, "CHAT.SEND", room, sender, TEXT, *extra))
        return {"plain": statistics.median(plain), "reply": statistics.median(reply)}
    finally:
        server.stop()


def conversation(rounds, scale, quick):
    n = max(1_000, int(50_000 * scale))
    counted_runs = None
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        sends, times = (200, 1) if quick else (2_000, 3)
        counted_runs = {"offline": instructions(sends, times, listening=False),
                        "listening": instructions(sends, times, listening=True)}
    return {"instructions": counted_runs, "throughput": throughput(n, rounds), "rounds": rounds, "n": n}


def conversation_lines(data):
    lines = [
        "## A reply with mentions",
        "",
        f"CHAT.SEND to a room of {MEMBERS} members, plain and with `REPLY <id>` and three `MENTION`s "
        "(the three mentioned are offline and never read). Instructions per send on the server "
        "(callgrind), with every other member offline (nine inbox copies a send) and with every other one "
        "online and listening (five live deliveries, four copies). Sends/s with redis-benchmark, half "
        f"online and listening, {data['n']:,} sends per round (`history-max` {4 * data['n']:,}, so that no "
        f"root leaves the history during its round), medians of {data['rounds']} alternating rounds: "
        "timings on this machine vary by 20% from round to round, instruction counts do not.",
        "",
        "| send | instructions, all offline | instructions, half listening | sends/s, half listening |",
        "|---|---|---|---|",
    ]
    i, t = data["instructions"], data["throughput"]

    def cell(values, kind):
        return f"{values[kind]:,.0f} ({values[kind] / values['plain']:.2f}x)"

    for kind, label in (("plain", "plain"), ("reply", "`REPLY` and three `MENTION`s")):
        counts = (f"{cell(i['offline'], kind)} | {cell(i['listening'], kind)}" if i
                  else "(valgrind not installed) | ")
        lines.append(f"| {label} | {counts} | {cell(t, kind)} |")
    return lines
