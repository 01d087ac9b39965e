"""Fixtures for the notification worker's tests: real redis-server processes
with the module (one server and a 3-primary cluster, started the way the
client library's tests start them: clients/python/tests/servers.py), a local
webhook (http.server in a thread), and the worker as a child process, killed
by its PID.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
WORKER = HERE.parent / "worker.py"
sys.path.insert(0, str(HERE.parents[2] / "clients" / "python" / "tests"))

from redis_chat import Chat
from servers import MODULE, Cluster, Server, wait_until


def pytest_configure(config: pytest.Config) -> None:
    if not os.path.exists(MODULE):
        raise pytest.UsageError(f"module not found: {MODULE} (cargo build --release, or set CHAT_MODULE)")


@pytest.fixture(scope="session")
def standalone() -> Iterator[Server]:
    server = Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    yield c
    c.stop()


@pytest.fixture(params=["standalone", "cluster"])
def setup(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def server(setup: str, request: pytest.FixtureRequest) -> Any:
    """The Server or Cluster of this run of the test."""
    return request.getfixturevalue(setup)


def primaries(server: Any) -> list[Any]:
    """A client per primary (the one server, or each primary of the cluster)."""
    if isinstance(server, Server):
        return [server.client()]
    out = []
    for node in server.alive():
        client = node.client()
        if client.execute_command("ROLE")[0] == "master":
            out.append(client)
    return out


def streams(server: Any) -> list[str]:
    """Every notification stream, on every primary."""
    return sorted(k for c in primaries(server) for k in c.scan_iter(match="chat:notify*", _type="stream"))


@pytest.fixture
def chat(server: Any) -> Iterator[Chat]:
    """A Chat on the test's setup; no notification stream left from earlier tests."""
    for client in primaries(server):
        for key in list(client.scan_iter(match="chat:notify*")):
            client.delete(key)
    client = server.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    yield chat
    chat.close()
    client.close()


class Ids:
    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:6]
        self.counter = itertools.count()

    def __call__(self, prefix: str) -> str:
        return f"{prefix}-{self.run}-{next(self.counter)}"


@pytest.fixture(scope="session")
def ids() -> Ids:
    return Ids()


# -- the webhook ---------------------------------------------------------------


class Webhook:
    """A local HTTP endpoint that records what is POSTed to it.

    ``status`` is the status it answers (``refuse`` maps a user to a status
    for their notifications only), ``delay`` how long it takes before it
    answers. ``received`` holds every notification it answered 2xx to, in
    order; ``attempts`` counts every POST.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self.status = 204
        self.delay = 0.0
        self.refuse: dict[str, int] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                with hook.lock:
                    hook.attempts += 1
                    delay = hook.delay
                    status = hook.refuse.get(payload.get("user"), hook.status)
                if delay:
                    time.sleep(delay)
                if 200 <= status < 300:
                    with hook.lock:
                        hook.received.append({
                            "payload": payload,
                            "key": self.headers.get("Idempotency-Key"),
                            "type": self.headers.get("Content-Type"),
                        })
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r["payload"] for r in self.received]

    def texts(self, user: str | None = None) -> list[str]:
        return [p["text"] for p in self.payloads() if user is None or p["user"] == user]

    def notes(self) -> list[tuple[str, str]]:
        """(user, text) of each notification received."""
        return [(p["user"], p["text"]) for p in self.payloads()]

    def keys(self) -> list[str]:
        with self.lock:
            return [r["key"] for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


# -- the worker ------------------------------------------------------------------


class Workers:
    """Starts worker.py processes against the test's setup; stops each by its PID."""

    def __init__(self, server: Any, webhook: Webhook, tmp: Path) -> None:
        self.server = server
        self.webhook = webhook
        self.tmp = tmp
        self.group = "g-" + uuid.uuid4().hex[:6]
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, consumer: str = "w1", *options: str) -> subprocess.Popen[bytes]:
        if isinstance(self.server, Server):
            target = ["--redis", f"redis://127.0.0.1:{self.server.port}/0"]
        else:
            target = ["--cluster", "--redis", f"redis://127.0.0.1:{self.server.alive()[0].port}"]
        log = self.tmp / f"worker-{len(self.logs)}-{consumer}.log"
        args = [
            sys.executable, str(WORKER), *target,
            "--webhook", self.webhook.url, "--group", self.group, "--consumer", consumer,
            "--batch", "10", "--block-ms", "200", "--rescan-s", "0.3",
            "--retry-pending-s", "0.5", "--attempts", "3", "--backoff", "0.02",
            "--max-backoff", "0.1", "--timeout", "10", *options,
        ]
        with open(log, "wb") as out:
            process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        self.processes.append(process)
        self.logs.append(log)
        return process

    def log(self) -> str:
        return "".join(p.read_text() for p in self.logs if p.exists())

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, by PID: no chance to finish anything."""
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL

    def stop_all(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait()


@pytest.fixture
def workers(server: Any, webhook: Webhook, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(server, webhook, tmp_path)
    yield w
    w.stop_all()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test's report shows what its workers logged."""
    outcome = yield
    report = outcome.get_result()
    w = getattr(item, "funcargs", {}).get("workers")
    if report.when == "call" and report.failed and isinstance(w, Workers):
        report.sections.append(("worker logs", w.log()))


__all__ = ["Chat", "Cluster", "Server", "Webhook", "Workers", "primaries", "streams", "wait_until"]
