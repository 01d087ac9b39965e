"""Moderation: rooms with owners, roles, private rooms and invitations, kicks,
bans, mutes, slow mode, the send rate limit, their typed errors and their
events through the listener; on a single server and on a cluster (untagged
ids: rooms and users on other nodes, so every membership spans slots)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from redis.exceptions import NoPermissionError
from redis.exceptions import ConnectionError as RedisConnectionError
from test_methods import people

from redis_chat import (
    Banned,
    Chat,
    ChatError,
    Muted,
    NoInvite,
    NoPermission,
    RateLimited,
    Refused,
    SlowMode,
)
from redis_chat.errors import typed


def owned_room(chat: Chat, ids, owner: str, *members: str, private: bool = False) -> str:
    room = ids("room")
    chat.create(room, f"title of {room}", owner=owner, private=private)
    for m in members:
        chat.join(room, m)
    return room


def listed(chat: Chat, user: str) -> list[str]:
    """The user's listings as the module keeps them, members or not."""
    return [r if isinstance(r, str) else r.decode() for r in chat.client.execute_command("CHAT.ROOMS", user)]


def info(chat: Chat, room: str) -> dict[str, Any]:
    raw = chat.client.execute_command("CHAT.INFO", room)
    return dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else raw


def nodes(server) -> list[Any]:
    return server.nodes if hasattr(server, "nodes") else [server]


@contextmanager
def config(server, name: str, value: Any) -> Iterator[None]:
    """``CONFIG SET`` on every node for the block, then back as it was."""
    clients = [n.client() for n in nodes(server)]
    before = [c.config_get(name)[name] for c in clients]
    try:
        for c in clients:
            c.config_set(name, value)
        yield
    finally:
        for c, old in zip(clients, before, strict=True):
            c.config_set(name, old)
            c.close()


def test_create_with_owner_and_roles(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    room = owned_room(chat, ids, alice, bob, carol)
    # The owner is a member, and listed for the room in their own slot.
    assert chat.rooms(alice) == [room] and listed(chat, alice) == [room]
    assert chat.members_with_roles(room) == {alice: "owner", bob: "member", carol: "member"}
    assert info(chat, room)["owners"] == [alice]
    assert int(info(chat, room)["private"]) == 0

    assert chat.role(room, alice, bob, "admin") is True
    assert chat.role(room, alice, bob, "ADMIN") is False  # had it; any case
    # An admin makes members admins and admins members, never owners.
    assert chat.role(room, bob, carol, "admin") is True
    assert chat.role(room, bob, carol, "member") is True
    with pytest.raises(NoPermission, match="may not"):
        chat.role(room, bob, carol, "owner")
    with pytest.raises(NoPermission):
        chat.role(room, bob, alice, "member")
    with pytest.raises(NoPermission):
        chat.role(room, carol, bob, "member")  # members change no roles
    assert chat.members_with_roles(room) == {alice: "owner", bob: "admin", carol: "member"}

    # The last owner stays owner, and stays in the room.
    with pytest.raises(redis.ResponseError, match="last owner") as caught:
        chat.role(room, alice, alice, "admin")
    assert not isinstance(caught.value, Refused)
    with pytest.raises(redis.ResponseError, match="last owner"):
        chat.leave(room, alice)
    assert chat.rooms(alice) == [room]
    chat.role(room, alice, bob, "owner")
    assert chat.role(room, alice, alice, "member") is True  # another owner stays
    assert chat.members_with_roles(room) == {alice: "member", bob: "owner", carol: "member"}
    assert chat.leave(room, alice) is True
    with pytest.raises(redis.ResponseError, match="not a member"):
        chat.role(room, bob, alice, "admin")
    with pytest.raises(redis.ResponseError):
        chat.role(room, bob, carol, "king")

    # A room without an owner has no moderators.
    plain = ids("room")
    chat.create(plain, "plain")
    chat.join(plain, alice)
    chat.join(plain, bob)
    assert chat.members_with_roles(plain) == {alice: "member", bob: "member"}
    with pytest.raises(NoPermission):
        chat.kick(plain, alice, bob)


def test_create_refused(chat: Chat, ids) -> None:
    alice, bob = people(chat, ids, 2)
    with pytest.raises(redis.ResponseError, match="PRIVATE needs OWNER"):
        chat.create(ids("room"), "t", private=True)
    nobody = ids("nobody")
    room = ids("room")
    with pytest.raises(redis.ResponseError, match="no such user"):
        chat.create(room, "t", owner=nobody)
    assert chat.client.execute_command("CHAT.INFO", room) is None

    room = owned_room(chat, ids, alice)
    # The id is taken: the owner of the room there keeps their membership and
    # listing, and a would-be owner who is not a member keeps no listing.
    with pytest.raises(redis.ResponseError, match="already exists"):
        chat.create(room, "again", owner=alice)
    assert chat.rooms(alice) == [room] and listed(chat, alice) == [room]
    with pytest.raises(redis.ResponseError, match="already exists"):
        chat.create(room, "again", owner=bob, private=True)
    assert listed(chat, bob) == [] and chat.rooms(bob) == []


def test_private_room_invite_and_join(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    room = owned_room(chat, ids, alice, private=True)
    assert int(info(chat, room)["private"]) == 1

    with pytest.raises(NoInvite, match="is private") as caught:
        chat.join(room, bob)
    assert caught.value.code == "NOINVITE" and isinstance(caught.value, redis.ResponseError)
    assert listed(chat, bob) == []  # the refused join took its listing back

    assert chat.invite(room, alice, bob) is True
    assert chat.invite(room, alice, bob) is False
    invited = chat.invites(bob)
    if chat._backend.same_slot(room, bob):
        assert list(invited) == [room] and invited[room] > 1_700_000_000_000
    else:
        assert invited == {}  # kept in the room's slot only
    chat.join(room, bob)
    assert chat.rooms(bob) == [room] and listed(chat, bob) == [room]
    assert chat.invites(bob) == {}  # taken up
    chat.join(room, bob)  # a member already: nothing changes

    with pytest.raises(NoPermission):
        chat.invite(room, bob, carol)  # a member does not invite
    with pytest.raises(redis.ResponseError, match="already a member"):
        chat.invite(room, alice, bob)
    chat.role(room, alice, bob, "admin")
    assert chat.invite(room, bob, carol) is True
    chat.join(room, carol)
    assert chat.members_with_roles(room) == {alice: "owner", bob: "admin", carol: "member"}
    chat.send(room, carol, "in by invitation")
    # Left: a private room needs a new invitation.
    chat.leave(room, carol)
    with pytest.raises(NoInvite):
        chat.join(room, carol)


def test_invites_in_one_slot(chat: Chat, ids) -> None:
    """Users and rooms sharing a tag: the user's key lists the invitations,
    ascending by room, in a cluster too."""
    tag = ids("t")
    alice, bob = f"{{{tag}}}alice", f"{{{tag}}}bob"
    chat.register(alice, "A")
    chat.register(bob, "B")
    rooms = [f"{{{tag}}}room{i}" for i in (2, 1)]
    for room in rooms:
        chat.create(room, room, owner=alice, private=True)
        chat.invite(room, alice, bob)
    invited = chat.invites(bob)
    assert list(invited) == sorted(rooms)
    assert all(isinstance(ms, int) for ms in invited.values())
    chat.join(rooms[0], bob)
    assert list(chat.invites(bob)) == [rooms[1]]
    with pytest.raises(redis.ResponseError, match="no such user"):
        chat.invites(f"{{{tag}}}nobody")


def test_kick_ban_unban(chat: Chat, ids) -> None:
    alice, bob, carol, dave = people(chat, ids, 4)
    room = owned_room(chat, ids, alice, bob, carol)

    chat.kick(room, alice, bob)
    assert chat.rooms(bob) == [] and listed(chat, bob) == []
    assert bob not in chat.members_with_roles(room)
    with pytest.raises(redis.ResponseError, match="not a member"):
        chat.kick(room, alice, bob)
    chat.join(room, bob)  # a public room: back in
    with pytest.raises(NoPermission):
        chat.kick(room, carol, bob)
    with pytest.raises(NoPermission):
        chat.kick(room, alice, alice)
    chat.role(room, alice, carol, "admin")
    with pytest.raises(NoPermission, match="equal or higher"):
        chat.kick(room, carol, alice)

    chat.ban(room, carol, bob, seconds=60)
    assert chat.rooms(bob) == [] and listed(chat, bob) == []
    with pytest.raises(Banned, match="banned from room") as caught:
        chat.join(room, bob)
    banned = caught.value
    assert banned.code == "BANNED" and isinstance(banned, redis.ResponseError)
    assert banned.until is not None and banned.until > 1_700_000_000_000
    assert listed(chat, bob) == []
    with pytest.raises(Banned):
        chat.invite(room, alice, bob)
    assert chat.unban(room, alice, bob) is True
    assert chat.unban(room, alice, bob) is False
    chat.join(room, bob)
    assert chat.rooms(bob) == [room]

    chat.ban(room, alice, dave)  # not a member: banned all the same, for good
    with pytest.raises(Banned) as caught:
        chat.join(room, dave)
    assert caught.value.until is None and "until CHAT.UNBAN" in str(caught.value)
    with pytest.raises(NoPermission):
        chat.unban(room, bob, dave)
    with pytest.raises(redis.ResponseError):
        chat.ban(room, alice, bob, seconds=0)


def test_kick_whose_reply_was_lost(chat: Chat, ids, monkeypatch) -> None:
    """The kick ran but its reply went missing: the retry finds bob gone, which
    is what was asked."""
    alice, bob = people(chat, ids, 2)
    room = owned_room(chat, ids, alice, bob)
    real = chat._backend.call
    lost: list[tuple[Any, ...]] = []

    def call(*args: Any) -> Any:
        reply = real(*args)
        if args[0] == "CHAT.KICK" and not lost:
            lost.append(args)
            raise RedisConnectionError("reply lost")
        return reply

    monkeypatch.setattr(chat._backend, "call", call)
    chat.kick(room, alice, bob)
    assert lost and chat.rooms(bob) == [] and listed(chat, bob) == []


def test_mute_and_slow_mode(chat: Chat, ids) -> None:
    alice, bob, carol = people(chat, ids, 3)
    room = owned_room(chat, ids, alice, bob, carol)
    msg = chat.send(room, alice, "hello")

    chat.mute(room, alice, bob, seconds=30)
    with pytest.raises(Muted, match="is muted in room") as caught:
        chat.send(room, bob, "let me speak")
    muted = caught.value
    assert muted.code == "MUTED" and muted.until is not None
    with pytest.raises(Muted):
        chat.react(room, bob, msg, "ok")
    with pytest.raises(NoPermission):
        chat.mute(room, carol, alice)
    assert chat.unmute(room, alice, bob) is True
    assert chat.unmute(room, alice, bob) is False
    chat.send(room, bob, "free again")
    chat.mute(room, alice, bob)
    with pytest.raises(Muted) as caught:
        chat.send(room, bob, "still?")
    assert caught.value.until is None and "until CHAT.UNMUTE" in str(caught.value)
    view = chat.moderation(room)
    assert view["mutes"] == {bob: None} and view["bans"] == {}
    assert view["roles"] == {alice: "owner"} and view["private"] is False
    chat.leave(room, bob)
    chat.join(room, bob)
    with pytest.raises(Muted):  # a mute outlasts leaving
        chat.send(room, bob, "back")
    chat.unmute(room, alice, bob)

    chat.slowmode(room, alice, 10)
    assert int(info(chat, room)["slowmode"]) == 10
    assert chat.moderation(room)["slowmode"] == 10
    chat.send(room, carol, "one")
    with pytest.raises(SlowMode, match="one message every 10 seconds") as slowed:
        chat.send(room, carol, "two")
    slow = slowed.value
    assert slow.code == "SLOWMODE" and 0 < slow.retry_after_ms <= 10_000
    chat.send(room, alice, "owners are exempt")
    chat.send(room, alice, "owners are exempt, twice")
    with pytest.raises(NoPermission):
        chat.slowmode(room, carol, 0)
    with pytest.raises(redis.ResponseError, match="from 0 to 3600"):
        chat.slowmode(room, alice, 3601)
    chat.slowmode(room, alice, 0)
    chat.send(room, carol, "two, now")
    assert int(info(chat, room)["slowmode"]) == 0


def test_send_rate_limit(chat: Chat, server, ids) -> None:
    (alice,) = people(chat, ids, 1)
    room = owned_room(chat, ids, alice)
    with config(server, "chat.send-rate", 1):
        chat.send(room, alice, "first")
        with pytest.raises(RateLimited, match="messages per second") as caught:
            chat.send(room, alice, "too soon")
    limited = caught.value
    assert limited.code == "RATELIMIT" and 0 < limited.retry_after_ms <= 1000
    chat.send(room, alice, "off again")
    assert [m["text"] for m in chat.history(room)] == ["first", "off again"]


def test_typed_errors_keep_the_old_handling() -> None:
    """Each code its class; each still a ResponseError with redis-py's text;
    other errors as they were."""
    cases = {
        "MUTED bob is muted in room r until 1764583200000 (30 seconds from now)": (Muted, 1764583200000),
        "BANNED bob is banned from room r until CHAT.UNBAN": (Banned, None),
        "NOINVITE room r is private: bob needs an invitation from an owner or admin (CHAT.INVITE)": (
            NoInvite, None),
        "SLOWMODE room r allows a member one message every 10 seconds; bob may send again in 9986 ms": (
            SlowMode, 9986),
        "RATELIMIT bob may send 1 messages per second (burst 1, chat.send-rate); retry in 981 ms": (
            RateLimited, 981),
    }
    for text, (cls, value) in cases.items():
        error = typed(redis.ResponseError(text))
        assert type(error) is cls and str(error) == text
        assert isinstance(error, (redis.ResponseError, ChatError, Refused))
        assert error.detail == text.split(" ", 1)[1]
        if isinstance(error, (Muted, Banned)):
            assert error.until == value
        if isinstance(error, (SlowMode, RateLimited)):
            assert error.retry_after_ms == value
    noperm = typed(NoPermissionError("alice is a member and may not change roles"))
    assert isinstance(noperm, NoPermission) and isinstance(noperm, NoPermissionError)
    assert noperm.code == "NOPERM" and str(noperm) == "alice is a member and may not change roles"
    plain = redis.ResponseError("no such room")
    assert typed(plain) is plain
    assert typed(ValueError("x")).__class__ is ValueError


def moderation_events(listener, quiet: float = 0.5) -> list[dict[str, Any]]:
    got = []
    while (event := listener.get(quiet)) is not None:
        got.append(event)
    return got


@pytest.mark.parametrize("mode", ["fanout", "broadcast"])
def test_events_through_the_listener(chat: Chat, server, ids, mode: str) -> None:
    """Every moderation event reaches the listener once. In a broadcast room
    an event about bob comes on the room's channel and on his own: one is
    handed out. A kick ends his listening to the room. The ban of another
    member comes with a ``member`` event (bob's own kick has one for him
    only on a broadcast room's channel)."""
    tag = ids("t")
    alice, bob, carol, dave = (f"{{{tag}}}{name}" for name in ("alice", "bob", "carol", "dave"))
    for user in (alice, bob, carol, dave):
        chat.register(user, user)
    room = f"{{{tag}}}room"
    # One member at most in fan-out: the room stays broadcast to the end.
    with config(server, "chat.fanout-max-members", 1 if mode == "broadcast" else 500):
        chat.create(room, "Room", owner=alice)
        for user in (bob, carol, dave):
            chat.join(room, user)
        assert info(chat, room)["mode"] == mode
        with chat.listen(bob, refresh=None) as listener:
            chat.role(room, alice, bob, "admin")
            chat.role(room, alice, bob, "member")
            chat.mute(room, alice, bob, seconds=30)
            chat.unmute(room, alice, bob)
            chat.slowmode(room, alice, 5)
            chat.ban(room, alice, dave)
            chat.kick(room, alice, bob)
            got = moderation_events(listener)
            chat.send(room, alice, "after the kick")
            chat.invite(room, alice, bob)
            chat.ban(room, alice, bob, seconds=60)
            chat.unban(room, alice, bob)
            got += moderation_events(listener)
        assert info(chat, room)["mode"] == mode
    events = [e for e in got if e["type"] != "mode"]
    # A broadcast room tells its channel of bob's kick too, which bob
    # still listens to then.
    own_kick = [("member", bob)] if mode == "broadcast" else []
    assert [(e["type"], e.get("user")) for e in events] == [
        ("role", bob), ("role", bob), ("mute", bob), ("unmute", bob), ("slowmode", None),
        ("member", dave), ("ban", dave), *own_kick, ("kick", bob), ("invite", bob), ("ban", bob), ("unban", bob),
    ], got
    by_type = {e["type"]: e for e in events}
    assert events[0] == {"type": "role", "room": room, "user": bob, "role": "admin", "by": alice}
    assert by_type["mute"]["until"] > 1_700_000_000_000
    assert by_type["slowmode"] == {"type": "slowmode", "room": room, "seconds": 5, "by": alice}
    # The other members hear that dave was banned (bob is one of them).
    assert events[5] == {"type": "member", "room": room, "user": dave, "change": "ban"}
    assert events[6]["until"] is None
    assert by_type["kick"] == {"type": "kick", "room": room, "user": bob, "by": alice}
    assert by_type["invite"] == {"type": "invite", "room": room, "user": bob, "by": alice, "title": "Room"}
    assert not any(e["type"] == "message" for e in got), got
