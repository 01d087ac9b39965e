// Moderation on the page: rooms with an owner, each member's role, and
// what owners and admins do to members (make admin or member, mute, kick,
// ban, slow mode, invitations), with the bans, mutes and invitations in
// force (CHAT.MODERATION, for owners and admins, read when the members
// panel opens, then changed by the events); the user's pending
// invitations; and the module's refusals (MUTED, SLOWMODE, RATELIMIT,
// NOINVITE, BANNED, NOPERM) in words. Loaded before app.js, whose state (S) and helpers
// these functions use when called. The module decides who may do what;
// the page only offers what it would allow.
'use strict';

const RANK = { member: 1, admin: 2, owner: 3 };
const ROLE_NAMES = { member: 'a member', admin: 'an admin', owner: 'an owner' };
// The codes of the module's refusals that the page says in its own words.
const REFUSALS = ['MUTED', 'SLOWMODE', 'RATELIMIT', 'NOINVITE', 'BANNED', 'NOPERM'];
const MOD_EVENTS = ['role', 'kick', 'ban', 'unban', 'mute', 'unmute', 'slowmode'];

// What a room needs for moderation, added to the room's state.
function modState() {
  return {
    private: false,
    slowmode: 0,          // seconds a member waits between messages; 0: off
    owners: [],           // from CHAT.INFO: a room with none has no moderation
    roles: null,          // member -> role, read when the room is opened; null: not known
    muted: null,          // {until}: the user is muted here (until: unix ms, or null until lifted)
    // The room's moderation in force, for its owners and admins: read when
    // the members panel opens, and changed by the events since.
    mutes: new Map(),     // user -> until (unix ms, or null until lifted)
    bans: new Map(),      // user -> until
    invited: new Map(),   // user -> when invited (unix ms), not joined yet
    modMore: null,        // {bans, mutes, invites}: how many the server left out
    modSeq: 0,            // moderation changes seen: a list read before one is stale
    membersOpen: false,   // the members panel is shown
    armedMod: null,       // {user, what, until}: a kick or ban waiting for its second click
  };
}

// A room as the server describes it (CHAT.INFO's private, slowmode, owners).
function modRoom(r, v) {
  if (typeof v.private === 'boolean') r.private = v.private;
  if (typeof v.slowmode === 'number') r.slowmode = v.slowmode;
  if (Array.isArray(v.owners)) r.owners = v.owners;
}

// ---------- who may do what ----------

function roleOf(r, user) {
  const known = r.roles && r.roles[user];
  if (RANK[known]) return known;
  return r.owners.includes(user) ? 'owner' : 'member';
}

function hasOwner(r) {
  return r.owners.length > 0 || (!!r.roles && Object.values(r.roles).includes('owner'));
}

// The user is an owner or admin of a room with an owner.
function canModerate(r) {
  return !r.dm && hasOwner(r) && RANK[roleOf(r, S.user)] >= RANK.admin;
}

// Mute, kick and ban need a role above the member's.
function outranks(r, user) {
  return canModerate(r) && user !== S.user && RANK[roleOf(r, S.user)] > RANK[roleOf(r, user)];
}

// Owners and admins change roles; an admin never an owner's.
function mayChangeRole(r, user) {
  return canModerate(r) && user !== S.user && (roleOf(r, S.user) === 'owner' || roleOf(r, user) !== 'owner');
}

// In a room with an owner, only owners and admins pin.
function mayPin(r) {
  return !hasOwner(r) || canModerate(r);
}

function mutedNow(r) {
  return !!r && !!r.muted && (r.muted.until == null || r.muted.until > Date.now());
}

function untilText(until) {
  return until == null ? 'until an owner or admin lifts it' : 'until ' + formatTime(until);
}

function untilShort(until) {
  return until == null ? 'until lifted' : 'until ' + formatTime(until);
}

// Why the user cannot write in the room, or null.
function composerBlock(r) {
  if (!mutedNow(r)) return null;
  return `You are muted in this room ${untilText(r.muted.until)}`;
}

function deletedText(m) {
  return m.deleted_by && m.deleted_by !== m.sender ? `Message deleted by ${displayName(m.deleted_by)}` : 'Message deleted';
}

function roomLabel(r) {
  return (r.dm ? '' : '# ') + roomTitle(r);
}

// ---------- the module's refusals, in words ----------

function refusalCode(message) {
  const m = /^([A-Z]+) /.exec(String(message));
  return m && REFUSALS.includes(m[1]) ? m[1] : null;
}

function inSeconds(ms) {
  const s = Math.max(1, Math.ceil(Number(ms) / 1000));
  return s === 1 ? '1 second' : `${s} seconds`;
}

// "MUTED bob is muted in room r until 1764583200000 (30 seconds from now)"
// and its kin, as a sentence about the user or whoever it names.
function readable(message) {
  const text = String(message);
  const code = refusalCode(text);
  if (!code) return text;
  const rest = text.slice(code.length + 1);
  const until = /until (\d{10,})/.exec(rest);
  const when = untilText(until ? Number(until[1]) : null);
  const subject = (user) => (user === S.user ? 'You are' : `${displayName(user)} is`);
  switch (code) {
    case 'MUTED': return `${subject(rest.split(' ')[0])} muted in this room ${when}.`;
    case 'BANNED': return `${subject(rest.split(' ')[0])} banned from this room ${when}.`;
    case 'SLOWMODE': {
      const every = /every (\d+) seconds/.exec(rest);
      const again = /again in (\d+) ms/.exec(rest);
      return `Slow mode: this room allows one message every ${every ? every[1] : 'few'} seconds`
        + (again ? `; you may send again in ${inSeconds(again[1])}.` : '.');
    }
    case 'RATELIMIT': {
      const rate = /may send (\d+) messages per second/.exec(rest);
      const again = /retry in (\d+) ms/.exec(rest);
      const most = rate && (rate[1] === '1' ? '1 message' : `${rate[1]} messages`);
      return `You are sending too fast${rate ? ` (at most ${most} a second)` : ''}`
        + (again ? `; try again in ${inSeconds(again[1])}.` : '.');
    }
    case 'NOINVITE': return 'This room is private: you need an invitation from one of its owners or admins.';
    default: return `Not allowed: ${rest}`;
  }
}

// A refusal as a notice above the messages; any other error as a toast.
function refused(e) {
  if (e.offline) return;
  if (refusalCode(e.message)) showNotice(readable(e.message));
  else toast(e.message);
}

// A send the module refused: the notice, what the room learns from it (a
// mute the page did not know of, the room's slow mode), and the words the
// pending message shows.
function sendRefused(p, e) {
  const code = refusalCode(e.message);
  const r = S.rooms.get(p.room);
  if (r && code === 'MUTED') {
    const until = /until (\d{10,})/.exec(e.message);
    setMuted(r, { until: until ? Number(until[1]) : null });
  }
  if (r && code === 'SLOWMODE') {
    const every = /every (\d+) seconds/.exec(e.message);
    if (every) r.slowmode = Number(every[1]);
  }
  const text = readable(e.message);
  if (code) showNotice(text); else toast('Not sent: ' + text);
  return text;
}

function setMuted(r, muted) {
  r.muted = muted;
  // The composer opens again when the mute ends.
  if (muted && muted.until != null) setTimeout(queueRender, Math.min(2 ** 31 - 1, muted.until - Date.now() + 50));
}

// ---------- events ----------

// role, kick, ban, unban, mute, unmute and slowmode events, from the
// module or (the user's own actions, and the user they concern) from the
// web server: each may come twice, and changes the page once.
function modEvent(r, d) {
  if (!MOD_EVENTS.includes(d.type)) return false;
  r.modSeq += 1;
  if (typeof d.user === 'string' && !S.names.has(d.user)) askName(d.user);
  const by = d.by === S.user ? 'You' : displayName(d.by);
  switch (d.type) {
    case 'role':
      if (!RANK[d.role]) return false;
      if (!r.roles) r.roles = {};
      if (r.roles[d.user] === d.role) return true;
      r.roles[d.user] = d.role;
      r.owners = r.owners.filter((u) => u !== d.user).concat(d.role === 'owner' ? [d.user] : []).sort();
      if (d.user === S.user && d.by !== S.user) toast(`${by} made you ${ROLE_NAMES[d.role]} of ${roomLabel(r)}`);
      return true;
    case 'kick':
    case 'ban':
      if (d.type === 'ban') r.bans.set(d.user, d.until ?? null);
      r.invited.delete(d.user);
      if (d.user === S.user) {
        removeRoom(r.id);
        showNotice(d.type === 'kick'
          ? `${by} removed you from ${roomLabel(r)}.`
          : `${by} banned you from ${roomLabel(r)} ${untilText(d.until ?? null)}.`);
        return true;
      }
      memberGone(r, d.user);
      return true;
    case 'unban': r.bans.delete(d.user); return true;
    case 'mute':
      if (d.user === S.user) setMuted(r, { until: d.until ?? null });
      else r.mutes.set(d.user, d.until ?? null);
      return true;
    case 'unmute':
      if (d.user === S.user) {
        if (mutedNow(r) && d.by !== S.user) toast(`${by} unmuted you in ${roomLabel(r)}`);
        r.muted = null;
      } else r.mutes.delete(d.user);
      return true;
    case 'slowmode':
      if (typeof d.seconds !== 'number') return false;
      if (r.slowmode !== d.seconds && r.id === S.current && d.by !== S.user) {
        toast(d.seconds ? `${by} turned on slow mode` : `${by} turned off slow mode`);
      }
      r.slowmode = d.seconds;
      return true;
    default: return false;
  }
}

// ---------- invitations ----------

function setInvites(list) {
  S.invites.clear();
  for (const v of Array.isArray(list) ? list : []) addInvite(v);
}

function addInvite(v) {
  if (!v || typeof v.room !== 'string') return;
  const old = S.invites.get(v.room) || {};
  S.invites.set(v.room, { room: v.room, title: v.title || old.title || v.room, by: v.by || old.by || null, at: v.at || old.at || Date.now() });
  if (v.by && !S.names.has(v.by)) askName(v.by);
}

// An invite event: for the user only (the module's, or the web server's
// when the module could not reach the user's channel).
function onInvite(d) {
  if (typeof d.user === 'string' && d.user !== S.user) return;
  const fresh = !S.invites.has(d.room) && !S.rooms.has(d.room);
  addInvite(d);
  if (fresh) toast(`${displayName(d.by)} invited you to # ${d.title || d.room}`);
  queueRender();
}

async function acceptInvite(v) {
  try {
    const room = await request('join', { room: v.room });
    S.invites.delete(v.room);
    if (room) { addRoom(room); openRoom(room.id, true); }
  } catch (e) {
    // An invitation the module no longer has is gone from the list.
    if (['NOINVITE', 'BANNED'].includes(refusalCode(e.message))) S.invites.delete(v.room);
    refused(e);
    queueRender();
  }
}

function renderInvites() {
  const list = [...S.invites.values()].filter((v) => !S.rooms.has(v.room))
    .sort((a, b) => a.title.localeCompare(b.title));
  $('invites-box').hidden = !list.length;
  const box = $('invites');
  box.replaceChildren();
  for (const v of list) {
    const li = el('li', 'invite');
    li.dataset.room = v.room;
    const name = el('span', 'name', v.title);
    if (v.by) name.title = `Invited by ${displayName(v.by)}`;
    li.append(el('span', 'hash', '#'), name, button('join', 'Join', () => acceptInvite(v)));
    box.append(li);
  }
}

// ---------- the members panel ----------

// The members with their roles and, for an owner or admin, the bans,
// mutes and invitations in force.
async function refreshMembers(r, tries = 3) {
  const seq = r.modSeq;
  try {
    const data = await request('members', { room: r.id });
    if (data.roles) {
      r.roles = data.roles;
      for (const u of Object.keys(r.roles)) if (!S.names.has(u)) askName(u);
    }
    // A list read before a change the page has seen since would undo it:
    // it is read again.
    if (data.moderation && r.modSeq !== seq && tries > 1) return refreshMembers(r, tries - 1);
    if (data.moderation && r.modSeq === seq) setModeration(r, data.moderation);
    queueRender();
  } catch (e) {
    if (!e.offline) toast(e.message);
  }
}

// CHAT.MODERATION as the server sends it: what the module has in force
// replaces what the page knew.
function setModeration(r, m) {
  const entries = (o) => Object.entries(o && typeof o === 'object' ? o : {});
  const end = (v) => (typeof v === 'number' ? v : null);
  if (typeof m.private === 'boolean') r.private = m.private;
  if (typeof m.slowmode === 'number') r.slowmode = m.slowmode;
  r.bans = new Map(entries(m.bans).map(([u, v]) => [u, end(v)]));
  const mutes = entries(m.mutes).map(([u, v]) => [u, end(v)]);
  r.mutes = new Map(mutes.filter(([u]) => u !== S.user));
  // An admin muted by an owner: their own composer says so.
  const mine = mutes.find(([u]) => u === S.user);
  if (!mine) r.muted = null;
  else if (!r.muted || r.muted.until !== mine[1]) setMuted(r, { until: mine[1] });
  r.invited = new Map(entries(m.invites).filter(([, at]) => typeof at === 'number'));
  r.modMore = m.more && typeof m.more === 'object' ? m.more : null;
  for (const u of [...r.bans.keys(), ...r.mutes.keys(), ...r.invited.keys()]) {
    if (!S.names.has(u)) askName(u);
  }
}

function toggleMembers() {
  const r = S.rooms.get(S.current);
  if (!r) return;
  r.membersOpen = !r.membersOpen;
  if (r.membersOpen) refreshMembers(r);
  queueRender();
}

async function moderate(r, op, args) {
  try {
    await request(op, { room: r.id, ...args });
  } catch (e) {
    refused(e);
  }
}

// The duration chosen for mutes and bans: seconds, or none (until lifted).
function chosenDuration() {
  const n = Number($('mod-duration').value);
  return n > 0 ? { seconds: n } : {};
}

// Kick and ban take a second click within 4 seconds.
function armedButton(r, user, what, label) {
  const a = r.armedMod;
  const armed = a && a.user === user && a.what === what && a.until > Date.now();
  return button(what, armed ? `${label} ${displayName(user)}?` : label, () => {
    const now = r.armedMod;
    if (!(now && now.user === user && now.what === what && now.until > Date.now())) {
      r.armedMod = { user, what, until: Date.now() + 4000 };
      queueRender();
      setTimeout(queueRender, 4100);
      return;
    }
    r.armedMod = null;
    moderate(r, what, what === 'ban' ? { user, ...chosenDuration() } : { user });
  });
}

// A ban's or mute's end as a tag ("banned until 14:05"), with the end in
// data-until (empty: until lifted).
function endTag(what, until) {
  const tag = el('span', 'tag', `${what} ${untilShort(until)}`);
  tag.dataset.until = until == null ? '' : String(until);
  return tag;
}

// The bans or mutes of a map still in force, by user.
function inForce(map) {
  const now = Date.now();
  return [...map].filter(([, until]) => until == null || until > now)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function isMuted(r, user) {
  return r.mutes.has(user) && inForce([[user, r.mutes.get(user)]]).length > 0;
}

function memberRow(r, user) {
  const role = roleOf(r, user);
  const li = el('li', 'member');
  li.dataset.user = user;
  li.append(el('span', 'name', user === S.user ? displayName(user) + ' (you)' : displayName(user)),
    el('span', 'role ' + role, role));
  if (isMuted(r, user)) li.append(endTag('muted', r.mutes.get(user)));
  const actions = el('span', 'member-actions');
  if (mayChangeRole(r, user)) {
    if (role !== 'admin') actions.append(button('make-admin', 'Make admin', () => moderate(r, 'role', { user, role: 'admin' })));
    if (role !== 'member') actions.append(button('make-member', 'Make member', () => moderate(r, 'role', { user, role: 'member' })));
  }
  if (outranks(r, user)) {
    actions.append(isMuted(r, user)
      ? button('unmute', 'Unmute', () => moderate(r, 'unmute', { user }))
      : button('mute', 'Mute', () => moderate(r, 'mute', { user, ...chosenDuration() })));
    actions.append(armedButton(r, user, 'kick', 'Kick'), armedButton(r, user, 'ban', 'Ban'));
  }
  li.append(actions);
  return li;
}

// The list is drawn again only when what it shows changed, so a button is
// not replaced under the pointer by every message that arrives.
let membersDrawn = '';

// One of the lists under the moderation tools (banned, muted, invited):
// hidden when empty; "and 5 more" where the server left some out.
function renderModList(id, rows, more) {
  const list = $(id + '-list');
  list.replaceChildren(...rows);
  if (more > 0) list.append(el('li', 'hint', `and ${more} more`));
  $(id + '-box').hidden = !list.children.length;
}

function userRow(user, ...parts) {
  const li = el('li', 'member');
  li.dataset.user = user;
  li.append(el('span', 'name', displayName(user)), ...parts);
  return li;
}

function renderMembers(r) {
  const members = Object.keys(r.roles || r.reads || {}).sort();
  const listed = new Set(members);
  const mod = canModerate(r);
  const a = r.armedMod && r.armedMod.until > Date.now() ? r.armedMod : null;
  const bans = inForce(r.bans);
  const mutes = inForce(r.mutes);
  // Those the member list does not show: left, or in a room too big to list.
  const mutedOthers = mutes.filter(([u]) => !listed.has(u));
  const invited = [...r.invited].filter(([u]) => !listed.has(u)).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const names = (list) => list.map(([u, v]) => [u, v, displayName(u)]);
  const key = JSON.stringify([r.id, S.user, mod, members.map((u) => [u, roleOf(r, u), displayName(u)]),
    mutes, names(bans), names(mutedOthers), names(invited), r.modMore, a && [a.user, a.what]]);
  if (key === membersDrawn) return;
  membersDrawn = key;
  const list = $('members-list');
  list.replaceChildren(...members.map((u) => memberRow(r, u)));
  if (!members.length) list.append(el('li', 'hint', `${r.members} members`));
  const more = r.modMore || {};
  renderModList('bans', bans.map(([user, until]) => userRow(user, endTag('banned', until),
    button('unban', 'Unban', () => moderate(r, 'unban', { user })))), more.bans);
  renderModList('muted', mutedOthers.map(([user, until]) => userRow(user, endTag('muted', until),
    button('unmute', 'Unmute', () => moderate(r, 'unmute', { user })))), more.mutes);
  renderModList('invited', invited.map(([user, at]) => userRow(user, el('span', 'tag', 'invited ' + formatTime(at)))),
    more.invites);
}

// The members button and panel, and the line above the composer that says
// why the user cannot write, or that the room is in slow mode.
function renderModeration(r) {
  const open = $('members-open');
  open.hidden = !r || !!r.dm;
  const panel = $('members');
  panel.hidden = !r || !!r.dm || !r.membersOpen;
  open.setAttribute('aria-expanded', String(!panel.hidden));
  const state = $('room-state');
  const lines = [];
  const block = composerBlock(r);
  if (block) lines.push(block + '.');
  if (r && r.slowmode > 0) {
    lines.push(`Slow mode: members may send one message every ${r.slowmode === 1 ? 'second' : r.slowmode + ' seconds'}`
      + (canModerate(r) ? ' (owners and admins are not limited).' : '.'));
  }
  state.textContent = lines.join(' ');
  state.hidden = !lines.length;
  if (panel.hidden) {
    membersDrawn = '';
    return;
  }
  $('members-title').textContent = r.private ? 'Members · private room' : 'Members';
  $('mod-tools').hidden = !canModerate(r);
  const slow = $('slowmode');
  if (document.activeElement !== slow) {
    if (![...slow.options].some((o) => o.value === String(r.slowmode))) {
      slow.append(el('option', null, `${r.slowmode} seconds`));
      slow.lastChild.value = String(r.slowmode);
    }
    slow.value = String(r.slowmode);
  }
  renderMembers(r);
}

async function inviteUser(ev) {
  ev.preventDefault();
  const r = S.rooms.get(S.current);
  const input = $('invite-user');
  const user = input.value.trim();
  if (!r || !user) return;
  try {
    const res = await request('invite', { room: r.id, user });
    input.value = '';
    r.modSeq += 1;
    if (!r.invited.has(user)) r.invited.set(user, Date.now());
    queueRender();
    toast(res.invited ? `Invited ${user}` : `${user} was invited already`);
  } catch (e) {
    refused(e);
  }
}

function startModeration() {
  $('members-open').addEventListener('click', toggleMembers);
  $('invite-form').addEventListener('submit', inviteUser);
  $('slowmode').addEventListener('change', () => {
    const r = S.rooms.get(S.current);
    if (r) moderate(r, 'slowmode', { seconds: Number($('slowmode').value) });
  });
}
