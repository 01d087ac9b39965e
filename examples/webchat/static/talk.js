// Conversations on the page: replies and threads, reactions, mentions, pins,
// the notices for messages the server no longer keeps, and rooms read afresh
// when their ids were handed out again. Loaded before
// app.js, whose state (S) and helpers these functions use when called.
'use strict';

// The reactions offered under each message; chips show any others given.
const REACTIONS = ['👍', '❤️', '😂', 'ok'];

// "@name" after a space (or at the start): user names are letters, digits
// and _ . : @ -, and a name ends in a letter, digit or _ so that "@bob,"
// and "@bob." name bob.
const MENTION = /(^|[^A-Za-z0-9_.:@-])@([A-Za-z0-9_.:@-]*[A-Za-z0-9_])/g;

// What a room needs for all of this, added to the room's state.
function talkState() {
  return {
    mentionBase: 0,        // the server's count of mentions, as of message mentionAt
    mentionAt: 0,
    mentionIds: new Set(), // mentions of the user after mentionAt, seen since
    replySeen: new Map(),  // root id -> ids of its replies the page has seen
    reacted: new Map(),    // message id -> Map "reaction\nuser" -> whether given
    pins: null,            // pinned messages, most recently pinned first; null: not read
    pinsOpen: false,
    gaps: new Map(),       // after -> {after, before}: ids the history no longer keeps
  };
}

// ---------- mentions ----------

// The names written as "@name": the server mentions those who are members.
function mentionNames(text) {
  const names = [];
  for (const m of String(text).matchAll(MENTION)) {
    if (m[2] !== S.user && !names.includes(m[2])) names.push(m[2]);
  }
  return names.slice(0, 100);
}

function mentionsMe(m) {
  return Array.isArray(m.mentions) && m.mentions.includes(S.user) && m.sender !== S.user;
}

// The room list's "@" badge: the server's count until the read cursor
// passes the message it was counted at, plus the mentions seen since.
function mentionsOf(r) {
  let n = r.cursor >= r.mentionAt ? 0 : r.mentionBase;
  for (const id of r.mentionIds) if (id > r.cursor) n++;
  return n;
}

// A room as the server describes it: its count of mentions.
function setMentionCount(r, v) {
  if (typeof v.mentions !== 'number') return;
  r.mentionBase = v.mentions;
  r.mentionAt = v.last_id;
  for (const id of r.mentionIds) if (id <= v.last_id) r.mentionIds.delete(id);
}

function noteMention(r, id) {
  if (typeof id === 'number' && id > r.mentionAt && id > r.cursor) r.mentionIds.add(id);
}

// A message's text, with each "@name" of a mentioned member marked.
function textElement(m) {
  const div = el('div', 'text');
  const names = Array.isArray(m.mentions) ? m.mentions : [];
  const text = String(m.text ?? '');
  let last = 0;
  for (const x of names.length ? text.matchAll(MENTION) : []) {
    if (!names.includes(x[2])) continue;
    const at = x.index + x[1].length;
    div.append(document.createTextNode(text.slice(last, at)));
    div.append(el('span', x[2] === S.user ? 'at you' : 'at', '@' + x[2]));
    last = at + 1 + x[2].length;
  }
  div.append(document.createTextNode(text.slice(last)));
  return div;
}

// ---------- what reached the room ----------

// Every copy of a message the page shows: in the room, in the open thread.
function copiesOf(r, id) {
  const out = [];
  if (r.msgs.has(id)) out.push(r.msgs.get(id));
  const t = S.thread;
  if (t && t.room === r.id && t.docs.has(id)) out.push(t.docs.get(id));
  return out;
}

// A document the server read from the history just now (it carries
// "mine"): its reaction and reply counts are as they are, and the user's
// own reactions are known.
function takeCounts(r, d) {
  if (!Array.isArray(d.mine)) return;
  for (const m of copiesOf(r, d.id)) {
    for (const k of ['reactions', 'replies', 'last_reply']) {
      if (d[k] === undefined) delete m[k]; else m[k] = d[k];
    }
    delete m.mine;
  }
  const who = new Map();
  for (const x of Object.keys(d.reactions || {})) who.set(x + '\n' + S.user, d.mine.includes(x));
  r.reacted.set(d.id, who);
}

function seeReply(r, d) {
  if (typeof d.reply_to !== 'number') return;
  let seen = r.replySeen.get(d.reply_to);
  if (!seen) r.replySeen.set(d.reply_to, (seen = new Set()));
  seen.add(d.id);
}

// A message new to the room (or newer): a reply to count, a mention to
// show, a message of the open thread.
function talkIngest(r, d, fresh) {
  if (fresh) {
    seeReply(r, d);
    if (mentionsMe(d)) noteMention(r, d.id);
  }
  const t = S.thread;
  if (t && t.room === r.id && (d.id === t.root || d.reply_to === t.root)) putThreadDoc(r, t, d);
  takeCounts(r, d);
}

// The replies a message has: those its document counts, and those seen
// since (after its last_reply).
function replyCount(r, m) {
  let n = m.replies || 0;
  for (const id of r.replySeen.get(m.id) || []) if (id > (m.last_reply || 0)) n++;
  return n;
}

// The events that change a message or a room, as app.js's onDoc passes them.
function talkEvent(r, d) {
  switch (d.type) {
    case 'edit':
      for (const m of copiesOf(r, d.id)) { m.text = d.text; m.edited = d.edited; }
      return true;
    case 'delete':
      // A tombstone keeps its place in threads, and loses its text,
      // mentions and reactions.
      for (const m of copiesOf(r, d.id)) {
        m.deleted = true;
        if (typeof d.by === 'string') m.deleted_by = d.by;
        for (const k of ['text', 'mentions', 'reactions']) delete m[k];
      }
      if (isPinned(r, d.id)) refreshPins(r);
      return true;
    case 'reaction': onReaction(r, d); return true;
    case 'pin': case 'unpin': refreshPins(r); return true;
    // In a broadcast room the module tells a mentioned member on their own
    // channel too, so the badge rises wherever the message comes from.
    case 'mention':
      if (d.sender !== S.user) noteMention(r, d.id);
      return true;
    default: return false;
  }
}

// ---------- reactions ----------

function reactedBy(r, id) {
  let who = r.reacted.get(id);
  if (!who) r.reacted.set(id, (who = new Map()));
  return who;
}

function isMine(r, id, reaction) {
  const who = r.reacted.get(id);
  return !!who && who.get(reaction + '\n' + S.user) === true;
}

// A reaction given or taken back. Each change counts once: the user's own
// tabs hear of theirs from the web server, and in a broadcast room the
// room channel may bring it again.
function onReaction(r, d) {
  if (typeof d.id !== 'number' || typeof d.reaction !== 'string') return;
  const added = d.added !== false;
  const who = reactedBy(r, d.id);
  const key = d.reaction + '\n' + d.user;
  if (who.get(key) === added) return;
  who.set(key, added);
  for (const m of copiesOf(r, d.id)) {
    const counts = { ...(m.reactions || {}) };
    const n = (counts[d.reaction] || 0) + (added ? 1 : -1);
    if (n > 0) counts[d.reaction] = n; else delete counts[d.reaction];
    if (Object.keys(counts).length) m.reactions = counts; else delete m.reactions;
  }
}

async function toggleReaction(r, id, reaction) {
  const on = !isMine(r, id, reaction);
  try {
    const res = await request('react', { room: r.id, id, reaction, on });
    // Nothing changed: the user already stood so (from another tab).
    if (res && !res.changed) {
      reactedBy(r, id).set(reaction + '\n' + S.user, on);
      queueRender();
    }
  } catch (e) {
    if (!e.offline) toast(e.message);
  }
}

function button(className, text, onClick) {
  const b = el('button', className, text);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

// The chips under a message, and its thread: "↪ Alice" on a reply, "2 replies".
function talkRows(r, m, inThread) {
  const rows = [];
  const counts = Object.entries(m.reactions || {});
  if (counts.length && !m.deleted) {
    const row = el('div', 'reactions');
    for (const [x, n] of counts) {
      const chip = button('chip', `${x} ${n}`, () => toggleReaction(r, m.id, x));
      chip.dataset.reaction = x;
      if (isMine(r, m.id, x)) chip.classList.add('mine');
      chip.setAttribute('aria-pressed', String(isMine(r, m.id, x)));
      row.append(chip);
    }
    rows.push(row);
  }
  const n = replyCount(r, m);
  if (!inThread && n > 0) {
    rows.push(button('replies', `${n} repl${n === 1 ? 'y' : 'ies'}`, () => openThread(r, m.id)));
  }
  return rows;
}

// "↪ Reply to Alice: Lunch?" above a reply's text; it opens the thread.
function replyToLine(r, m) {
  const root = r.msgs.get(m.reply_to);
  let text = 'Reply in a thread';
  if (root) {
    const said = root.deleted ? 'message deleted' : String(root.text ?? '');
    text = `Reply to ${displayName(root.sender)}: ${said.length > 60 ? said.slice(0, 60) + '…' : said}`;
  }
  return button('reply-to', '↪ ' + text, () => openThread(r, m.reply_to));
}

// Reply, pin and the reactions on offer, for any member.
function talkActions(r, m, inThread) {
  const out = [];
  if (!inThread) out.push(button('reply', 'Reply', () => openThread(r, m.reply_to || m.id)));
  const pinned = isPinned(r, m.id);
  if (mayPin(r)) out.push(button('pin', pinned ? 'Unpin' : 'Pin', () => setPinned(r, m.id, !pinned)));
  for (const x of REACTIONS) {
    const b = button('react', x, () => toggleReaction(r, m.id, x));
    b.dataset.reaction = x;
    b.title = isMine(r, m.id, x) ? 'Take back ' + x : 'React with ' + x;
    out.push(b);
  }
  return out;
}

// ---------- threads ----------

async function openThread(r, root) {
  if (S.thread && S.thread.room === r.id && S.thread.root === root) {
    $('thread-text').focus();
    return;
  }
  const t = { room: r.id, root, docs: new Map(), gap: null, more: false, loaded: false, shown: -1 };
  S.thread = t;
  if (r.msgs.has(root)) t.docs.set(root, { ...r.msgs.get(root) });
  queueRender();
  setTimeout(() => $('thread-text').focus(), 0);
  await loadThread(t, null);
}

function closeThread() {
  S.thread = null;
  queueRender();
}

async function loadThread(t, after) {
  try {
    const data = await request('thread', { room: t.room, id: t.root, after });
    const r = S.rooms.get(t.room);
    if (S.thread !== t || !r) return;
    for (const d of data.docs || []) {
      if (d.type === 'gap') t.gap = d;
      if (d.type !== 'message') continue;
      seeReply(r, d);
      putThreadDoc(r, t, d);
      takeCounts(r, d);
    }
    t.more = !!data.more;
    t.loaded = true;
    queueRender();
  } catch (e) {
    if (!e.offline) toast(e.message);
  }
}

function putThreadDoc(r, t, d) {
  const old = t.docs.get(d.id);
  if (old && !isNewer(d, old)) return;
  const doc = { ...d };
  delete doc.delivery;
  delete doc.mine;
  t.docs.set(d.id, doc);
}

function renderThread() {
  const t = S.thread;
  const r = t && S.rooms.get(t.room);
  $('app').classList.toggle('with-thread', !!r);
  $('thread').hidden = !r;
  if (!r) return;
  $('thread-title').textContent = 'Thread in ' + (r.dm ? '' : '# ') + roomTitle(r);
  const list = $('thread-list');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
  list.replaceChildren();
  if (t.gap) {
    list.append(el('div', 'gap-notice', 'The message this thread started from is no longer available'));
  }
  const root = t.docs.get(t.root);
  if (root) list.append(messageElement(r, root, true));
  // The module takes no reply to a deleted message, nor to one it no
  // longer keeps.
  const closed = !!t.gap || !!(root && root.deleted);
  const blocked = composerBlock(r);
  $('thread-text').disabled = closed || !!blocked;
  $('thread-text').placeholder = blocked || (closed ? 'This thread takes no more replies' : 'Reply in the thread');
  const replies = [...t.docs.values()].filter((m) => m.id !== t.root).sort((a, b) => a.id - b.id);
  const n = Math.max(replies.length, root ? replyCount(r, root) : 0);
  list.append(el('div', 'thread-count', t.loaded || n ? `${n} repl${n === 1 ? 'y' : 'ies'}` : 'Loading…'));
  for (const m of replies) list.append(messageElement(r, m, true));
  if (t.more && replies.length) {
    const last = replies[replies.length - 1].id;
    list.append(button('older', 'Show more replies', () => { t.more = false; loadThread(t, last); }));
  }
  for (const p of S.sending.values()) {
    if (p.room === r.id && p.reply_to === t.root) list.append(pendingElement(p));
  }
  const shown = list.children.length;
  if (atBottom || shown !== t.shown) list.scrollTop = list.scrollHeight;
  t.shown = shown;
}

function submitReply(ev) {
  ev.preventDefault();
  const t = S.thread;
  const box = $('thread-text');
  const text = box.value;
  if (!t || !text.trim()) return;
  const p = { nonce: randomHex(16), room: t.room, text, reply_to: t.root, mentions: mentionNames(text) };
  S.sending.set(p.nonce, p);
  box.value = '';
  queueRender();
  trySend(p);
}

// ---------- pins ----------

function isPinned(r, id) {
  return !!r.pins && r.pins.some((p) => p.id === id);
}

// Pins change for everyone: the open room reads its pins again, any other
// when it is opened.
function refreshPins(r) {
  if (r.id !== S.current) {
    r.pins = null;
    return;
  }
  request('pins', { room: r.id }).then((data) => {
    r.pins = data.docs || [];
    queueRender();
  }).catch(() => {});
}

async function setPinned(r, id, on) {
  try {
    await request('pin', { room: r.id, id, on });
  } catch (e) {
    if (!e.offline) toast(e.message);
  }
}

// The bar above the messages: the latest pin, or all of them when opened.
function renderPins(r) {
  const box = $('pins');
  const pins = (r && r.pins) || [];
  box.hidden = !pins.length;
  box.replaceChildren();
  if (!pins.length) return;
  const head = button('pins-head', `${pins.length} pinned message${pins.length === 1 ? '' : 's'}`,
    () => { r.pinsOpen = !r.pinsOpen; queueRender(); });
  head.setAttribute('aria-expanded', String(r.pinsOpen));
  const list = el('ol', 'pins-list');
  for (const p of r.pinsOpen ? pins : pins.slice(0, 1)) {
    const li = el('li', 'pin');
    li.dataset.id = String(p.id);
    li.append(el('span', 'sender', displayName(p.sender)),
      el('span', 'pin-text', p.deleted ? 'Message deleted' : p.text));
    li.addEventListener('click', () => {
      const m = document.querySelector(`#list .msg[data-id="${p.id}"]`);
      if (m) m.scrollIntoView({ block: 'center' });
    });
    list.append(li);
  }
  box.append(head, list);
}

// ---------- what the server no longer keeps ----------

// A gap document: in a room, messages retention removed; without one,
// copies the user's inbox dropped while it was full.
function noteGap(d) {
  if (d.room === undefined) {
    if (typeof d.dropped === 'number' && d.dropped > 0) {
      const n = d.dropped;
      showNotice(`Your inbox was full while you were away: ${n} message${n === 1 ? ' was' : 's were'} dropped from it. `
        + 'Each room shows what its history still keeps.');
    }
    return;
  }
  const r = S.rooms.get(d.room);
  if (!r) {
    lookupRoom(d.room).docs.push(d);
    return;
  }
  if (typeof d.after === 'number' && typeof d.before === 'number' && d.before > d.after + 1) {
    r.gaps.set(d.after, { after: d.after, before: d.before });
    queueRender();
  }
}

// The room's ids were handed out again (a promoted replica, a restart that
// lost messages, the room made again): the messages shown may not be the
// ones of those ids any more. The page forgets them and everything keyed by
// their ids, and reads the room afresh if it is open (otherwise when it is
// opened); messages after `last_id` come live as usual.
function resetRoom(r, d) {
  const last = Number.isInteger(d.last_id) ? d.last_id : r.lastId;
  Object.assign(r, talkState(), {
    epoch: d.epoch || r.epoch,
    lastId: last,
    cursor: Math.min(r.cursor, last),
    mentionBase: r.mentionBase,
    mentionAt: Math.min(r.mentionAt, last),
    msgs: new Map(), holes: new Set(), loaded: false, older: false,
    reads: null, divider: null, dividerCount: 0,
    resets: r.resets + 1,
  });
  if (S.thread && S.thread.room === r.id) S.thread = null;
  if (S.editing && S.editing.room === r.id) S.editing = null;
  if (S.armed && S.armed.room === r.id) S.armed = null;
  if (S.current === r.id) openRoom(r.id, false);
  queueRender();
}

function showNotice(text) {
  $('notice-text').textContent = text;
  $('notice').hidden = false;
}

// The ids of a gap the page still lacks (the inbox may have brought some
// of them), or null.
function gapRange(r, g) {
  let lo = g.after + 1;
  let hi = g.before - 1;
  while (lo <= hi && r.msgs.has(lo)) lo++;
  while (hi >= lo && r.msgs.has(hi)) hi--;
  return lo <= hi ? [lo, hi] : null;
}

// Notices for the gaps before message `id` not shown yet, in order.
function gapNotices(r, id, shown) {
  const out = [];
  for (const g of [...r.gaps.values()].sort((a, b) => a.after - b.after)) {
    const range = gapRange(r, g);
    if (!range || shown.has(g.after) || (id !== null && range[1] > id)) continue;
    shown.add(g.after);
    const ids = range[0] === range[1] ? `id ${range[0]}` : `ids ${range[0]}–${range[1]}`;
    const notice = el('div', 'gap-notice', `Some older messages are no longer available (${ids})`);
    notice.dataset.after = String(g.after);
    notice.dataset.before = String(g.before);
    out.push(notice);
  }
  return out;
}

// Where a hole in the list really starts: past what the history no longer
// keeps, which no button can bring back.
function holeStart(r, prev) {
  let start = prev;
  for (let moved = true; moved;) {
    moved = false;
    for (const g of r.gaps.values()) {
      if (g.after <= start && g.before - 1 > start) { start = g.before - 1; moved = true; }
    }
  }
  return start;
}
