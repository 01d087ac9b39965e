"""Fixtures: one standalone server and one 3-primary cluster for the whole run.

Tests share the servers and keep apart by giving every user and room a fresh
id (``ids``). ``chat`` runs a test once against each setup.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator

import pytest
from servers import MODULE, Cluster, Server

from redis_chat import Chat


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


class Ids:
    """Fresh user and room ids, unique across the run."""

    def __init__(self) -> None:
        self.run = uuid.uuid4().hex[:6]
        self.counter = itertools.count()

    def __call__(self, prefix: str) -> str:
        return f"{prefix}-{self.run}-{next(self.counter)}"


@pytest.fixture(scope="session")
def ids() -> Ids:
    return Ids()


@pytest.fixture(params=["standalone", "cluster"])
def setup(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def chat(setup: str, request: pytest.FixtureRequest) -> Iterator[Chat]:
    server = request.getfixturevalue(setup)
    client = server.client()
    chat = Chat(client, backoff=0.02, max_backoff=0.5)
    yield chat
    chat.close()
    client.close()


@pytest.fixture
def server(setup: str, request: pytest.FixtureRequest):
    """The Server or Cluster behind ``chat``."""
    return request.getfixturevalue(setup)
