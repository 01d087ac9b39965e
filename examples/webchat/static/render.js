// Drawing the page from its state: the room list, the open room's
// messages (with hole buttons, gap notices, the "new messages" divider and
// read receipts), and who is typing. Loaded before app.js, whose state (S)
// and helpers these functions use when called; every piece of user text
// goes in through textContent.
'use strict';

function byTitle(a, b) {
  return roomTitle(a).localeCompare(roomTitle(b));
}

function queueRender() {
  if (S.renderQueued) return;
  S.renderQueued = true;
  setTimeout(() => { S.renderQueued = false; renderAll(); }, 0);
}

function renderAll() {
  renderRooms();
  renderConversation();
  markRead();
}

function renderRooms() {
  const rooms = $('rooms');
  const dms = $('dms');
  rooms.replaceChildren();
  dms.replaceChildren();
  for (const r of [...S.rooms.values()].sort(byTitle)) {
    const li = el('li');
    const b = el('button', 'room');
    b.type = 'button';
    b.dataset.room = r.id;
    if (r.id === S.current) b.classList.add('active');
    if (r.dm) {
      const dot = el('span', 'dot');
      if (isOnline(r.dm.user)) dot.classList.add('online');
      dot.title = isOnline(r.dm.user) ? 'online' : 'offline';
      b.append(dot);
    } else {
      b.append(el('span', 'hash', '#'));
    }
    b.append(el('span', 'name', roomTitle(r)));
    if (r.private) b.append(el('span', 'private-tag', 'private'));
    const at = mentionsOf(r);
    if (at > 0 && r.id !== S.current) {
      const badge = el('span', 'mention-badge', '@' + (at > 99 ? '99+' : at));
      badge.title = `${at} mention${at === 1 ? '' : 's'} of you`;
      b.append(badge);
    }
    const n = unreadOf(r);
    if (n > 0 && r.id !== S.current) {
      b.classList.add('unread');
      b.append(el('span', 'badge', n > 99 ? '99+' : n));
    }
    b.addEventListener('click', () => openRoom(r.id, true));
    li.append(b);
    (r.dm ? dms : rooms).append(li);
  }
  if (!rooms.children.length) rooms.append(el('li', 'hint', 'No rooms yet'));
  renderInvites();
  let total = 0;
  for (const r of S.rooms.values()) total += unreadOf(r);
  document.title = total > 0 ? `(${total}) redis-chat` : 'redis-chat';
}

function renderConversation() {
  const r = S.rooms.get(S.current);
  // A muted member's composer says why it is off.
  const blocked = composerBlock(r);
  const composerOn = !!r && !blocked;
  $('text').disabled = !composerOn;
  $('send').disabled = !composerOn;
  $('text').placeholder = blocked || 'Write a message';
  $('leave').hidden = !r || !!r.dm;
  renderModeration(r);
  if (!r) {
    $('room-title').textContent = 'Pick a room';
    $('room-people').replaceChildren();
    $('list').replaceChildren();
    $('older').hidden = true;
    $('empty').hidden = false;
    $('empty').textContent = 'No room open. Join a room or message someone to start.';
    $('typing').textContent = '';
    renderPins(null);
    renderThread();
    return;
  }
  $('room-title').textContent = (r.dm ? '' : '# ') + roomTitle(r);
  renderPeople(r);
  renderPins(r);
  renderMessages(r);
  renderTyping();
  renderThread();
}

function renderMessages(r) {
  const box = $('messages');
  const list = $('list');
  const fromBottom = box.scrollHeight - box.scrollTop;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  const ids = [...r.msgs.keys()].sort((a, b) => a - b);

  // "Seen by": each other member under the last loaded message they have
  // read, among those they did not write themselves.
  const seenAt = new Map();
  if (r.reads) {
    for (const [u, c] of Object.entries(r.reads)) {
      if (u === S.user || c <= 0) continue;
      let lo = 0, hi = ids.length - 1, best = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (ids[mid] <= c) { best = mid; lo = mid + 1; } else hi = mid - 1;
      }
      while (best >= 0 && r.msgs.get(ids[best]).sender === u) best--;
      if (best < 0) continue;
      const at = ids[best];
      if (!seenAt.has(at)) seenAt.set(at, []);
      seenAt.get(at).push(displayName(u));
    }
  }

  list.replaceChildren();
  let dividerShown = false;
  let prev = null;
  const gapsShown = new Set();
  for (const id of ids) {
    // A hole in the ids (a long absence, a lost connection): a button fills
    // it, but for what the history no longer keeps, which a notice says.
    const start = prev === null ? null : holeStart(r, prev);
    if (start !== null && id - start > 1 && !r.holes.has(start)) list.append(holeButton(r, start, id));
    list.append(...gapNotices(r, id, gapsShown));
    prev = id;
    if (r.divider !== null && !dividerShown && id > r.divider) {
      const n = r.dividerCount;
      list.append(el('div', 'divider', `${n} new message${n === 1 ? '' : 's'}`));
      dividerShown = true;
    }
    list.append(messageElement(r, r.msgs.get(id)));
    const seen = seenAt.get(id);
    if (seen) list.append(el('div', 'receipt', 'Seen by ' + seen.sort().join(', ')));
  }
  list.append(...gapNotices(r, null, gapsShown));
  for (const p of S.sending.values()) {
    // A reply waits in its thread.
    if (p.room !== r.id || p.reply_to) continue;
    list.append(pendingElement(p));
  }
  $('older').hidden = !r.older;
  $('empty').hidden = ids.length > 0 || !r.loaded;
  $('empty').textContent = 'No messages yet. Say hello!';

  if (r.keepOffset) {
    box.scrollTop = box.scrollHeight - fromBottom;
    r.keepOffset = false;
  } else if (atBottom || r.stickToBottom) {
    box.scrollTop = box.scrollHeight;
  }
  r.stickToBottom = false;
  if (S.editing && S.editing.room === r.id) {
    const input = list.querySelector('.edit-box');
    if (input && document.activeElement !== input) {
      input.focus();
      input.setSelectionRange(input.value.length, input.value.length);
    }
  }
}

// A message on its way, or one the server did not take, with Retry (the same
// nonce) and Discard.
function pendingElement(p) {
  const m = el('div', 'msg mine pending');
  m.dataset.nonce = p.nonce;
  const meta = el('div', 'meta');
  meta.append(el('span', 'sender', displayName(S.user)),
    el('span', 'state', p.failed ? 'Not sent: ' + p.failed : 'sending…'));
  m.append(meta, el('div', 'text', p.text));
  if (p.failed) {
    m.classList.add('failed');
    const actions = el('div', 'actions');
    const retry = el('button', null, 'Retry');
    retry.type = 'button';
    retry.addEventListener('click', () => trySend(p));
    const discard = el('button', null, 'Discard');
    discard.type = 'button';
    discard.addEventListener('click', () => { S.sending.delete(p.nonce); queueRender(); });
    actions.append(retry, discard);
    m.append(actions);
  }
  return m;
}

function holeButton(r, after, next) {
  const n = next - after - 1;
  const b = el('button', 'older', `Show ${n} more message${n === 1 ? '' : 's'}`);
  b.type = 'button';
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      const data = await request('after', { room: r.id, after, count: Math.min(n, 200) });
      const got = data.messages.filter((d) => d.id > after && d.id < next);
      // Nothing there: the history no longer keeps them.
      if (!got.length) r.holes.add(after);
      r.keepOffset = true;
      for (const d of data.messages) if (d.type === 'gap') ingest(d);
      for (const d of got) ingest(d);
      queueRender();
    } catch (e) {
      b.disabled = false;
      if (!e.offline) toast(e.message);
    }
  });
  return b;
}

// A message in the room, or (inThread) in the thread panel, which has no
// editing and no thread links of its own.
function messageElement(r, m, inThread) {
  const mine = m.sender === S.user;
  const div = el('div', 'msg');
  if (mine) div.classList.add('mine');
  if (m.deleted) div.classList.add('deleted');
  if (mentionsMe(m)) div.classList.add('mentioned');
  div.dataset.id = String(m.id);
  div.dataset.sender = m.sender;

  const meta = el('div', 'meta');
  meta.append(el('span', 'sender', displayName(m.sender)));
  // A document without a usable time shows none, rather than breaking the list.
  const at = new Date(m.ts);
  if (typeof m.ts === 'number' && !Number.isNaN(at.getTime())) {
    const when = el('time', 'time', formatTime(m.ts));
    when.dateTime = at.toISOString();
    when.title = at.toLocaleString();
    meta.append(when);
  }
  if (m.edited && !m.deleted) meta.append(el('span', 'edited', 'edited'));
  div.append(meta);

  if (!inThread && typeof m.reply_to === 'number') div.append(replyToLine(r, m));
  const editing = !inThread && S.editing && S.editing.room === r.id && S.editing.id === m.id;
  if (editing) {
    const input = el('input', 'edit-box');
    input.value = S.editing.draft;
    input.maxLength = 4000;
    input.setAttribute('aria-label', 'Edit message');
    input.addEventListener('input', () => { S.editing.draft = input.value; });
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') { S.editing = null; queueRender(); }
      if (ev.key === 'Enter' && !ev.isComposing) {
        ev.preventDefault();
        const text = input.value;
        S.editing = null;
        queueRender();
        if (text.trim() && text !== m.text) {
          request('edit', { room: r.id, id: m.id, text }).catch(refused);
        }
      }
    });
    div.append(input);
    return div;
  }
  div.append(m.deleted ? el('div', 'text', deletedText(m)) : textElement(m));
  div.append(...talkRows(r, m, inThread));
  if (m.deleted) return div;

  const actions = el('div', 'actions');
  actions.append(...talkActions(r, m, inThread));
  div.append(actions);
  if (mine && !inThread) {
    const edit = el('button', null, 'Edit');
    edit.type = 'button';
    edit.addEventListener('click', () => {
      S.editing = { room: r.id, id: m.id, draft: m.text };
      queueRender();
    });
    actions.append(edit);
  }
  // Owners and admins of a room with an owner delete anyone's message.
  if ((mine || canModerate(r)) && !inThread) {
    // Deleting takes a second click within 4 seconds (no dialog).
    const armed = S.armed && S.armed.room === r.id && S.armed.id === m.id && S.armed.until > Date.now();
    const del = el('button', null, armed ? 'Delete for everyone?' : 'Delete');
    del.type = 'button';
    del.addEventListener('click', () => {
      if (!(S.armed && S.armed.room === r.id && S.armed.id === m.id && S.armed.until > Date.now())) {
        S.armed = { room: r.id, id: m.id, until: Date.now() + 4000 };
        queueRender();
        setTimeout(queueRender, 4100);
        return;
      }
      S.armed = null;
      request('delete', { room: r.id, id: m.id }).catch(refused);
    });
    del.classList.add('delete');
    actions.append(del);
  }
  return div;
}

function renderTyping() {
  const r = S.rooms.get(S.current);
  const box = $('typing');
  if (!r) { box.textContent = ''; return; }
  const now = Date.now();
  const who = [...r.typing.entries()].filter(([, until]) => until > now).map(([u]) => displayName(u));
  box.textContent = who.length
    ? `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…`
    : '';
}
