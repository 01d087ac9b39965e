"""The memory and persistence sections of scripts/bench:

- capacity: a realistic dataset, in bytes per user, for the module, for the
  design a Redis user would write with a Lua script instead, and for the
  payload itself;
- memory per thing: an idle user, a small room, a stored message, an inbox
  copy, each against its target;
- RDB save and load of a million messages, against the same messages in
  plain streams.

Everything goes through the documented CHAT.* commands and never names one
of the module's keys: how the module lays out its data is its own business
(and is being replaced); what a user of the commands pays is what is
measured. bench.py imports this file and writes what it returns into its
report.
"""

import itertools
import json
import os
import random
import statistics
import time
from dataclasses import dataclass

from bench import Server

# Any fixed seed: every run, and both designs, measure the same data.
SEED = 12
# Commands per pipeline round trip while loading.
BATCH = 5000
# Random bytes mapped onto the 95 printable ASCII characters (space to ~).
PRINTABLE = bytes(32 + b % 95 for b in range(256))
# Configs that keep every message and every inbox copy, for the per-message
# measurements (the defaults keep 10,000 and 1,000).
KEEP_ALL = ("history-max", "100000000", "inbox-max", "100000000")
HISTORY_MAX, INBOX_MAX = 10_000, 1000  # the defaults, which the capacity dataset runs with
KEEP = 3  # inbox copies each user leaves unacknowledged in the capacity dataset
# How skewed room activity is in the capacity dataset (see capacity_dataset).
# It sets how many rooms get a message and how many users an inbox copy, which
# is what a key per history or inbox costs for: 0.9 would put the module
# about 8% higher, 1.1 about 8% lower.
ZIPF_EXPONENT = 1.0


def random_text(rng, low, high):
    """`low` to `high` bytes of random printable ASCII: no repetition for an
    encoding to exploit that real text would not offer too."""
    return rng.randbytes(rng.randint(low, high)).translate(PRINTABLE).decode()


def run(r, commands):
    """Sends `commands` (tuples of arguments), pipelined BATCH at a time;
    returns the replies. The first error reply raises."""
    replies, commands = [], iter(commands)
    while batch := list(itertools.islice(commands, BATCH)):
        pipe = r.pipeline(transaction=False)
        for command in batch:
            pipe.execute_command(*command)
        replies += pipe.execute()
    return replies


def acknowledge(r, users, keep):
    """Each user acknowledges all but their newest `keep` inbox copies, as
    an app does: CHAT.FETCH, then CHAT.ACK of a delivery, which removes it
    and everything older. A page holds at most 1,000 copies, oldest first,
    and an inbox may hold a few more (it keeps at least inbox-max): a full
    page is acknowledged up to its newest `keep` and fetched again."""
    pending = list(users)
    while pending:
        pages = run(r, (("CHAT.FETCH", u, "COUNT", 1000) for u in pending))
        run(r, (("CHAT.ACK", u, json.loads(page[-keep - 1])["delivery"])
                for u, page in zip(pending, pages) if len(page) > keep))
        pending = [u for u, page in zip(pending, pages) if len(page) == 1000]


def purged_delta(server, load):
    """used_memory after `load(server.r)` minus before, both after MEMORY
    PURGE."""
    before = server.purged_memory()
    load(server.r)
    return server.purged_memory() - before


def memory_usage_sum(r):
    """The sum of MEMORY USAGE <key> SAMPLES 0 over every key (SCAN): what
    the server says its keys hold."""
    keys = list(r.scan_iter(count=1000))
    return sum(n or 0 for n in run(r, (("MEMORY", "USAGE", key, "SAMPLES", 0) for key in keys)))


# ---------------------------------------------------------------------------
# Capacity: the dataset, loaded into the module and into the Lua design.


@dataclass
class Dataset:
    users: list  # (user id, name)
    rooms: list  # (room id, title, member ids)
    sends: list  # (room index, sender id, text), in the order they are sent

    def copies(self):
        """For each send, in order, the members it copies to: everyone but
        the sender (every member is offline and every room fans out)."""
        for room, sender, _ in self.sends:
            yield [m for m in self.rooms[room][2] if m != sender]


def capacity_dataset(scale):
    """20,000 users; 6,000 rooms of 2, 1,500 of 10 and 50 of 100, members
    drawn at random from the users; 60,000 sends of 40 to 120 bytes, each by
    a random member of its room (all scaled by `scale`).

    Room activity is Zipf-like: the rooms, shuffled so that busy rooms come
    in every size, get weights 1/k^ZIPF_EXPONENT for k = 1, 2, 3, ... (1,
    1/2, 1/3, ...) in that order, and each send picks its room by weight. At full scale the busiest room gets about 10%
    of the sends (6,357, a two-member room), half of all sends go to the 65
    busiest rooms, and a fifth of the rooms get none."""
    rng = random.Random(SEED)
    users = [(f"u{i}", f"User {i}") for i in range(round(20_000 * scale))]
    ids = [u for u, _ in users]
    rooms = []
    for size, count in ((2, 6000), (10, 1500), (100, 50)):
        for _ in range(max(1, round(count * scale))):
            rooms.append((f"r{len(rooms)}", f"Room {len(rooms)}", rng.sample(ids, size)))
    order = list(range(len(rooms)))
    rng.shuffle(order)
    weights = [0.0] * len(rooms)
    for rank, room in enumerate(order, 1):
        weights[room] = 1 / rank**ZIPF_EXPONENT
    picks = rng.choices(range(len(rooms)), weights=weights, k=round(60_000 * scale))
    sends = [(room, rng.choice(rooms[room][2]), random_text(rng, 40, 120)) for room in picks]
    return Dataset(users, rooms, sends)


def load_module(r, ds):
    """The dataset through CHAT.* commands, with nobody online; then each
    user acknowledges all but their newest KEEP inbox copies."""
    run(r, (("CHAT.REGISTER", u, name) for u, name in ds.users))
    run(r, (("CHAT.CREATE", room, title) for room, title, _ in ds.rooms))
    run(r, (("CHAT.SUBSCRIBE", room, m) for room, _, members in ds.rooms for m in members))
    biggest = max(ds.rooms, key=lambda room: len(room[2]))[0]
    info = dict(zip(*[iter(r.execute_command("CHAT.INFO", biggest))] * 2))
    if info[b"mode"] != b"fanout":
        raise RuntimeError(f"room {biggest} is {info[b'mode']!r}: raise chat.fanout-max-members")
    run(r, (("CHAT.SEND", ds.rooms[room][0], sender, text) for room, sender, text in ds.sends))
    acknowledge(r, [u for u, _ in ds.users], KEEP)


def cjson(document):
    """A document as Lua's cjson.encode writes it: compact, with "/"
    escaped."""
    return json.dumps(document, separators=(",", ":")).replace("/", "\\/")


def load_lua(r, ds):
    """The dataset in the layout a Redis user would give the Lua-script
    design (LUA_SEND in bench.py does the sends), written with plain
    commands, since the layout, not the script, is measured:

      lua:user:{U}          hash name, created
      lua:user:{U}:rooms    set of room ids
      lua:user:{U}:inbox    list of JSON message documents, newest last,
                            trimmed to inbox-max on each push
      lua:room:{R}          hash title, created, last_id
      lua:room:{R}:members  set of member ids
      lua:room:{R}:read     hash member -> read cursor (the sender's moves)
      lua:room:{R}:counts   hash sender -> messages sent
      lua:room:{R}:log      stream, entry <id>-0: sender, text, ts;
                            XADD ... MAXLEN ~ history-max

    Acknowledging all but the newest KEEP copies is an LTRIM."""
    now = int(time.time() * 1000)
    run(r, (("HSET", f"lua:user:{{{u}}}", "name", name, "created", now) for u, name in ds.users))
    run(r, (("HSET", f"lua:room:{{{room}}}", "title", title, "created", now, "last_id", 0)
            for room, title, _ in ds.rooms))
    run(r, (command for room, _, members in ds.rooms for m in members for command in (
        ("SADD", f"lua:room:{{{room}}}:members", m),
        ("HSET", f"lua:room:{{{room}}}:read", m, 0),
        ("SADD", f"lua:user:{{{m}}}:rooms", room))))
    run(r, lua_sends(ds, now))
    run(r, (("LTRIM", f"lua:user:{{{u}}}:inbox", -KEEP, -1) for u, _ in ds.users))


def lua_sends(ds, now):
    """The writes of each send, as the script makes them."""
    last_id = [0] * len(ds.rooms)
    inbox_length = {}
    for i, ((room_index, sender, text), copies) in enumerate(zip(ds.sends, ds.copies())):
        room = ds.rooms[room_index][0]
        last_id[room_index] += 1
        n, ts = last_id[room_index], now + i
        yield ("XADD", f"lua:room:{{{room}}}:log", "MAXLEN", "~", HISTORY_MAX, f"{n}-0",
               "sender", sender, "text", text, "ts", ts)
        yield ("HINCRBY", f"lua:room:{{{room}}}", "last_id", 1)
        yield ("HINCRBY", f"lua:room:{{{room}}}:counts", sender, 1)
        yield ("HSET", f"lua:room:{{{room}}}:read", sender, n)
        document = cjson({"type": "message", "room": room, "id": n, "sender": sender, "text": text, "ts": ts})
        for member in copies:
            yield ("RPUSH", f"lua:user:{{{member}}}:inbox", document)
            inbox_length[member] = inbox_length.get(member, 0) + 1
            # The script trims after every push; only a trim that removes
            # something changes the layout, so only those are sent.
            if inbox_length[member] > INBOX_MAX:
                yield ("LTRIM", f"lua:user:{{{member}}}:inbox", -INBOX_MAX, -1)
                inbox_length[member] = INBOX_MAX


def payload_floor(ds):
    """The bytes of the data itself, the least any layout must hold: the
    texts of the messages the histories keep (each room's newest
    HISTORY_MAX), the texts of the inbox copies kept (each user's newest
    KEEP), each user's id and name, each room's id and title, and one user id
    per membership. Not counted: message ids, timestamps and senders, read
    cursors, per-sender counts, key names, any structure."""
    texts_by_room = {}
    inbox = {}
    for (room, _, text), copies in zip(ds.sends, ds.copies()):
        texts_by_room.setdefault(room, []).append(text)
        for member in copies:
            inbox.setdefault(member, []).append(text)
    histories = sum(len(t) for texts in texts_by_room.values() for t in texts[-HISTORY_MAX:])
    copies = sum(len(t) for texts in inbox.values() for t in texts[-KEEP:])
    users = sum(len(u) + len(name) for u, name in ds.users)
    rooms = sum(len(room) + len(title) for room, title, _ in ds.rooms)
    memberships = sum(len(m) for _, _, members in ds.rooms for m in members)
    return {"histories": histories, "copies": copies, "users": users, "rooms": rooms,
            "memberships": memberships, "total": histories + copies + users + rooms + memberships}


def capacity(scale):
    """Bytes per user of the capacity dataset: the module, the Lua design
    (each on a fresh server), the payload floor; and what MEMORY USAGE
    reports for every key against the used_memory delta."""
    ds = capacity_dataset(scale)
    users = len(ds.users)
    sizes = [len(members) for _, _, members in ds.rooms]
    sends_per_room = [0] * len(ds.rooms)
    for room, _, _ in ds.sends:
        sends_per_room[room] += 1
    results = {"users": users, "rooms": {size: sizes.count(size) for size in sorted(set(sizes))},
               "sends": len(ds.sends), "busiest": max(sends_per_room), "quiet": sends_per_room.count(0),
               "copies": sum(len(c) for c in ds.copies())}
    for design, module, load in (("module", True, load_module), ("lua", False, load_lua)):
        server = Server(module=module)
        try:
            delta = purged_delta(server, lambda r: load(r, ds))
            results[design] = delta / users
            results[f"{design}_usage"] = memory_usage_sum(server.r) / delta
        finally:
            server.stop()
    results["payload"] = {k: v / users for k, v in payload_floor(ds).items()}
    return results


# ---------------------------------------------------------------------------
# Memory per thing: each on a fresh server, used_memory deltas after MEMORY
# PURGE, over many instances so that allocator rounding averages out.


def idle_user(n):
    """Bytes per registered user without a password, in no room."""
    server = Server()
    try:
        return purged_delta(server, lambda r: run(
            r, (("CHAT.REGISTER", f"u{i}", f"User {i}") for i in range(n)))) / n
    finally:
        server.stop()


def small_room(n):
    """Bytes per two-member room holding 5 messages of 40 to 60 bytes, its
    texts and both memberships included, not the two users (registered
    before the first measurement). Both members have read and acknowledged
    every message, so no inbox copy is left to count; whatever an emptied
    inbox keeps is counted in."""
    rng = random.Random(SEED)
    server = Server()
    try:
        r = server.r
        run(r, (("CHAT.REGISTER", f"u{i}", f"User {i}") for i in range(2 * n)))

        def load(r):
            run(r, (("CHAT.CREATE", f"r{i}", f"Room {i}") for i in range(n)))
            run(r, (("CHAT.SUBSCRIBE", f"r{i}", f"u{2 * i + k}") for i in range(n) for k in (0, 1)))
            run(r, (("CHAT.SEND", f"r{i}", f"u{2 * i + k % 2}", random_text(rng, 40, 60))
                    for i in range(n) for k in range(5)))
            acknowledge(r, [f"u{i}" for i in range(2 * n)], keep=0)
        return purged_delta(server, load) / n
    finally:
        server.stop()


def messages(n, members, text_bytes=60, rooms=10):
    """Bytes per message of `text_bytes`, n of them sent over `rooms` rooms
    by one member each, measured from after the rooms were set up: with one
    member the message is only stored; with two, the other member, offline,
    also gets an inbox copy."""
    rng = random.Random(SEED)
    server = Server(KEEP_ALL)
    try:
        r = server.r
        run(r, (("CHAT.REGISTER", f"u{i}-{k}", "User") for i in range(rooms) for k in range(members)))
        run(r, (("CHAT.CREATE", f"r{i}", "Room") for i in range(rooms)))
        run(r, (("CHAT.SUBSCRIBE", f"r{i}", f"u{i}-{k}") for i in range(rooms) for k in range(members)))
        return purged_delta(server, lambda r: run(r, (
            ("CHAT.SEND", f"r{i % rooms}", f"u{i % rooms}-0", random_text(rng, text_bytes, text_bytes))
            for i in range(n)))) / n
    finally:
        server.stop()


def things(scale):
    """Each thing's bytes (see the functions above); messages of 60 bytes."""
    counts = {"users": max(200, round(20_000 * scale)), "rooms": max(100, round(5000 * scale)),
              "messages": max(1000, round(100_000 * scale))}
    stored = messages(counts["messages"], members=1)
    with_copy = messages(counts["messages"], members=2)
    return {"user": idle_user(counts["users"]), "room": small_room(counts["rooms"]),
            "message": stored, "copy": with_copy - stored, "text": 60, "counts": counts}


# ---------------------------------------------------------------------------
# RDB save and load.


def rdb_dataset(scale):
    """1,000 rooms (fewer when scaled) of one member each, who sends 1,000
    messages of 40 to 120 bytes there, rooms in random order: with a single
    member nothing is copied to an inbox, so the file holds the messages
    and little else."""
    rng = random.Random(SEED)
    rooms = max(2, round(1000 * scale))
    order = [room for room in range(rooms) for _ in range(1000)]
    rng.shuffle(order)
    return rooms, [(room, random_text(rng, 40, 120)) for room in order]


def save_and_load(module, load, check, rounds=3):
    """On a fresh server (with the module or not): the seconds it takes to
    start empty; then, after `load(r)`, SAVE's wall-clock seconds, the RDB
    file's bytes, and the seconds a restart on that file takes until PING
    answers (medians of `rounds`), `check(r)` telling each time that the
    data came back."""
    server = Server(module=module)
    try:
        results = {"empty": server.restart()}
        load(server.r)
        saves, loads = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            server.r.execute_command("SAVE")
            saves.append(time.perf_counter() - started)
            loads.append(server.restart())
            check(server.r)
        results.update(save=statistics.median(saves), load=statistics.median(loads),
                       size=os.path.getsize(os.path.join(server.dir, "dump.rdb")))
        return results
    finally:
        server.stop()


def rdb(scale):
    """SAVE and load of the RDB dataset in the module, and of the same
    messages in one plain stream per room (XADD <n>-0 sender text ts)."""
    rooms, sends = rdb_dataset(scale)

    def load_module(r):
        run(r, (("CHAT.REGISTER", f"u{i}", f"User {i}") for i in range(rooms)))
        run(r, (("CHAT.CREATE", f"r{i}", f"Room {i}") for i in range(rooms)))
        run(r, (("CHAT.SUBSCRIBE", f"r{i}", f"u{i}") for i in range(rooms)))
        run(r, (("CHAT.SEND", f"r{room}", f"u{room}", text) for room, text in sends))

    def check_module(r):
        info = dict(zip(*[iter(r.execute_command("CHAT.INFO", "r0"))] * 2))
        if info[b"messages"] != 1000:
            raise RuntimeError(f"after the restart room r0 holds {info[b'messages']} messages, not 1000")

    def xadds():
        now, ids = int(time.time() * 1000), [0] * rooms
        for i, (room, text) in enumerate(sends):
            ids[room] += 1
            yield ("XADD", f"log:{{r{room}}}", f"{ids[room]}-0", "sender", f"u{room}", "text", text,
                   "ts", now + i)

    def check_streams(r):
        if r.xlen("log:{r0}") != 1000:
            raise RuntimeError("after the restart the stream of r0 does not hold 1000 entries")

    return {"messages": len(sends), "rooms": rooms,
            "module": save_and_load(True, load_module, check_module),
            "streams": save_and_load(False, lambda r: run(r, xadds()), check_streams)}


# ---------------------------------------------------------------------------
# The report's sections, in bench.py's style.


def capacity_lines(c):
    p = c["payload"]
    counts = [f"{count:,} room{'s' if count > 1 else ''} of {size}" for size, count in c["rooms"].items()]
    rooms = ", ".join(counts[:-1]) + " and " + counts[-1]
    return [
        "## Capacity",
        "",
        f"One dataset, loaded into the module and into the design a Redis user would write with a Lua script "
        f"instead: {c['users']:,} users; {rooms} (members drawn at random from the users); "
        f"{c['sends']:,} sends of 40 to 120 bytes of random printable text, to rooms picked by "
        f"Zipf-like weights (the room of rank k weighs 1/k^{ZIPF_EXPONENT:g}: the busiest room gets "
        f"{c['busiest']:,} sends, "
        f"{c['quiet']:,} rooms none); every member offline, so each send copies to "
        f"every other member's inbox ({c['copies']:,} copies); then every user acknowledges all but their "
        f"newest {KEEP} inbox copies. Default configs. `used_memory` before and after, after `MEMORY PURGE`, "
        "on a fresh server for each design:",
        "",
        "| design | bytes per user | vs the Lua design |",
        "|---|---|---|",
        f"| the module (`CHAT.*`) | {c['module']:,.0f} | {c['module'] / c['lua']:.2f}x |",
        f"| the Lua design: hashes and sets, a stream per room, a list of JSON documents per inbox "
        f"| {c['lua']:,.0f} | 1.00x |",
        f"| the payload floor | {p['total']:,.0f} | {p['total'] / c['lua']:.2f}x |",
        "",
        f"The payload floor counts the data itself, per user: message texts kept in histories "
        f"({p['histories']:,.0f} B), inbox copies' texts kept ({p['copies']:,.0f} B), user ids and names "
        f"({p['users']:,.0f} B), room ids and titles ({p['rooms']:,.0f} B), one user id per membership "
        f"({p['memberships']:,.0f} B); no message ids, timestamps, senders, cursors, counts or key names.",
        "",
        "What the server says its keys hold: the sum of `MEMORY USAGE <key> SAMPLES 0` over every key, "
        "as a share of the `used_memory` delta (target for the module: within 10%):",
        "",
        "| design | MEMORY USAGE / used_memory delta |",
        "|---|---|",
        f"| the module | {c['module_usage']:.0%} |",
        f"| the Lua design (native types only) | {c['lua_usage']:.0%} |",
    ]


def things_lines(t):
    n, text = t["counts"], t["text"]

    def plus(value):
        return f"{value:,.1f} (text + {value - text:.0f})"

    rows = [
        ("a registered idle user (`CHAT.REGISTER`, no password), its keys included",
         f"{t['user']:,.0f}", "<= 150", t["user"] <= 150),
        ("a two-member room with 5 messages of 40-60 B, texts and memberships included, not the users",
         f"{t['room']:,.0f}", "<= 1,024", t["room"] <= 1024),
        (f"a stored message of {text} B, amortized", plus(t["message"]), "<= text + 24", t["message"] - text <= 24),
        (f"an inbox copy of a message of {text} B", plus(t["copy"]), "<= text + 40", t["copy"] - text <= 40),
    ]
    lines = [
        "## Memory per thing",
        "",
        f"Each on a fresh server, from `used_memory` deltas after `MEMORY PURGE` over many of them "
        f"({n['users']:,} users, {n['rooms']:,} rooms, {n['messages']:,} messages in 10 rooms). The stored "
        "message is sent in rooms whose only member is the sender (nothing to copy); the inbox copy is what "
        "a second, offline member adds to that; both with history-max and inbox-max raised to keep "
        "everything. The room's members have acknowledged its messages.",
        "",
        "| what | bytes | target | met |",
        "|---|---|---|---|",
    ]
    for what, value, target, met in rows:
        lines.append(f"| {what} | {value} | {target} | {'yes' if met else 'no'} |")
    return lines


def rdb_lines(d, quick):
    def row(what, m):
        return f"| {what} | {m['size'] / 1e6:,.1f} MB | {m['save']:.2f} s | {m['load']:.2f} s | {m['empty']:.2f} s |"

    return [
        "## RDB save and load",
        "",
        f"{d['messages']:,} messages of 40 to 120 bytes, 1,000 in each of {d['rooms']:,} rooms whose only "
        "member sent them (no inbox copies), against the same messages in one plain stream per room "
        "(`XADD <n>-0 sender <id> text <text> ts <ms>`). `SAVE` is the command's wall-clock time; the load, "
        "that of a restart of the server on the file until it answers `PING`"
        f"{' (this quick run keeps a fiftieth of the full run)' if quick else ''}; medians of 3. Only the "
        "full run measures a million messages; it is the slowest section.",
        "",
        "| data | RDB file | SAVE | load | start when empty |",
        "|---|---|---|---|---|",
        row("the module", d["module"]),
        row("plain streams", d["streams"]),
    ]
