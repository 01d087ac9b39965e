// Who is in a room, and who is online, live. The web server follows the
// presence of the people the user sees (the module's presence events) and
// sends `presence` frames: {"online": {"bob": true}}, all of them in
// `ready`, then each change. The module's `member` events (join, leave,
// invite, kick, ban) change a room's member list as they come, with no
// reading again. Loaded before app.js, whose state (S) and helpers these
// functions use when called.
'use strict';

// A presence frame (or ready's): user -> online.
function setPresence(online) {
  if (!online || typeof online !== 'object') return;
  for (const [user, on] of Object.entries(online)) S.online.set(user, on === true);
  queueRender();
}

function isOnline(user) {
  return user === S.user ? S.connected : S.online.get(user) === true;
}

// Whether the page lists the room's members (read receipts, roles).
function listed(r, user) {
  return !!((r.reads && user in r.reads) || (r.roles && user in r.roles));
}

// Someone joined: listed with no read receipt and the role member.
function memberCame(r, user) {
  if (listed(r, user)) return;
  r.members += 1;
  if (r.reads) r.reads[user] = 0;
  if (r.roles) r.roles[user] = 'member';
  r.invited.delete(user);
  if (!S.names.has(user)) askName(user);
}

// Someone left, or was kicked or banned: each may be told twice (a
// `member` event and a `kick`), and counts once.
function memberGone(r, user) {
  if (listed(r, user)) r.members = Math.max(0, r.members - 1);
  if (r.reads) delete r.reads[user];
  if (r.roles) delete r.roles[user];
  r.owners = r.owners.filter((u) => u !== user);
  r.typing.delete(user);
}

// A member event of a room the page has; false for anything else.
function memberEvent(r, d) {
  if (d.type !== 'member' || typeof d.user !== 'string') return false;
  // A list of invitations read before this is stale.
  r.modSeq += 1;
  switch (d.change) {
    case 'join': memberCame(r, d.user); return true;
    case 'leave': case 'kick': case 'ban': memberGone(r, d.user); return true;
    case 'invite':
      // For the moderators' list of invitations waiting.
      if (!r.invited.has(d.user)) r.invited.set(d.user, Date.now());
      if (!S.names.has(d.user)) askName(d.user);
      return true;
    default: return false;
  }
}

// The members above the messages, each with a presence dot and their role.
function renderPeople(r) {
  const box = $('room-people');
  box.replaceChildren();
  const members = r.reads ? Object.keys(r.reads) : null;
  if (members && members.length <= 20) {
    for (const u of members.sort()) {
      const p = el('span', 'person');
      const dot = el('span', 'dot');
      const on = isOnline(u);
      if (on) dot.classList.add('online');
      p.append(dot, el('span', null, u === S.user ? displayName(u) + ' (you)' : displayName(u)));
      const role = roleOf(r, u);
      if (role !== 'member') p.append(el('span', 'role ' + role, role));
      p.dataset.user = u;
      p.title = on ? 'online' : 'offline';
      box.append(p);
    }
  } else if (members) {
    const online = members.filter(isOnline).length;
    box.append(el('span', null, `${r.members} members · ${online} online`));
  } else {
    box.append(el('span', null, `${r.members} members`));
  }
}
