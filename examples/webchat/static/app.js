// The web chat page. Talks to the web server over one WebSocket; see
// src/socket.rs for the frames, render.js for the drawing, talk.js for
// threads, reactions, mentions, pins, gaps and resets, moderation.js for
// roles, invitations and moderation, people.js for members and who is
// online, and account.js for signing in and out. Every piece of user text
// reaches the page through textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

const S = {
  token: sessionStorage.getItem('webchat.token'),
  user: null,
  ws: null,
  connected: false,
  everReady: false,
  retry: 0,
  closing: false,
  nextReq: 1,
  pending: new Map(),     // req -> {resolve, reject}
  rooms: new Map(),       // room id -> room state
  current: null,          // open room id
  names: new Map(),       // user id -> display name
  online: new Map(),      // user id -> online, for the people the user sees (people.js)
  askNames: new Set(),
  unknownRooms: new Map(),// room id -> {docs, lookup}: messages that arrived before its info
  sending: new Map(),     // nonce -> {nonce, room, text, failed}
  editing: null,          // {room, id, draft}
  thread: null,           // the open thread: {room, root, docs, ...} (talk.js)
  invites: new Map(),     // room id -> {room, title, by, at}: pending invitations (moderation.js)
  armed: null,            // {room, id, until}: a delete waiting for its second click
  lastTyping: new Map(),  // room id -> when this page last said typing
  renderQueued: false,
};

// ---------- helpers ----------

function capitalize(s) {
  s = String(s || '');
  return s.charAt(0).toUpperCase() + s.slice(1);
}

let toastTimer = null;
function toast(message) {
  const t = $('toast');
  t.textContent = capitalize(message);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, 5000);
}

function randomHex(bytes) {
  const a = new Uint8Array(bytes);
  crypto.getRandomValues(a);
  return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

function displayName(user) {
  return S.names.get(user) || user;
}

function isPhone() {
  return window.matchMedia('(max-width: 700px)').matches;
}

function formatTime(ts) {
  const d = new Date(ts);
  const now = new Date();
  const hm = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return hm;
  return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + hm;
}

function roomTitle(r) {
  if (r.dm) return r.dm.name || r.dm.user;
  return r.title || r.id;
}

function unreadOf(r) {
  return Math.max(0, r.lastId - r.cursor);
}

// ---------- connection ----------

function request(op, args = {}) {
  return new Promise((resolve, reject) => {
    if (!S.connected || !S.ws || S.ws.readyState !== WebSocket.OPEN) {
      const e = new Error('not connected to the server; trying again');
      e.offline = true;
      reject(e);
      return;
    }
    const req = S.nextReq++;
    S.pending.set(req, { resolve, reject });
    S.ws.send(JSON.stringify({ ...args, op, req }));
  });
}

function tell(op, args = {}) {
  if (S.connected && S.ws && S.ws.readyState === WebSocket.OPEN) {
    S.ws.send(JSON.stringify({ ...args, op }));
  }
}

function connect() {
  S.closing = false;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws`);
  S.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({ op: 'auth', token: S.token }));
  ws.onmessage = (ev) => {
    let frame;
    try { frame = JSON.parse(ev.data); } catch { return; }
    onFrame(frame);
  };
  ws.onclose = () => {
    if (S.ws !== ws) return;
    S.connected = false;
    setConnected(false);
    for (const p of S.pending.values()) {
      const e = new Error('the connection to the server was lost');
      e.offline = true;
      p.reject(e);
    }
    S.pending.clear();
    if (S.closing || !S.token) return;
    const delay = Math.min(10000, 500 * 2 ** S.retry++);
    setTimeout(() => { if (S.ws === ws && S.token) connect(); }, delay);
  };
}

function setConnected(on) {
  const dot = $('me-dot');
  dot.classList.toggle('online', on);
  dot.title = on ? 'connected' : 'reconnecting…';
}

function onFrame(f) {
  switch (f.t) {
    case 'ready': onReady(f); break;
    case 'missed': for (const d of f.messages || []) ingest(d); break;
    case 'inbox': onInbox(f); break;
    case 'push': onDoc(f.doc); break;
    case 'presence': setPresence(f.online); break;
    case 'resync': catchUp([f.room]); break;
    case 'reply': {
      const p = S.pending.get(f.req);
      if (!p) break;
      S.pending.delete(f.req);
      if ('error' in f) p.reject(new Error(f.error)); else p.resolve(f.data);
      break;
    }
    case 'error': toast(f.message); break;
    case 'signed_out': signedOut(f.message); break;
    default: break; // 'reconnect' and anything newer: the socket closes next
  }
}

// ---------- rooms and messages ----------

function newRoom(v) {
  return {
    id: v.id, title: v.title, mode: v.mode, members: v.members,
    lastId: v.last_id, cursor: v.cursor, dm: v.dm,
    msgs: new Map(), loaded: false, older: false, loadingOlder: false,
    stickToBottom: false,   // the next drawing scrolls to the newest message
    keepOffset: false,      // the next drawing keeps the view where it was (older ones added above)
    reads: null, typing: new Map(), divider: null, dividerCount: 0,
    holes: new Set(),       // ids after which the history keeps nothing more
    epoch: v.epoch || null, // the room's epoch as of the messages shown
    resets: 0,              // a read begun before a reset is dropped (resetRoom)
    ...talkState(),
    ...modState(),
  };
}

function updateRoom(r, v) {
  // Ids handed out again since the page read the room (talk.js).
  if (v.epoch && r.epoch && v.epoch !== r.epoch) resetRoom(r, { epoch: v.epoch, last_id: v.last_id });
  if (v.epoch) r.epoch = v.epoch;
  r.title = v.title;
  r.mode = v.mode;
  r.members = v.members;
  r.dm = v.dm;
  r.lastId = Math.max(r.lastId, v.last_id);
  r.cursor = Math.max(r.cursor, v.cursor);
  setMentionCount(r, v);
  modRoom(r, v);
  if (v.dm) S.names.set(v.dm.user, v.dm.name);
}

function addRoom(v) {
  let r = S.rooms.get(v.id);
  if (r) updateRoom(r, v); else {
    r = newRoom(v);
    setMentionCount(r, v);
    modRoom(r, v);
    S.rooms.set(v.id, r);
    if (v.dm) S.names.set(v.dm.user, v.dm.name);
  }
  const early = S.unknownRooms.get(v.id);
  S.unknownRooms.delete(v.id);
  for (const d of early ? early.docs : []) ingest(d);
  queueRender();
  return r;
}

function onReady(f) {
  S.connected = true;
  S.retry = 0;
  S.user = f.user;
  S.names.set(f.user, f.name);
  S.online.clear();
  setPresence(f.online);
  const listed = new Set();
  for (const v of f.rooms) { listed.add(v.id); addRoom(v); }
  for (const id of [...S.rooms.keys()]) if (!listed.has(id)) S.rooms.delete(id);
  setInvites(f.invites);
  $('me-name').textContent = f.name;
  setConnected(true);
  showApp();
  if (S.everReady) {
    // Back after a lost connection: whatever was sent meanwhile.
    catchUp([...S.rooms.values()].filter((r) => r.msgs.size).map((r) => r.id));
    for (const p of S.sending.values()) if (!p.failed) trySend(p);
  }
  S.everReady = true;
  let target = S.current && S.rooms.has(S.current) ? S.current
    : localStorage.getItem('webchat.room.' + S.user);
  if (!target || !S.rooms.has(target)) {
    const all = [...S.rooms.values()].sort(byTitle);
    target = (all.find((r) => !r.dm) || all[0] || {}).id;
  }
  renderAll();
  if (target) openRoom(target, false);
}

// A page of the inbox is acknowledged (and the server drops it from the
// inbox) only once each message is in its room and drawn; rooms the page did
// not know are asked for first. If one cannot be, the page is not
// acknowledged, and comes again on the next connection.
async function onInbox(f) {
  const docs = f.messages || [];
  for (const d of docs) ingest(d);
  if (!docs.length || !f.delivery) {
    document.body.dataset.synced = 'true';
    return;
  }
  const lookups = [...new Set(docs.map((d) => d.room))]
    .map((id) => S.unknownRooms.get(id))
    .filter(Boolean)
    .map((u) => u.lookup);
  const placed = await Promise.all(lookups);
  if (placed.includes(false)) return;
  renderAll();
  tell('ack', { delivery: f.delivery });
}

function isNewer(d, old) {
  if (d.deleted && !old.deleted) return true;
  return (d.edited || 0) > (old.edited || 0);
}

// Adds a message to its room, once per (room, id).
function ingest(d) {
  if (d && d.type === 'gap') {
    noteGap(d);
    return;
  }
  if (d && d.type === 'reset') {
    // A page that starts with a reset: the room's newest messages follow.
    const r = S.rooms.get(d.room);
    if (r) resetRoom(r, d);
    return;
  }
  if (!d || d.type !== 'message' || typeof d.id !== 'number') return;
  const r = S.rooms.get(d.room);
  if (!r) {
    lookupRoom(d.room).docs.push(d);
    return;
  }
  const old = r.msgs.get(d.id);
  if (old && !isNewer(d, old)) {
    // The same message, read again: its reactions and replies as they are.
    if (Array.isArray(d.mine)) {
      talkIngest(r, d, false);
      queueRender();
    }
    return;
  }
  const doc = { ...d };
  delete doc.delivery;
  r.msgs.set(d.id, doc);
  talkIngest(r, d, !old);
  if (d.id > r.lastId) r.lastId = d.id;
  if (d.sender === S.user && d.id > r.cursor) r.cursor = d.id;
  if (!old) r.typing.delete(d.sender);
  if (!S.names.has(d.sender)) askName(d.sender);
  queueRender();
}

// Asks the server about a room the page does not know; its messages wait
// meanwhile. `lookup` settles to true once they are placed (or the user is
// not a member, and there is nothing to show), false if the answer is lost.
function lookupRoom(id) {
  let u = S.unknownRooms.get(id);
  if (u) return u;
  u = { docs: [] };
  S.unknownRooms.set(id, u);
  u.lookup = request('room', { room: id }).then((v) => {
    if (S.unknownRooms.get(id) !== u) return S.rooms.has(id);
    if (v) addRoom(v); else S.unknownRooms.delete(id);
    return true;
  }).catch(() => {
    if (S.unknownRooms.get(id) === u) S.unknownRooms.delete(id);
    return false;
  });
  return u;
}

function onDoc(d) {
  if (!d || typeof d !== 'object') return;
  const r = S.rooms.get(d.room);
  switch (d.type) {
    case 'message': ingest(d); return;
    case 'dropped': if (r) removeRoom(d.room, 'The room was removed.'); return;
    case 'reset': if (r) resetRoom(r, d); return;
    case 'invite': onInvite(d); return;
    default: break;
  }
  if (!r) return;
  switch (d.type) {
    case 'read':
      if (d.user === S.user) r.cursor = Math.max(r.cursor, d.id);
      else {
        if (r.reads) r.reads[d.user] = Math.max(r.reads[d.user] || 0, d.id);
        if (!S.names.has(d.user)) askName(d.user);
      }
      break;
    case 'typing':
      if (d.user === S.user) return;
      r.typing.set(d.user, Date.now() + 4000);
      if (!S.names.has(d.user)) askName(d.user);
      setTimeout(renderTyping, 4100);
      break;
    case 'mode': r.mode = d.mode; break;
    default:
      // edit, delete, reaction, pin, unpin, mention; role, kick, ban,
      // unban, mute, unmute, slowmode; member
      if (!talkEvent(r, d) && !modEvent(r, d) && !memberEvent(r, d)) return;
  }
  queueRender();
}

function removeRoom(id, message) {
  S.rooms.delete(id);
  if (S.thread && S.thread.room === id) S.thread = null;
  if (S.current === id) {
    S.current = null;
    if (message) toast(message);
    $('app').classList.remove('in-room');
  }
  renderAll();
}

let nameTimer = null;
function askName(user) {
  if (S.askNames.has(user)) return;
  S.askNames.add(user);
  clearTimeout(nameTimer);
  nameTimer = setTimeout(() => {
    const users = [...S.askNames].filter((u) => !S.names.has(u));
    if (!users.length) return;
    request('profiles', { users }).then((names) => {
      for (const [u, n] of Object.entries(names)) S.names.set(u, n || u);
      queueRender();
    }).catch(() => {});
  }, 50);
}

function catchUp(ids) {
  const rooms = {};
  for (const id of ids) {
    const r = S.rooms.get(id);
    if (r && r.msgs.size) rooms[id] = Math.max(...r.msgs.keys());
  }
  if (Object.keys(rooms).length) request('catchup', { rooms }).catch(() => {});
}

async function openRoom(id, showConversation) {
  const r = S.rooms.get(id);
  if (!r) return;
  if (S.current !== id) S.editing = null;
  if (S.thread && S.thread.room !== id) S.thread = null;
  S.current = id;
  localStorage.setItem('webchat.room.' + S.user, id);
  setDivider(r, true);
  r.stickToBottom = true;
  if (showConversation) $('app').classList.add('in-room');
  renderAll();
  const resets = r.resets;
  try {
    const data = await request('open', { room: id });
    if (r.resets !== resets) return; // read before a reset: the reset reads again
    updateRoom(r, data.room);
    for (const [u, n] of Object.entries(data.names || {})) S.names.set(u, n);
    r.reads = data.reads || null;
    r.pins = data.pins || [];
    if (data.roles !== undefined) r.roles = data.roles;
    for (const d of data.messages) ingest(d);
    if (!r.loaded) r.older = data.older;
    r.loaded = true;
    if (S.current === id) setDivider(r, false);
    r.stickToBottom = true;
    renderAll();
  } catch (e) {
    if (!e.offline) toast(e.message);
  }
}

// "N new messages" above the first message after the read cursor, as it was
// when the room was opened; it stays put while the room is open.
function setDivider(r, reset) {
  if (!reset && r.divider !== null) return;
  const n = unreadOf(r);
  r.divider = n > 0 ? r.cursor : null;
  r.dividerCount = n;
}

async function loadOlder() {
  const r = S.rooms.get(S.current);
  if (!r || r.loadingOlder || !r.msgs.size) return;
  r.loadingOlder = true;
  const resets = r.resets;
  try {
    const before = Math.min(...r.msgs.keys());
    const data = await request('older', { room: r.id, before });
    if (r.resets !== resets) return;
    r.keepOffset = true;
    for (const d of data.messages) ingest(d);
    r.older = data.older && data.messages.length > 0;
    renderAll();
  } catch (e) {
    if (!e.offline) toast(e.message);
  } finally {
    r.loadingOlder = false;
  }
}

function markRead() {
  const r = S.rooms.get(S.current);
  if (!r || !r.loaded || document.visibilityState !== 'visible' || !r.msgs.size) return;
  const max = Math.max(...r.msgs.keys());
  if (max <= r.cursor) return;
  r.cursor = max;
  tell('read', { room: r.id, id: max });
  renderRooms();
}

// ---------- sending ----------

// A message keeps its nonce until the server confirms it: sending it again
// (after a lost connection, or with "Retry") can never make a second copy.
function trySend(p) {
  p.failed = null;
  const args = { room: p.room, text: p.text, nonce: p.nonce, reply_to: p.reply_to, mentions: p.mentions };
  request('send', args).then((data) => {
    S.sending.delete(p.nonce);
    if (data && data.doc) ingest(data.doc);
    queueRender();
  }).catch((e) => {
    if (e.offline) return; // sent again, with the same nonce, once back
    p.failed = sendRefused(p, e);
    queueRender();
  });
  queueRender();
}

function submitMessage(ev) {
  ev.preventDefault();
  const r = S.rooms.get(S.current);
  const box = $('text');
  const text = box.value;
  if (!r || !text.trim()) return;
  const p = { nonce: randomHex(16), room: r.id, text, mentions: mentionNames(text) };
  S.sending.set(p.nonce, p);
  // The others stop showing "typing" when the message arrives: typing again
  // after it is news at once.
  S.lastTyping.delete(r.id);
  box.value = '';
  autosize();
  r.stickToBottom = true;
  queueRender();
  trySend(p);
}

function autosize() {
  const box = $('text');
  box.style.height = 'auto';
  box.style.height = Math.min(box.scrollHeight, 140) + 'px';
}

async function joinRoom(ev) {
  ev.preventDefault();
  const input = $('join-room');
  const room = input.value.trim();
  if (!room) return;
  // A room that does not exist yet is made: open to all, with the user as
  // its owner, or private (joined by invitation only).
  const kind = $('join-kind').value;
  try {
    const v = await request('join', { room, owner: kind !== 'open', private: kind === 'private' });
    input.value = '';
    if (v) { addRoom(v); openRoom(v.id, true); }
  } catch (e) { refused(e); }
}

async function startDm(ev) {
  ev.preventDefault();
  const input = $('dm-user');
  const user = input.value.trim();
  if (!user) return;
  try {
    const v = await request('dm', { user });
    input.value = '';
    if (v) { addRoom(v); openRoom(v.id, true); }
  } catch (e) { toast(e.message); }
}

async function leaveRoom() {
  const r = S.rooms.get(S.current);
  if (!r) return;
  try {
    await request('leave', { room: r.id });
    removeRoom(r.id);
  } catch (e) { toast(e.message); }
}

// ---------- wiring ----------

function start() {
  $('mode-signin').addEventListener('click', () => setAuthMode('signin'));
  $('mode-signup').addEventListener('click', () => setAuthMode('signup'));
  $('signin-form').addEventListener('submit', submitAuth);
  $('signout').addEventListener('click', signOut);
  $('passwd-open').addEventListener('click', () => togglePasswd($('passwd-form').hidden));
  $('passwd-cancel').addEventListener('click', () => togglePasswd(false));
  $('passwd-form').addEventListener('submit', changePassword);
  $('join-form').addEventListener('submit', joinRoom);
  $('dm-form').addEventListener('submit', startDm);
  $('composer').addEventListener('submit', submitMessage);
  $('thread-form').addEventListener('submit', submitReply);
  $('thread-close').addEventListener('click', closeThread);
  $('notice-close').addEventListener('click', () => { $('notice').hidden = true; });
  $('leave').addEventListener('click', leaveRoom);
  $('back').addEventListener('click', () => $('app').classList.remove('in-room'));
  $('older').addEventListener('click', loadOlder);
  startModeration();
  $('messages').addEventListener('scroll', () => {
    const r = S.rooms.get(S.current);
    if (r && r.older && $('messages').scrollTop < 40) loadOlder();
  });
  $('thread-text').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('thread-form').requestSubmit();
    }
  });
  const text = $('text');
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      $('composer').requestSubmit();
    }
  });
  text.addEventListener('input', () => {
    autosize();
    const now = Date.now();
    if (S.current && text.value.trim() && now - (S.lastTyping.get(S.current) || 0) > 3000) {
      S.lastTyping.set(S.current, now);
      tell('typing', { room: S.current });
    }
  });
  document.addEventListener('visibilitychange', markRead);
  window.addEventListener('focus', markRead);

  if (S.token) connect(); else showSignIn('');
}

start();
