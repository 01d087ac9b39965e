"""Presence, devices, notification settings and profiles.

Mixed into ``Chat``. A user is online while their presence lasts:
``online`` sets it (an app calls it as a heartbeat, or lets a listener do
so), ``offline`` ends it. With ``device=...`` each device has a presence of
its own (at most 16 at once), and the user is online while any is.

Every change of a user's presence (not a heartbeat) is published once on
the user's *presence channel*, ``chat:user:{<id>}:presence``, as
``{"type": "presence", "user": ..., "online": true, "until": <unix ms>}``
or ``{"type": "presence", "user": ..., "online": false, "until": null}``;
a presence whose time runs out is announced by the server within about a
quarter of a second. In Redis Cluster the channel is a shard channel of
the user's slot. A listener follows other users' presence channels with
``follow_presence`` (or its ``follow`` and ``follow_members`` options).

``notify`` chooses what a user is notified of while away (``all``,
``mentions``, the default, or ``none``): a send records a notification
for each member away it concerns, in a Redis stream a worker reads
(docs/delivery.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, overload

from . import _replies
from ._epochs import Epochs, state_of

NOTIFY_SETTINGS = ("all", "mentions", "none")


def presence_channel(user: str) -> str:
    """The presence channel of ``user``, named as the module names it:
    ``chat:user:{<id>}:presence``, or for an id that starts with its own
    hash tag (``{acme}bob``) ``chat:user:{acme}{bob}:presence``; either way
    in the slot of the user's key."""
    if user.startswith("{"):
        close = user.find("}")
        close = len(user) if close < 0 else close + 1
        return f"chat:user:{user[:close]}{{{user[close:]}}}:presence"
    return f"chat:user:{{{user}}}:presence"


def user_of_presence_channel(channel: str) -> str | None:
    """The user whose presence channel ``channel`` is; None for another
    channel."""
    prefix, suffix = "chat:user:", ":presence"
    if not (channel.startswith(prefix) and channel.endswith(suffix)):
        return None
    middle = channel[len(prefix) : -len(suffix)]
    if not (middle.startswith("{") and middle.endswith("}")):
        return None
    close = middle.find("}")
    if close == len(middle) - 1:
        return middle[1:-1]  # {bob}
    # {acme}{bob} -> {acme}bob
    return middle[: close + 1] + middle[close + 2 : -1]


def profile_from_reply(reply: Any) -> dict[str, Any] | None:
    """A ``CHAT.PROFILE`` reply as a dict (None: no such user)."""
    if reply is None:
        return None
    fields = _replies.mapping(reply)
    out: dict[str, Any] = {k: _replies.text(v) for k, v in fields.items() if not isinstance(v, int)}
    for name in ("created", "online"):
        if name in fields:
            out[name] = _replies.integer(fields[name])
    if "online" in out:
        out["online"] = out["online"] == 1
    return out


class Presence:
    """Presence, devices, notification settings and profiles (part of ``Chat``)."""

    epochs: Epochs

    if TYPE_CHECKING:
        def _call(self, *args: Any) -> Any: ...

        def _batch(self, commands: Iterable[tuple[Any, ...]]) -> list[Any]: ...

    def online(self, user: str, ttl: int | None = None, device: str | None = None) -> None:
        """Marks ``user`` online for ``ttl`` seconds (1 to 86400; default the
        server's ``chat.presence-ttl``), or one of their devices
        (``DEVICE``: 1 to 64 bytes of ``A-Z a-z 0-9 _ . : @ -``) (``CHAT.ONLINE``).

        Call it again before the time runs out, as a heartbeat. Going from
        offline to online publishes a ``presence`` event on the user's
        presence channel; a heartbeat publishes nothing. Once a device is
        named, a heartbeat without one counts as the device ``""``. Retried
        like any idempotent step.
        """
        args: list[Any] = ["CHAT.ONLINE", user]
        if ttl is not None:
            args += ["TTL", ttl]
        if device is not None:
            args += ["DEVICE", device]
        self._call(*args)

    def offline(self, user: str, device: str | None = None) -> None:
        """Ends ``user``'s presence (``CHAT.OFFLINE``): every device's, or with
        ``device`` only that one's (the user stays online while another
        device is). Going offline publishes one ``presence`` event."""
        args: list[Any] = ["CHAT.OFFLINE", user]
        if device is not None:
            args += ["DEVICE", device]
        self._call(*args)

    def notify(self, user: str, setting: str) -> None:
        """What ``user`` is notified of while away (``CHAT.NOTIFY``):
        ``"all"`` (every message of their fan-out rooms, and mentions in
        broadcast rooms), ``"mentions"`` (mentions and direct rooms, the
        default) or ``"none"``. Raises ``ValueError`` for another word."""
        if setting.lower() not in NOTIFY_SETTINGS:
            raise ValueError(f"notify setting must be one of {NOTIFY_SETTINGS}, not {setting!r}")
        self._call("CHAT.NOTIFY", user, setting)

    def profile(self, user: str) -> dict[str, Any] | None:
        """``user``'s profile (``CHAT.PROFILE``), None for an unknown user:
        ``id``, ``name``, ``created`` (unix ms), ``online`` (bool),
        ``presence_channel`` (where their presence changes are published)
        and ``notify`` (their setting)."""
        return profile_from_reply(self._call("CHAT.PROFILE", user))

    def is_online(self, users: list[str]) -> dict[str, bool]:
        """Whether each of ``users`` is online now, from their profiles (one
        pipeline; in a cluster one round trip per node). An unknown user is
        offline."""
        if not users:
            return {}
        out: dict[str, bool] = {}
        for user, reply in zip(users, self._batch(("CHAT.PROFILE", u) for u in users), strict=True):
            if isinstance(reply, Exception):
                raise reply
            profile = profile_from_reply(reply)
            out[user] = bool(profile and profile.get("online"))
        return out

    @overload
    def channels(
        self, user: str, presence: bool = False, with_epochs: Literal[False] = False
    ) -> tuple[str, list[str]]: ...

    @overload
    def channels(
        self, user: str, presence: bool = False, *, with_epochs: Literal[True]
    ) -> tuple[str, list[str], dict[str, dict[str, Any]]]: ...

    def channels(
        self, user: str, presence: bool = False, with_epochs: bool = False
    ) -> tuple[str, list[str]] | tuple[str, list[str], dict[str, dict[str, Any]]]:
        """What ``user``'s app listens to now (``CHAT.CHANNELS``): the command
        to listen with (``SUBSCRIBE``, or ``SSUBSCRIBE`` in a cluster) and
        the channels. With ``presence``, also the presence channels of the
        other members of the user's fan-out rooms (``PRESENCE``).

        With ``with_epochs`` (``WITHEPOCHS``), a third value: each of the
        user's rooms with its ``epoch`` and ``last_id``, read at the same
        moment as the channels; in a cluster only the rooms in the user's
        slot (``info`` reads another's). ``epochs`` learns those it did not
        know.
        """
        args: list[Any] = ["CHAT.CHANNELS", user]
        if presence:
            args.append("PRESENCE")
        if not with_epochs:
            words = _replies.strings(self._call(*args))
            return words[0].upper(), words[1:]
        fields = _replies.mapping(self._call(*args, "WITHEPOCHS"))
        words = _replies.strings(fields["listen"])
        rooms = {room: state_of(state) for room, state in _replies.mapping(fields["rooms"]).items()}
        for room, state in rooms.items():
            self.epochs.learn(room, state["epoch"], state["last_id"])
        return words[0].upper(), words[1:], rooms

    def presence_channel(self, user: str) -> str:
        """The presence channel of ``user`` (computed here, no round trip;
        ``profile(user)["presence_channel"]`` names the same)."""
        return presence_channel(user)
