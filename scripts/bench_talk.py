"""The `conversation` section of scripts/bench: what a reply with mentions
costs against a plain send.

A room of 10 members, the first of whom sends; half of the others online
with a real subscriber on their push channel, half offline (inbox copies):
the `send` section's 10-member room. Rounds alternate a plain CHAT.SEND and
a CHAT.SEND ... REPLY <id> MENTION a MENTION b MENTION c to the same room,
each round replying to a message sent just before it, so that the root is
still in the history (default `chat.history-max`) and its thread grows
through the round; the three mentioned members are offline, so their
unread mentions pile up as an away user's would.
"""

import statistics

import bench

MEMBERS = 10


def conversation(rounds, scale):
    server = bench.Server(("fanout-max-members", "1000000"))
    try:
        room, users, online, push = bench.setup_room(server, MEMBERS, prefix="talk")
        server.listen([push[u] for u in online])
        sender = users[0]
        offline = [u for u in users[1:] if u not in online]
        mentions = [w for u in offline[:3] for w in ("MENTION", u)]
        # Below the default chat.history-max (10000), so no root is trimmed
        # during its round.
        n = max(200, int(8_000 * scale))
        plain, reply = [], []
        for _ in range(rounds):
            plain.append(bench.benchmark(server.port, n, "CHAT.SEND", room, sender, bench.TEXT))
            root = server.r.execute_command("CHAT.SEND", room, sender, "root")
            reply.append(bench.benchmark(
                server.port, n, "CHAT.SEND", room, sender, bench.TEXT, "REPLY", str(root), *mentions))
        thread = server.r.execute_command("CHAT.THREAD", room, root, "COUNT", 1)
        assert thread and b'"replies":' in thread[0], thread
        return {"plain": statistics.median(plain), "reply": statistics.median(reply),
                "rounds": rounds, "n": n}
    finally:
        server.stop()


def conversation_lines(data):
    plain, reply = data["plain"], data["reply"]
    return [
        "## A reply with mentions",
        "",
        f"CHAT.SEND to a room of {MEMBERS} members (half online, listening; half offline), "
        f"{data['n']:,} sends per round, medians of {data['rounds']} alternating rounds.",
        "",
        "| send | sends/s | vs a plain send |",
        "|---|---|---|",
        f"| plain | {plain:,.0f} | 1.00 |",
        f"| `REPLY <id>` and three `MENTION`s | {reply:,.0f} | {reply / plain:.2f} |",
    ]
