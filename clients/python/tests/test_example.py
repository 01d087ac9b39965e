"""examples/python/library.py, the README's library example, runs on one
server and on a cluster and prints what the README shows."""

from __future__ import annotations

import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples", "python", "library.py")

EXPECTED = [
    "live: general 1 Hi Bob!",
    "missed: general 2 Are you there?",
    "missed: general 3 Call me",
    "unread: {}",
]


def run(env: dict[str, str]) -> list[str]:
    out = subprocess.run([sys.executable, EXAMPLE], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_the_library_example_on_one_server(standalone) -> None:
    assert run({"REDIS_URL": f"redis://127.0.0.1:{standalone.port}/0"}) == EXPECTED


def test_the_library_example_on_a_cluster(cluster) -> None:
    assert run({"REDIS_CLUSTER": f"127.0.0.1:{cluster.alive()[0].port}"}) == EXPECTED
