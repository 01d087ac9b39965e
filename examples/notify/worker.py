#!/usr/bin/env python3
"""A notification worker for redis-chat: reads the notification streams with
a consumer group and POSTs each notification to a webhook as JSON.

CHAT.SEND records one stream entry per send that concerns a member who is
away (CHAT.NOTIFY decides which: mentions, direct rooms, or every message),
in ``chat:notify`` on one server and in ``chat:notify:{<n>}`` (one stream
per slot) in Redis Cluster. The entry has the message's fields (``room``,
``id``, ``sender``, ``ts``, ``text``) and ``to``, a JSON object naming each
member to notify and why: ``{"bob":"mention","carol":"direct"}``. The
worker POSTs one notification per member in ``to``, and delivers them at
least once:

- it acknowledges (XACK) an entry only once every member it names is done
  with (the webhook answered 2xx, or the member was skipped), so a
  notification is never lost: a worker killed at any point leaves the entry
  pending in the group, and the next run delivers it;
- on start, and every ``--retry-pending-s`` seconds, it first goes through
  its own pending entries (XREADGROUP from id 0), then takes over entries
  other consumers left pending for longer than ``--claim-idle-ms``
  (XAUTOCLAIM), and only then reads new ones (XREADGROUP >);
- a member who is online by the time the worker gets to them (CHAT.PROFILE
  says ``online`` 1) is not notified: they count as done, without a POST,
  and it is logged;
- a POST that fails (no connection, a timeout, 5xx, 408, 429) is retried
  with exponential backoff, ``--attempts`` times at most. When they run out
  the webhook is taken to be down: that entry and the rest of its batch stay
  pending and the worker reads nothing new until the next pass over its
  pending entries, ``--retry-pending-s`` later. A webhook that refuses a
  notification (another 4xx) is not asked again in the same pass: the
  worker goes on with the entry's other members and the next entries, the
  entry stays pending, and the next pass asks again for that member only
  (the worker remembers whom it has done with of each entry it holds). No
  entry is ever dropped by the worker: what stays pending is listed by
  ``XPENDING <stream> <group>``, and goes only when the webhook takes it,
  when an operator acknowledges it, or when ``chat.notify-max`` trims it
  from the stream (then the worker acknowledges it, with nothing to send).

Each POST carries an ``Idempotency-Key`` header, ``<stream>/<entry id>:<user>``,
one per notification: a worker killed in the middle of an entry, or after
the webhook answered but before its XACK, posts that entry's notifications
again on its next run, and the receiver can tell.

    pip install -r examples/notify/requirements.txt
    python3 examples/notify/worker.py --webhook http://127.0.0.1:8000/notify
    python3 examples/notify/worker.py --cluster --redis redis://127.0.0.1:7001 \\
        --webhook http://127.0.0.1:8000/notify

See examples/notify/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import random
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlparse

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis_chat import Chat

STREAM = "chat:notify"  # one server; in a cluster chat:notify:{<n>}, one per slot
PATTERN = "chat:notify*"

log = logging.getLogger("notify")

# What became of one notification (one member of an entry), or of one entry.
DONE = "done"  # a notification posted (2xx) or skipped
ACKED = "acked"  # an entry whose every notification is done, acknowledged
LEFT = "left"  # refused by the webhook: the entry stays pending, retried in a later pass
DOWN = "down"  # the webhook failed every attempt: stop, retry in a later pass
STOPPED = "stopped"  # the worker is stopping: the entry stays pending


# -- the webhook ------------------------------------------------------------


class Webhook:
    """POSTs JSON, retrying failures with exponential backoff."""

    def __init__(self, url: str, *, timeout: float, attempts: int, backoff: float,
                 max_backoff: float, stop: threading.Event) -> None:
        self.url = url
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.stop = stop

    def _post_once(self, body: bytes, key: str) -> tuple[int | None, str]:
        """The HTTP status (None when no answer came), and a word on it."""
        request = urllib.request.Request(
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
                return response.status, "ok"
        except urllib.error.HTTPError as error:
            return error.code, error.reason or ""
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            # Refused, reset, timed out, a garbled answer: no answer to go by.
            return None, str(getattr(error, "reason", error)) or type(error).__name__

    def post(self, payload: dict[str, Any], key: str) -> tuple[str, str]:
        """``(outcome, detail)``; outcome is "ok" (a 2xx), "refused" (a 4xx
        other than 408, 425 and 429: not retried), "down" (every attempt
        failed) or "stopped" (the worker is stopping)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        detail = ""
        for attempt in range(1, self.attempts + 1):
            if attempt > 1:
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 2))
                # A little jitter, so that workers failing together spread out.
                if self.stop.wait(delay * random.uniform(0.8, 1.0)):
                    return "stopped", detail
            status, word = self._post_once(body, key)
            if status is not None and 200 <= status < 300:
                return "ok", f"HTTP {status}"
            detail = f"HTTP {status} {word}" if status is not None else word
            if status is not None and 400 <= status < 500 and status not in (408, 425, 429):
                return "refused", detail  # the same request would be refused again
            log.info("POST %s failed (attempt %d of %d): %s", key, attempt, self.attempts, detail)
        return "down", detail


# -- the notification streams ------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entries(reply: Any) -> list[tuple[str, dict[str, Any]]]:
    """The entries of an XREADGROUP reply for one stream, in either protocol's shape."""
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3: {stream: [entries]}
        lists = [v[0] if v and isinstance(v[0], list) else v for v in reply.values()]
    else:  # RESP2: [[stream, entries]]
        lists = [item[1] for item in reply]
    return [(_text(i), f or {}) for entries in lists for i, f in (entries or []) if i is not None]


def _recipients(value: str | None) -> dict[str, str] | None:
    """The ``to`` field, user -> reason in the module's order; None when
    missing or unreadable."""
    try:
        to = json.loads(value) if value is not None else None
    except ValueError:
        return None
    if not isinstance(to, dict):
        return None
    return {str(user): str(reason) for user, reason in to.items()}


def _number(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _is(error: BaseException, code: str) -> bool:
    return isinstance(error, redis.ResponseError) and str(error).upper().startswith(code)


class Worker:
    def __init__(self, client: Any, *, cluster: bool, group: str, consumer: str,
                 webhook: Webhook, batch: int, block_ms: int, claim_idle_ms: int,
                 retry_pending_s: float, rescan_s: float, stop: threading.Event) -> None:
        self.client = client
        self.chat = Chat(client)
        self.cluster = cluster
        self.group = group
        self.consumer = consumer
        self.webhook = webhook
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.retry_pending_s = retry_pending_s
        self.rescan_s = rescan_s
        self.stop = stop
        self.streams: list[str] = []  # those whose group exists
        # (stream, entry id) -> the members done with, of each entry this
        # worker holds pending because another member's notification was
        # refused or could not be posted: the next pass posts only the
        # rest. Forgotten once the entry is acknowledged, or no longer ours;
        # a restarted worker starts without it and posts the entry's
        # notifications again, under the same idempotency keys.
        self.done: dict[tuple[str, str], set[str]] = {}

    # -- streams and the group ------------------------------------------------

    def _ensure_group(self, stream: str) -> bool:
        """Creates the group on ``stream`` if missing, from id 0: the group
        gets every entry the stream holds. False when the stream is gone."""
        try:
            # On one server the stream's name is known: make it if need be.
            # In a cluster only streams found by SCAN get here.
            self.client.xgroup_create(stream, self.group, id="0", mkstream=not self.cluster)
            log.info("created group %s on %s", self.group, stream)
        except redis.ResponseError as error:
            if _is(error, "BUSYGROUP"):
                return True  # there already (made by us or another worker)
            if "requires the key to exist" in str(error):
                return False
            raise
        return True

    def discover(self) -> None:
        """Finds the notification streams, and makes sure each has the group."""
        if not self.cluster:
            found = [STREAM]
        else:
            found = []
            for node in self.client.get_primaries():
                conn = self.client.get_redis_connection(node)
                try:
                    found += [_text(k) for k in conn.scan_iter(match=PATTERN, _type="stream", count=1000)]
                except (redis.ConnectionError, redis.TimeoutError) as error:
                    # A node down or failing over: read the slot map again
                    # for the next scan; the streams known so far stay.
                    log.warning("cannot scan %s:%s (%s); the slot map is read again",
                                node.host, node.port, error)
                    try:
                        self.client.nodes_manager.initialize()
                    except (redis.RedisError, RedisClusterException) as again:
                        log.warning("cannot read the slot map: %s", again)
        for stream in sorted(set(found) - set(self.streams)):
            if self._ensure_group(stream):
                self.streams.append(stream)
                if self.cluster:
                    log.info("reading %s", stream)

    def _lost_group(self, stream: str) -> None:
        """NOGROUP: the stream was deleted (and perhaps made again by a send)."""
        if not self._ensure_group(stream):
            log.info("%s is gone", stream)
            self.streams.remove(stream)

    # -- one entry ----------------------------------------------------------

    def _ack(self, stream: str, entry: str) -> None:
        self.client.xack(stream, self.group, entry)

    def _online(self, user: str) -> bool | None:
        """Whether the user is online now (None: no such user any more).

        Asked through the client library, which sends CHAT.PROFILE to the
        node of the user's key in a cluster and retries it through a
        failover."""
        profile = self.chat.profile(user)
        if profile is None:
            return None
        return bool(profile.get("online"))

    def handle(self, stream: str, entry: str, fields: dict[str, Any]) -> str:
        """Delivers the notifications of one entry, one per member in ``to``,
        and acknowledges the entry once each of them is done."""
        where = f"{stream}/{entry}"
        if not fields:
            # A pending entry chat.notify-max trimmed away: nothing left to send.
            log.warning("skipped %s: trimmed from the stream before it was delivered", where)
            self._ack(stream, entry)
            return ACKED
        f = {_text(k): _text(v) for k, v in fields.items()}
        to = _recipients(f.get("to"))
        if not to:
            # Not an entry of the module's (nobody to notify): holding it
            # pending would only have it read again at every pass.
            log.warning("skipped %s: no readable 'to' field (%r)", where, f.get("to"))
            self._ack(stream, entry)
            return ACKED
        message = {"room": f.get("room"), "id": _number(f.get("id")), "sender": f.get("sender"),
                   "ts": _number(f.get("ts")), "text": f.get("text")}
        done = self.done.setdefault((stream, entry), set())
        outcome = ACKED
        for user, reason in to.items():
            if user in done:
                continue  # posted or skipped in an earlier pass
            if self.stop.is_set():
                return STOPPED
            result = self._notify(stream, entry, user, reason, message)
            if result == DONE:
                done.add(user)
            elif result == LEFT:
                outcome = LEFT  # the entry stays pending; its other members go on
            else:
                return result  # DOWN or STOPPED: the rest of the entry waits too
        if outcome == ACKED:
            self._ack(stream, entry)  # only now: every member is done with
            del self.done[(stream, entry)]
        return outcome

    def _notify(self, stream: str, entry: str, user: str, reason: str,
                message: dict[str, Any]) -> str:
        """Posts one member's notification, or skips it: DONE, LEFT, DOWN or STOPPED."""
        where = f"{stream}/{entry}"
        about = f"{user} {reason} {message['room']}#{message['id']}"
        online = self._online(user)
        if online is None:
            log.info("skipped %s (%s): no such user any more", where, about)
            return DONE
        if online:
            log.info("skipped %s (%s): %s is online", where, about, user)
            return DONE
        payload = {"user": user, "reason": reason, **message, "stream": stream, "entry": entry}
        # One key per notification: an entry names several members.
        outcome, detail = self.webhook.post(payload, f"{where}:{user}")
        if outcome == "ok":
            log.info("posted %s (%s): %s", where, about, detail)
            return DONE
        if outcome == "refused":
            log.warning("webhook refused %s (%s): %s; the entry stays pending", where, about, detail)
            return LEFT
        if outcome == "stopped":
            return STOPPED
        log.warning("webhook down: %s (%s) failed %d times, last %s; the entry and the rest "
                    "of its batch stay pending", where, about, self.webhook.attempts, detail)
        return DOWN

    def _handle_all(self, stream: str, entries: list[tuple[str, dict[str, Any]]]) -> str | None:
        """Handles entries in order; DOWN or STOPPED ends the batch early."""
        for entry, fields in entries:
            if self.stop.is_set():
                return STOPPED
            outcome = self.handle(stream, entry, fields)
            if outcome in (DOWN, STOPPED):
                return outcome
        return None

    # -- passes -------------------------------------------------------------

    def pending_pass(self) -> str | None:
        """Delivers this consumer's pending entries, then those other consumers
        left idle for longer than claim_idle_ms. DOWN or STOPPED ends it."""
        for stream in list(self.streams):
            try:
                ended = self._own_pending(stream) or self._claim_idle(stream)
            except redis.ResponseError as error:
                if not _is(error, "NOGROUP"):
                    raise
                self._lost_group(stream)
                continue
            if ended:
                return ended
        return None

    def _own_pending(self, stream: str) -> str | None:
        after = "0"
        held: set[tuple[str, str]] = set()
        while True:
            reply = self.client.xreadgroup(self.group, self.consumer, {stream: after}, count=self.batch)
            entries = _entries(reply)
            if not entries:
                # Entries no longer pending to this worker (an operator
                # acknowledged them, another worker claimed them): forget
                # whom of them it was done with.
                for key in [k for k in self.done if k[0] == stream and k not in held]:
                    del self.done[key]
                return None
            held.update((stream, entry) for entry, _ in entries)
            log.info("re-delivering %d pending entr%s of %s", len(entries),
                     "y" if len(entries) == 1 else "ies", stream)
            ended = self._handle_all(stream, entries)
            if ended:
                return ended
            after = entries[-1][0]

    def _claim_idle(self, stream: str) -> str | None:
        start = "0-0"
        while True:
            reply = self.client.xautoclaim(stream, self.group, self.consumer, self.claim_idle_ms,
                                           start_id=start, count=self.batch)
            start = _text(reply[0])
            entries = [(_text(i), f or {}) for i, f in reply[1] if i is not None]
            if entries:
                log.info("claimed %d entr%s of %s idle for over %d ms", len(entries),
                         "y" if len(entries) == 1 else "ies", stream, self.claim_idle_ms)
            ended = self._handle_all(stream, entries)
            if ended:
                return ended
            if start in ("0-0", "0"):
                return None

    def read_new(self, wait_ms: int) -> tuple[str | None, bool]:
        """Reads and handles new entries: ``(DOWN/STOPPED/None, found any)``.

        On one server, one XREADGROUP that blocks up to wait_ms. In a
        cluster each stream is in its own slot, and one command cannot read
        (or block on) several: one XREADGROUP per stream, without BLOCK,
        sent in one pipeline (one round trip per node); the caller pauses
        when none had anything.
        """
        if not self.streams:
            return None, False
        if not self.cluster:
            reply = self.client.xreadgroup(self.group, self.consumer, {STREAM: ">"},
                                           count=self.batch, block=max(wait_ms, 1))
            replies = [reply]
        else:
            pipe = self.client.pipeline()
            for stream in self.streams:
                pipe.xreadgroup(self.group, self.consumer, {stream: ">"}, count=self.batch)
            replies = pipe.execute(raise_on_error=False)
        found = False
        for stream, reply in zip(list(self.streams), replies):
            if isinstance(reply, Exception):
                if _is(reply, "NOGROUP"):
                    self._lost_group(stream)
                    continue
                raise reply
            entries = _entries(reply)
            found = found or bool(entries)
            ended = self._handle_all(stream, entries)
            if ended:
                return ended, found
        return None, found

    # -- the loop -----------------------------------------------------------

    def run(self) -> None:
        next_scan = next_pending = 0.0  # both due at once: pending entries first
        down = False
        error_pause = 0.0
        while not self.stop.is_set():
            try:
                now = time.monotonic()
                if now >= next_scan:
                    self.discover()
                    # One server: one stream, made with the group if missing.
                    next_scan = now + self.rescan_s if self.cluster else float("inf")
                if now >= next_pending:
                    ended = self.pending_pass()
                    if ended == STOPPED:
                        break
                    down = ended == DOWN
                    next_pending = time.monotonic() + self.retry_pending_s
                if down:
                    # Nothing new until the next pass has delivered what is pending.
                    self.stop.wait(max(0.0, min(next_pending, next_scan) - time.monotonic()))
                    continue
                until = min(next_pending, next_scan) - time.monotonic()
                wait_ms = int(max(0.0, min(self.block_ms / 1000, until)) * 1000)
                ended, found = self.read_new(wait_ms)
                if ended == STOPPED:
                    break
                if ended == DOWN:
                    down = True
                    next_pending = time.monotonic() + self.retry_pending_s
                elif not found and self.cluster:
                    self.stop.wait(wait_ms / 1000)
                error_pause = 0.0
            except (redis.RedisError, RedisClusterException) as error:
                # The server went away, a failover, ...: what was read and not
                # acknowledged stays pending; go over it once Redis is back.
                error_pause = min(30.0, max(0.5, error_pause * 2))
                log.warning("redis: %s; again in %.1f s", error, error_pause)
                next_pending = 0.0
                if self.cluster:
                    next_scan = 0.0
                self.stop.wait(error_pause)


# -- the command line --------------------------------------------------------


def connect(urls: list[str], cluster: bool, block_ms: int) -> Any:
    # A blocking read must not outlast the socket's timeout.
    timeout = block_ms / 1000 + 10
    if not cluster:
        if len(urls) != 1:
            raise SystemExit("--redis: one URL for one server (several are for --cluster)")
        return redis.Redis.from_url(urls[0], decode_responses=True, socket_timeout=timeout)
    nodes: list[ClusterNode] = []
    auth: dict[str, Any] = {}
    for url in urls:
        parsed = urlparse(url if "://" in url else f"redis://{url}")
        nodes.append(ClusterNode(parsed.hostname or "127.0.0.1", parsed.port or 6379))
        if parsed.password is not None:
            auth = {"username": unquote(parsed.username) if parsed.username else None,
                    "password": unquote(parsed.password)}
    return RedisCluster(startup_nodes=nodes, decode_responses=True, socket_timeout=timeout, **auth)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--redis", nargs="+", default=["redis://127.0.0.1:6379/0"], metavar="URL",
                   help="the server's URL; with --cluster, one or more nodes of the cluster")
    p.add_argument("--cluster", action="store_true", help="Redis Cluster: read chat:notify:{n} on every primary")
    p.add_argument("--group", default="notify", help="the consumer group (made if missing, from id 0)")
    p.add_argument("--consumer", default=socket.gethostname(),
                   help="this worker's name in the group; keep it across restarts, so that a "
                        "restarted worker re-delivers its own pending entries at once")
    p.add_argument("--webhook", required=True, metavar="URL", help="where to POST each notification")
    p.add_argument("--batch", type=int, default=100, help="entries per read")
    p.add_argument("--block-ms", type=int, default=5000,
                   help="how long a read waits for new entries (in a cluster: the pause between polls)")
    p.add_argument("--attempts", type=int, default=5, help="POSTs per notification and pass before giving up")
    p.add_argument("--backoff", type=float, default=0.5, help="seconds before the 2nd attempt, doubled each time")
    p.add_argument("--max-backoff", type=float, default=30.0, help="the longest pause between attempts (s)")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout per POST (s)")
    p.add_argument("--retry-pending-s", type=float, default=30.0,
                   help="how often the worker goes over its pending entries again")
    p.add_argument("--claim-idle-ms", type=int, default=300000,
                   help="take over other consumers' entries pending for longer than this")
    p.add_argument("--rescan-s", type=float, default=30.0, help="how often to look for new streams (cluster)")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    if args.batch < 1 or args.attempts < 1 or args.block_ms < 0:
        p.error("--batch and --attempts must be at least 1, --block-ms at least 0")

    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    urls = [u for arg in args.redis for u in arg.split(",") if u]
    client = connect(urls, args.cluster, args.block_ms)
    webhook = Webhook(args.webhook, timeout=args.timeout, attempts=args.attempts,
                      backoff=args.backoff, max_backoff=args.max_backoff, stop=stop)
    worker = Worker(client, cluster=args.cluster, group=args.group, consumer=args.consumer,
                    webhook=webhook, batch=args.batch, block_ms=args.block_ms,
                    claim_idle_ms=args.claim_idle_ms, retry_pending_s=args.retry_pending_s,
                    rescan_s=args.rescan_s, stop=stop)
    log.info("worker %s of group %s: %s -> %s", args.consumer, args.group,
             "cluster " + ",".join(urls) if args.cluster else urls[0], args.webhook)
    worker.run()
    log.info("stopped")
    worker.chat.close()
    client.close()


if __name__ == "__main__":
    main()
