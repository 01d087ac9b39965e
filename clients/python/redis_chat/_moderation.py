"""Moderation: roles, invitations, kicks, bans, mutes and slow mode.

Mixed into ``Chat``. A room created with an owner (``Chat.create(...,
owner=...)``) has roles: ``owner`` > ``admin`` > ``member``. Owners and
admins invite, kick, ban, mute and set slow mode; nobody acts on an equal
or higher role. A room without an owner refuses all of these (nobody there
is above member).

Each method is one command of the module on the slot of the room (its first
argument; ``invites`` on the user's), acting as ``actor``. What a cluster
adds, as for ``leave``: a kick or ban ends a membership, and the room's
listing in the user's key (another slot) goes after it, only one older than
the kick or ban, so that a join that ran meanwhile keeps its own. A crash
between the two leaves a listing that readers skip and ``reconcile``
removes.

Refusals come as ``errors.Refused`` subclasses: ``NoPermission``
(``NOPERM``, a role too low), ``Banned`` (inviting a banned user),
``NoInvite``/``Banned`` from ``join``, and ``Muted``, ``SlowMode``,
``RateLimited`` from ``send`` (and ``Muted`` from ``react``). Other
refusals (``ERR user is not a member of the room``, ``ERR ... last owner
...``) are plain ``redis.ResponseError``.

Every change is an event on the room's audience's channels, which
listeners hand out (``role``, ``kick``, ``ban``, ``unban``, ``mute``,
``unmute``, ``slowmode``; ``invite`` to the invitee alone).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from redis.exceptions import ResponseError

from . import _replies
from ._retry import Retry, retriable

if TYPE_CHECKING:
    from ._backend import Backend


class Moderation:
    """Roles, invitations, kicks, bans, mutes and slow mode (part of ``Chat``)."""

    if TYPE_CHECKING:
        _backend: Backend
        _retry: Retry

        @property
        def cluster(self) -> bool: ...

        def _call(self, *args: Any) -> Any: ...

        def _unlist(self, user: str, room: str, older_than: float | None = None) -> bool: ...

    # -- roles --------------------------------------------------------------

    def role(self, room: str, actor: str, user: str, role: str) -> bool:
        """Gives member ``user`` the role ``role`` (``owner``, ``admin`` or
        ``member``; ``CHAT.ROLE``); False when they had it already.

        Owners give any role (to themselves too, while another owner
        stays); admins make members admins and admins members. The last
        owner may not step down (``ERR ... last owner ...``). Retried like
        any idempotent step: after a lost reply, the retry answers False
        for a change this call made.
        """
        return _replies.integer(self._call("CHAT.ROLE", room, actor, user, role)) == 1

    def members_with_roles(self, room: str) -> dict[str, str]:
        """Each member of ``room`` with their role (``CHAT.MEMBERS ... WITHROLES``),
        ascending by member: ``owner``, ``admin`` or ``member``."""
        fields = _replies.mapping(self._call("CHAT.MEMBERS", room, "WITHROLES"))
        return {member: _replies.text(role) for member, role in fields.items()}

    # -- invitations --------------------------------------------------------

    def invite(self, room: str, actor: str, user: str) -> bool:
        """Invites ``user`` to ``room`` (``CHAT.INVITE``; owners and admins);
        False when they were invited already. ``join`` takes the invitation
        up; a private room is joined no other way.

        The invitee gets an ``invite`` event (with the room's ``title``) if
        listening and, in a cluster, if their key shares the room's slot.
        A banned user is refused (``Banned``), a member with ``ERR``.
        """
        return _replies.integer(self._call("CHAT.INVITE", room, actor, user)) == 1

    def invites(self, user: str) -> dict[str, int]:
        """The rooms that invited ``user`` and have not been joined yet, each
        with when (unix ms), ascending by room (``CHAT.INVITES``).

        In a cluster, only invitations of rooms in the user's slot are kept
        in the user's key, so only those are listed; the room keeps every
        invitation, and ``join`` takes it up wherever the room is.
        """
        fields = _replies.mapping(self._call("CHAT.INVITES", user))
        return {room: _replies.integer(ms) for room, ms in fields.items()}

    # -- removing members -----------------------------------------------------

    def kick(self, room: str, actor: str, user: str) -> None:
        """Removes member ``user`` from ``room`` (``CHAT.KICK``; an owner or
        admin above the user's role). They may join again (unless the room
        is private); ``ban`` keeps them out.

        Sent once, then, if that got no answer or bounced, retried: a lost
        reply may hide a kick that happened, so on a retry "not a member"
        means done.
        """
        began = time.monotonic()
        try:
            self._backend.call("CHAT.KICK", room, actor, user)
        except Exception as error:
            if not retriable(error):
                raise
            self._retry.pause(2)
            try:
                self._call("CHAT.KICK", room, actor, user)
            except ResponseError as again:
                if "not a member" not in _replies.error_text(again):
                    raise
        self._after_removal(room, user, began)

    def ban(self, room: str, actor: str, user: str, seconds: int | None = None) -> None:
        """Bans ``user`` from ``room`` (``CHAT.BAN``; an owner or admin above
        the user's role, a non-member counting as member): ends their
        membership and invitation, and refuses their joining and
        invitations for ``seconds`` (1 to 315360000), or until ``unban``.
        Banning again replaces the end.
        """
        began = time.monotonic()
        args: list[Any] = ["CHAT.BAN", room, actor, user]
        if seconds is not None:
            args += ["SECONDS", seconds]
        self._call(*args)
        self._after_removal(room, user, began)

    def unban(self, room: str, actor: str, user: str) -> bool:
        """Lifts ``user``'s ban from ``room`` (``CHAT.UNBAN``; owners and
        admins); False when no ban was in force (or, after a lost reply, the
        first attempt lifted it)."""
        return _replies.integer(self._call("CHAT.UNBAN", room, actor, user)) == 1

    def _after_removal(self, room: str, user: str, began: float) -> None:
        """In a cluster, the listing of a room ``user`` was just removed from
        (only one older than the removal: a join since keeps its own)."""
        if self.cluster:
            self._unlist(user, room, time.monotonic() - began)

    # -- mutes and slow mode --------------------------------------------------

    def mute(self, room: str, actor: str, user: str, seconds: int | None = None) -> None:
        """Mutes member ``user`` in ``room`` (``CHAT.MUTE``; an owner or admin
        above the user's role): their sends, reactions and edits are refused
        (``Muted``) for ``seconds`` (1 to 315360000), or until ``unmute``.
        The mute stays if they leave and come back."""
        args: list[Any] = ["CHAT.MUTE", room, actor, user]
        if seconds is not None:
            args += ["SECONDS", seconds]
        self._call(*args)

    def unmute(self, room: str, actor: str, user: str) -> bool:
        """Lifts ``user``'s mute in ``room`` (``CHAT.UNMUTE``); False when no
        mute was in force (or, after a lost reply, the first attempt lifted
        it)."""
        return _replies.integer(self._call("CHAT.UNMUTE", room, actor, user)) == 1

    def slowmode(self, room: str, actor: str, seconds: int) -> None:
        """Lets each member send one message every ``seconds`` (0 to 3600; 0
        turns slow mode off) in ``room`` (``CHAT.SLOWMODE``; owners and
        admins, who are exempt). A send too soon raises ``SlowMode``, whose
        ``retry_after_ms`` says when the member may send again."""
        self._call("CHAT.SLOWMODE", room, actor, seconds)

    def moderation(self, room: str) -> dict[str, Any]:
        """A moderator's view of ``room`` (``CHAT.MODERATION``): ``private``
        (bool), ``slowmode`` (seconds, 0 when off), ``roles`` (each member
        above member with their role), ``invites`` (user -> unix ms), and
        ``bans`` and ``mutes`` in force (user -> end in unix ms, or None
        until lifted)."""
        fields = _replies.mapping(self._call("CHAT.MODERATION", room))

        def ends(value: Any) -> dict[str, int | None]:
            return {
                user: None if end is None else _replies.integer(end)
                for user, end in _replies.mapping(value).items()
            }

        return {
            "private": _replies.integer(fields.get("private", 0)) == 1,
            "slowmode": _replies.integer(fields.get("slowmode", 0)),
            "roles": {u: _replies.text(r) for u, r in _replies.mapping(fields.get("roles")).items()},
            "invites": {
                u: _replies.integer(at) for u, at in _replies.mapping(fields.get("invites")).items()
            },
            "bans": ends(fields.get("bans")),
            "mutes": ends(fields.get("mutes")),
        }
