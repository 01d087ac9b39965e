"""The `events` section of scripts/bench: what notifications cost a send,
and how fast presence changes reach a subscriber.

Notifications. A room of 10 members, the first of whom sends, half of the
others online with a real subscriber on their push channel (five live
deliveries a send) and the other four away, each with `CHAT.NOTIFY ...
all`: every send records four notifications, one entry in `chat:notify`
naming the four, against the same sends with `chat.notify-max 0`, which
records none. The stream is filled to `chat.notify-max` (the default,
100,000) before the first measure, so that each entry added also trims, as
on a server that has run for a while. Two measures, as in the
`conversation` section: instructions per send on the server (valgrind's
callgrind, exact where timings vary) and sends/s with redis-benchmark,
medians of alternating rounds.

Presence churn. 10,000 users go online and offline, `CHAT.ONLINE <u> TTL
60` then `CHAT.OFFLINE <u>` for each in turn, pipelined by one client
(`redis-cli --pipe`), a few passes, while one connection listens on every
presence channel (`PSUBSCRIBE chat:user:*:presence`) and counts the
events: each command changes a presence, so each publishes one event.
Events per second delivered, from the first command sent to the last
event received; and the same commands with nobody listening.
"""

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import bench
import bench_cluster

MEMBERS = 10
TEXT = bench.TEXT
NOTIFY_MAX = 100_000  # the module's default chat.notify-max
CASES = ("off", "on")
LABELS = {
    "off": "notifications off (`chat.notify-max 0`)",
    "on": "notifications on: four members away with `all`, one entry a send naming the four",
}


# ---------------------------------------------------------------------------
# Notifications.

def notify_room(r, prefix):
    """Room <prefix> of 10 members, the odd ones online, the even others away
    with notify all; returns (room, sender, online, away)."""
    room = prefix
    users = [f"{prefix}-{i}" for i in range(MEMBERS)]
    online, away = users[1::2], users[2::2]
    pipe = r.pipeline(transaction=False)
    for u in users:
        pipe.execute_command("CHAT.REGISTER", u, u)
    pipe.execute_command("CHAT.CREATE", room, room)
    for u in users:
        pipe.execute_command("CHAT.SUBSCRIBE", room, u)
    for u in online:
        pipe.execute_command("CHAT.ONLINE", u, "TTL", 86400)
    for u in away:
        pipe.execute_command("CHAT.NOTIFY", u, "all")
    pipe.execute()
    return room, users[0], online, away


def push_channels(r, users):
    return [r.execute_command("CHAT.CHANNELS", u)[1].decode() for u in users]


def notifications(r):
    """(notifications recorded, messages sent) so far."""
    chat = r.info("chat")
    return int(chat.get("chat_notifications", 0)), int(chat.get("chat_messages_sent", 0))


def with_notify(r, case):
    r.execute_command("CONFIG", "SET", "chat.notify-max", NOTIFY_MAX if case == "on" else 0)


def fill(r, room, sender, away, batch=5_000):
    """Sends until the notification stream holds chat.notify-max entries, so
    that every measured send's entry trims too (not timed)."""
    sends = NOTIFY_MAX  # one entry a send
    for start in range(0, sends, batch):
        pipe = r.pipeline(transaction=False)
        for _ in range(min(batch, sends - start)):
            pipe.execute_command("CHAT.SEND", room, sender, TEXT)
        pipe.execute()


def checked(r, case, n, away, run):
    """Runs `run()` and checks the notifications it recorded (members
    notified, `chat_notifications`): four a send when on, none when off."""
    (notes, sent) = notifications(r)
    result = run()
    notes, sent = notifications(r)[0] - notes, notifications(r)[1] - sent
    want = sent * len(away) if case == "on" else 0
    if sent < n or notes != want:
        raise RuntimeError(f"notifications {case}: {notes} recorded for {sent} sends, wanted {want}")
    return result


# Where a send's instructions go when it records notifications: the
# module's recording, within it Redis's stream append (listpacks), and the
# send's propagation, which carries the entry (measured in both cases).
PARTS = (("record", "redis_chat::commands::notify::Notifications::record"),
         ("stream_add", "RM_StreamAdd"), ("append", "streamAppendItem"),
         ("consider", "chat_core::notify::Recipients::consider"),
         ("replicate", "RM_Replicate"))


def counted(node, run):
    """Instructions the server executes while `run()` runs, and the
    inclusive count of each function of PARTS (from the same dump)."""
    pid = str(node.proc.pid)
    subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
    run()
    subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    dumps = [os.path.join(node.dir, f) for f in os.listdir(node.dir) if f.startswith("callgrind.")]
    newest = max(dumps, key=os.path.getmtime)
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", newest], capture_output=True,
                         text=True).stdout
    total = next(int(l.split()[0].replace(",", "")) for l in out.splitlines() if "PROGRAM TOTALS" in l)
    parts = {}
    for name, function in PARTS:
        for line in out.splitlines():
            # "  147,562,343 (56.48%)  ???:RM_Call [/usr/bin/redis-server]"
            if line.split("[")[0].rstrip().endswith(f":{function}"):
                parts[name] = int(line.split()[0].replace(",", ""))
                break
    return total, parts


def instructions(n, rounds, quick):
    """Instructions per send, notifications on and off, and where those of
    a send with notifications go (the last round's)."""
    node = bench_cluster.Node(bench.free_port(), counted=True, cluster=False)
    reader = None
    try:
        room, sender, online, away = notify_room(node.r, "counted")
        channels = push_channels(node.r, online)
        reader = subprocess.Popen([sys.executable, bench.__file__, "--drain", str(node.port), *channels],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while any(node.r.execute_command("PUBSUB", "NUMSUB", c)[1] == 0 for c in channels):
            time.sleep(0.05)
        with_notify(node.r, "on")
        if not quick:
            fill(node.r, room, sender, away)

        def sends(case):
            with_notify(node.r, case)

            def run():
                pipe = node.r.pipeline(transaction=False)
                for _ in range(n):
                    pipe.execute_command("CHAT.SEND", room, sender, TEXT)
                pipe.execute()
            total, parts = checked(node.r, case, n, away, lambda: counted(node, run))
            return total / n, {name: count / n for name, count in parts.items()}

        counts = {case: [] for case in CASES}
        parts = {}
        for _ in range(rounds):
            for case in CASES:
                total, parts[case] = sends(case)
                counts[case].append(total)
        result = {case: statistics.median(v) for case, v in counts.items()}
        result["parts"] = parts["on"]
        result["parts_off"] = parts["off"]
        return result
    finally:
        if reader:
            reader.kill()
            reader.wait()
        node.stop()


def throughput(n, rounds, quick):
    """Sends/s with redis-benchmark, notifications on and off, alternating."""
    server = bench.Server()
    try:
        room, sender, online, away = notify_room(server.r, "timed")
        server.listen(push_channels(server.r, online))
        with_notify(server.r, "on")
        if not quick:
            fill(server.r, room, sender, away)
        rates = {case: [] for case in CASES}
        for i in range(rounds):
            for case in (CASES if i % 2 == 0 else CASES[::-1]):
                with_notify(server.r, case)
                rates[case].append(checked(server.r, case, n, away, lambda: bench.benchmark(
                    server.port, n, "CHAT.SEND", room, sender, TEXT)))
        length = server.r.execute_command("XLEN", "chat:notify")
        return {"rates": {case: statistics.median(v) for case, v in rates.items()}, "stream": length}
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# Presence churn.

def counter(port, pattern, expected, out):
    """The subscriber process: PSUBSCRIBE `pattern`, count the presence
    events, and write the monotonic time of the last one to `out` once
    `expected` came."""
    sock = socket.create_connection(("127.0.0.1", port))
    name = pattern.encode()
    sock.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$%d\r\n%s\r\n" % (len(name), name))
    marker = b'"type":"presence"'
    seen, tail = 0, b""
    with open(out, "w") as f:
        f.write("ready\n")
    while seen < expected:
        data = sock.recv(1 << 20)
        if not data:
            return
        chunk = tail + data
        seen += chunk.count(marker)
        # A marker cut in two by the read is counted with the next one.
        tail = chunk[-(len(marker) - 1):]
        if marker in tail:
            tail = b""
    with open(out, "w") as f:
        f.write(f"{time.monotonic()}\n")


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def churn(users, passes):
    """Events/s delivered while `users` go online and offline, `passes`
    times each, with one pattern subscriber; and the commands' rate with
    nobody listening."""
    server = bench.Server()
    work = tempfile.mkdtemp(prefix="redis-chat-bench-events-")
    try:
        ids = [f"p{i}" for i in range(users)]
        pipe = server.r.pipeline(transaction=False)
        for u in ids:
            pipe.execute_command("CHAT.REGISTER", u, u)
        pipe.execute()
        commands = os.path.join(work, "commands")
        with open(commands, "wb") as f:
            for _ in range(passes):
                for u in ids:
                    f.write(resp("CHAT.ONLINE", u, "TTL", 60))
                    f.write(resp("CHAT.OFFLINE", u))
        events = 2 * users * passes

        def send():
            started = time.monotonic()
            out = subprocess.run(["redis-cli", "-p", str(server.port), "--pipe"], stdin=open(commands, "rb"),
                                 capture_output=True, text=True, check=True).stdout
            if "errors: 0" not in out:
                raise RuntimeError(f"redis-cli --pipe: {out[-300:]}")
            return started, time.monotonic()

        # Nobody listening: what the commands cost alone.
        started, done = send()
        alone = events / (done - started)
        # One connection on every presence channel.
        mark = os.path.join(work, "last")
        sub = subprocess.Popen([sys.executable, __file__, "--count", str(server.port), "chat:user:*:presence",
                                str(events), mark], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (os.path.exists(mark) and open(mark).read() == "ready\n"):
                time.sleep(0.01)
            while server.r.execute_command("PUBSUB", "NUMPAT") < 1:
                time.sleep(0.01)
            started, sent = send()
            sub.wait(timeout=300)
            last = float(open(mark).read())
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        return {"users": users, "passes": passes, "events": events, "alone": alone,
                "delivered": events / (last - started), "sent": events / (sent - started)}
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------

def events(rounds, scale, quick):
    n = max(1_000, int(50_000 * scale))
    counted_runs = None
    if shutil.which("valgrind") and shutil.which("callgrind_control"):
        sends, times = (200, 1) if quick else (2_000, 3)
        counted_runs = instructions(sends, times, quick)
    users, passes = (1_000, 1) if quick else (10_000, 5)
    churns = [churn(users, passes) for _ in range(1 if quick else rounds)]
    middle = sorted(churns, key=lambda c: c["delivered"])[len(churns) // 2]
    return {"instructions": counted_runs, "throughput": throughput(n, rounds, quick), "rounds": rounds, "n": n,
            "churn": middle, "churn_rounds": len(churns), "filled": not quick}


def events_lines(data):
    i, t = data["instructions"], data["throughput"]["rates"]
    lines = [
        "## Notifications and presence events",
        "",
        f"CHAT.SEND to a room of {MEMBERS} members, half of the others online and listening (five live "
        "deliveries a send), the other four away with `CHAT.NOTIFY ... all`: with notifications on "
        f"(`chat.notify-max` {NOTIFY_MAX:,}, the default; "
        + ("the stream filled to it first, so that each entry added also trims"
           if data.get("filled") else "the stream not filled first, in a quick run")
        + ") every send records four notifications, one entry naming the four, against "
        "`chat.notify-max 0`, which records none. "
        "Instructions per send on the server (callgrind), and sends/s with redis-benchmark, "
        f"{data['n']:,} sends per round, medians of {data['rounds']} alternating rounds.",
        "",
        "| send | instructions | over off | sends/s |",
        "|---|---|---|---|",
    ]
    for case in CASES:
        if i:
            counts = f"{i[case]:,.0f} ({i[case] / i['off']:.2f}x) | {i[case] - i['off']:+,.0f}"
        else:
            counts = "(valgrind not installed) | "
        lines.append(f"| {LABELS[case]} | {counts} | {t[case]:,.0f} ({t[case] / t['off']:.2f}x) |")
    if i and i.get("parts"):
        p = i["parts"]
        lines += [
            "",
            "Where a send's notifications go (instructions per send, callgrind, inclusive): recording the "
            f"entry, {p.get('record', 0):,.0f}; of which in Redis's `RM_StreamAdd`, "
            f"{p.get('stream_add', 0):,.0f}, itself mostly appending to the stream's listpacks, "
            f"{p.get('append', 0):,.0f}; the rest of the recording opens the stream, trims it and makes "
            "the entry's id, time and `to` strings. Noting who is away, "
            f"{p.get('consider', 0):,.0f}. The send's propagation (`RM_Replicate`), which carries the "
            f"entry's id, the stream's length and `to`: {p.get('replicate', 0):,.0f}"
            + (f" (off: {i['parts_off'].get('replicate', 0):,.0f})" if i.get("parts_off") else "")
            + ".",
        ]
    c = data["churn"]
    lines += [
        "",
        f"The stream held {data['throughput']['stream']:,} entries at the end (`MAXLEN ~` trims whole "
        "nodes of 100 entries).",
        "",
        f"Presence churn: {c['users']:,} users, each `CHAT.ONLINE <u> TTL 60` then `CHAT.OFFLINE <u>`, "
        f"{c['passes']} pass{'' if c['passes'] == 1 else 'es'}, pipelined by one client (`redis-cli --pipe`): "
        f"{c['events']:,} changes of "
        "presence, each published once on the user's presence channel, with one connection listening on "
        "all of them (`PSUBSCRIBE chat:user:*:presence`)"
        + (f"; the median of {data['churn_rounds']} runs." if data["churn_rounds"] > 1 else "."),
        "",
        "| presence churn | rate |",
        "|---|---|",
        f"| events delivered to the subscriber (first command to last event) | {c['delivered']:,.0f}/s |",
        f"| commands sent, with the subscriber | {c['sent']:,.0f}/s |",
        f"| the same commands, nobody listening | {c['alone']:,.0f}/s |",
    ]
    return lines


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--count":
        counter(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5])
