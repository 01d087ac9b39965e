// The browser test of moderation: a private room and its owner, an
// invitation seen live, roles, a mute, slow mode, a send rate, a
// moderator's delete, a kick and a ban, and the panel's lists of bans,
// mutes and invitations from CHAT.MODERATION after a reload, between Oscar (the owner), Penny
// (made an admin) and Quinn (a member), each in a browser context of their
// own. webchat.test.mjs imports this file, so scripts/test runs it on one
// server and on a cluster with the others; alone:
//
//   node --test examples/webchat/e2e/moderation.test.mjs
//   WEBCHAT_CLUSTER=1 node --test examples/webchat/e2e/moderation.test.mjs
//
// In a cluster the three users and the room live in different slots: the
// module then has no invite event for the invitee nor a listing in
// CHAT.INVITES (it opens only the room's slot), and the web server tells
// the invitee's page itself. The servers, the browser and the helpers are
// in harness.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cluster, browser, sleep, until, cliLines, cliAll, openPage, shot, recording, signUp, join, send,
  messages, rawSocket, textOf, texts,
} from './harness.mjs';

const row = (user) => `#members-list li[data-user="${user}"]`;

// Opens (or, already open, reads again) the members panel of the open room.
async function membersPanel(page) {
  if (await page.isVisible('#members')) await page.click('#members-open');
  await page.click('#members-open');
  await page.waitForSelector('#members:not([hidden])');
}

// Reloads a page, which reopens the room it had open.
async function reload(page, room) {
  await page.reload();
  await page.waitForSelector('body[data-synced="true"]');
  await page.waitForSelector(`#rooms button.active[data-room="${room}"]`);
}

// CHAT.MODERATION's lists, user -> value, from redis-cli --raw's lines
// (a nil, until lifted, prints no line: such an entry is not told apart).
function moderationOf(room) {
  const lines = cliLines('CHAT.MODERATION', room);
  const at = (name) => lines.indexOf(name);
  const list = (name, next) => {
    const items = lines.slice(at(name) + 1, next ? at(next) : lines.length);
    return Object.fromEntries(items.flatMap((x, i) => (i % 2 ? [] : [[x, items[i + 1]]])));
  };
  return { invites: list('invites', 'bans'), mutes: list('mutes'), bansLines: lines.slice(at('bans') + 1, at('mutes')) };
}

// The end a tag of the members panel shows, in its data-until ('' until lifted).
function endOf(page, selector) {
  return page.$eval(selector, (e) => e.dataset.until).catch(() => null);
}

// Clicks a kick or ban button twice: the second click confirms.
async function twice(page, selector) {
  await page.click(selector);
  await until(`${selector} to ask for a second click`, async () => /\?$/.test(await textOf(page, selector)));
  await page.click(selector);
}

async function notice(page, expected, what) {
  return until(what, async () => {
    const text = await textOf(page, '#notice-text');
    const shown = await page.isVisible('#notice');
    return shown && (expected instanceof RegExp ? expected.test(text) : text === expected) && text;
  });
}

// Joins `room` from the list of invitations, which the invitation reached live.
async function acceptInvitation(page, room) {
  await until(`the invitation to ${room}`, () => page.$(`#invites li[data-room="${room}"] button.join`));
  await page.click(`#invites li[data-room="${room}"] button.join`);
  await page.waitForSelector(`#rooms button.active[data-room="${room}"]`);
  await until('the invitation to go', async () => (await page.$(`#invites li[data-room="${room}"]`)) === null);
}

async function discardFailed(page) {
  await page.click('#list .msg.pending.failed button:text("Discard")');
  await until('the failed message to go', async () => (await page.$('#list .msg.pending')) === null);
}

test('moderation: a private room, an invitation, roles, a mute, slow mode, a kick and a ban', () => recording(async () => {
  const contexts = [];
  const pages = [];
  for (const [user, name] of [['oscar', 'Oscar'], ['penny', 'Penny'], ['quinn', 'Quinn']]) {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 820 } });
    contexts.push(ctx);
    const page = await openPage(ctx, user);
    await signUp(page, user, name, `${user}-secret`);
    pages.push(page);
  }
  const [o, p, q] = pages;

  // 1. Oscar makes a private room: he is its owner and only member.
  await o.selectOption('#join-kind', 'private');
  await join(o, 'den');
  const info = cliLines('CHAT.INFO', 'den');
  assert.equal(info[info.indexOf('private') + 1], '1');
  assert.equal(info[info.indexOf('owners') + 1], 'oscar');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den', 'WITHROLES'), ['oscar', 'owner']);
  assert.equal(await textOf(o, '#rooms button[data-room="den"] .private-tag'), 'private');
  await send(o, 'Welcome to the den');
  await membersPanel(o);
  assert.equal(await textOf(o, `${row('oscar')} .role`), 'owner');
  assert.ok(await o.isVisible('#mod-tools'), 'the owner gets the moderation tools');

  // 2. Penny cannot join it uninvited: a notice says why, and no room appears.
  await p.fill('#join-room', 'den');
  await p.press('#join-room', 'Enter');
  await notice(p, 'This room is private: you need an invitation from one of its owners or admins.', 'the NOINVITE notice');
  assert.equal(await p.$('#rooms button[data-room="den"]'), null);
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar']);

  // 3. Oscar invites her: her page shows the invitation live, and she joins.
  await o.fill('#invite-user', 'penny');
  await o.press('#invite-user', 'Enter');
  await until('penny\'s invitation', async () => (await textOf(p, '#invites li[data-room="den"] .name')) === 'den');
  if (!cluster) assert.deepEqual(cliLines('CHAT.INVITES', 'penny')[0], 'den');
  await shot(p, '20-invitation');
  await acceptInvitation(p, 'den');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny']);
  if (!cluster) assert.deepEqual(cliLines('CHAT.INVITES', 'penny'), [], 'the join took the invitation');
  await until('penny to see the room', async () => texts(await messages(p)).includes('Welcome to the den'));
  assert.equal(await p.$('#list .msg .actions button.pin'), null, 'a member does not pin in a room with an owner');

  // 4. Oscar makes her an admin: both pages show the role; hers gets the tools.
  await membersPanel(o);
  await o.click(`${row('penny')} button.make-admin`);
  await until('the role on oscar\'s page', async () => (await textOf(o, `${row('penny')} .role`)) === 'admin');
  await until('the role on penny\'s page', async () =>
    (await textOf(p, '#room-people .person[data-user="penny"] .role')) === 'admin');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den', 'WITHROLES'), ['oscar', 'owner', 'penny', 'admin']);
  await membersPanel(p);
  assert.ok(await p.isVisible('#mod-tools'));
  assert.equal(await p.$(`${row('oscar')} .member-actions button`), null, 'an admin cannot touch the owner');
  await shot(o, '21-roles');

  // 5. Penny, an admin, invites Quinn, who joins. As a member he is refused
  // every moderation request, and his page offers none.
  await p.fill('#invite-user', 'quinn');
  await p.press('#invite-user', 'Enter');
  await acceptInvitation(q, 'den');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny', 'quinn']);
  const token = await q.evaluate(() => sessionStorage.getItem('webchat.token'));
  const frames = await rawSocket(q, token, [
    { op: 'kick', room: 'den', user: 'penny' },
    { op: 'slowmode', room: 'den', seconds: 5 },
    { op: 'mute', room: 'den', user: 'oscar' },
    { op: 'role', room: 'den', user: 'quinn', role: 'owner' },
  ]);
  const replies = frames.filter((f) => f.t === 'reply');
  assert.equal(replies.length, 4);
  for (const reply of replies) assert.match(reply.error || '', /^NOPERM /, JSON.stringify(reply));
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den', 'WITHROLES'), ['oscar', 'owner', 'penny', 'admin', 'quinn', 'member']);
  await membersPanel(q);
  assert.ok(!(await q.isVisible('#mod-tools')));
  assert.equal(await q.$('#members-list .member-actions button'), null);

  // 6. Quinn spams; Oscar deletes it, which an owner may do to anyone's
  // message. Quinn gets no delete button on Oscar's.
  await send(q, 'Cheap watches at example.com');
  let lastSend = Date.now();
  const spam = (await messages(q)).at(-1).id;
  await until('oscar to get it', async () => (await messages(o)).some((m) => m.id === spam));
  const welcome = (await messages(q)).find((m) => m.text === 'Welcome to the den').id;
  assert.equal(await q.$(`#list .msg[data-id="${welcome}"] .actions button.delete`), null);
  const msg = o.locator(`#list .msg[data-id="${spam}"]`);
  await msg.hover();
  await msg.locator('.actions button.delete').click();
  await msg.hover();
  await msg.locator('.actions button.delete').click();
  for (const page of [q, p]) {
    await until(`${page.label} to see the deletion`, async () =>
      (await textOf(page, `#list .msg[data-id="${spam}"] .text`)) === 'Message deleted by Oscar');
  }
  const tomb = cliLines('CHAT.HISTORY', 'den').map((d) => JSON.parse(d)).find((d) => d.id === spam);
  assert.equal(tomb.deleted_by, 'oscar');

  // 7. Oscar mutes Quinn for 10 minutes: Quinn's composer is off and says why.
  await membersPanel(o);
  await o.selectOption('#mod-duration', '600');
  await o.click(`${row('quinn')} button.mute`);
  await until('quinn\'s composer to be off', () => q.isDisabled('#text'));
  assert.match(await textOf(q, '#room-state'), /^You are muted in this room until .+\.$/);
  assert.match(await q.getAttribute('#text', 'placeholder'), /^You are muted in this room until /);
  await until('oscar\'s page to offer Unmute', () => o.$(`${row('quinn')} button.unmute`));
  await shot(q, '22-muted');
  // Reloaded, Oscar's page has seen no mute happen: the panel lists it
  // from CHAT.MODERATION, with the module's end, and offers Unmute.
  const { mutes } = moderationOf('den');
  assert.deepEqual(Object.keys(mutes), ['quinn']);
  const muteEnd = Number(mutes.quinn);
  assert.ok(Math.abs(muteEnd - (Date.now() + 600_000)) < 60_000, `a mute of 10 minutes ends at ${muteEnd}`);
  await reload(o, 'den');
  await membersPanel(o);
  await until('the mute\'s end in oscar\'s reloaded panel', async () => (await endOf(o, `${row('quinn')} .tag`)) === String(muteEnd));
  assert.equal(await textOf(o, `${row('quinn')} .tag`), await o.evaluate((t) => `muted until ${formatTime(t)}`, muteEnd));
  assert.ok(await o.$(`${row('quinn')} button.unmute`), 'Unmute offered after the reload');
  assert.ok(!(await o.isVisible('#muted-box')), 'a muted member shows in the member list only');
  await shot(o, '22b-mute-after-reload');
  // A page that does not know of the mute (reloaded) sends: the module
  // refuses, and the page says so in words and turns the composer off.
  await q.reload();
  await q.waitForSelector('body[data-synced="true"]');
  await q.waitForSelector('#rooms button.active[data-room="den"]');
  await until('the room, opened', () => q.evaluate(() => S.rooms.get('den').loaded));
  assert.ok(!(await q.isDisabled('#text')));
  await q.fill('#text', 'Why can I not talk?');
  await q.press('#text', 'Enter');
  await notice(q, /^You are muted in this room until .+\.$/, 'the MUTED notice');
  await q.waitForSelector('#list .msg.pending.failed');
  assert.match(await textOf(q, '#list .msg.pending.failed .state'), /^Not sent: You are muted in this room until /);
  assert.ok(await q.isDisabled('#text'));
  assert.ok(!cliLines('CHAT.HISTORY', 'den').some((d) => d.includes('Why can I not talk')), 'nothing stored');
  await shot(q, '23-muted-send-refused');
  await discardFailed(q);
  await o.click(`${row('quinn')} button.unmute`);
  await until('quinn\'s composer to be on again', async () => !(await q.isDisabled('#text')));
  assert.equal(await q.isVisible('#room-state'), false);

  // 8. Slow mode: Oscar allows a member one message every 10 seconds.
  // Quinn's page says so; his second message within them is refused with a
  // notice. Penny, an admin, is not limited.
  await o.selectOption('#slowmode', '10');
  const slow = 'Slow mode: members may send one message every 10 seconds';
  await until('quinn\'s slow mode notice', async () => (await textOf(q, '#room-state')) === `${slow}.`);
  await until('penny\'s', async () => (await textOf(p, '#room-state')) === `${slow} (owners and admins are not limited).`);
  await sleep(Math.max(0, lastSend + 10500 - Date.now()));
  await send(q, 'Fine, one at a time');
  lastSend = Date.now();
  await q.fill('#text', 'And another');
  await q.press('#text', 'Enter');
  await notice(q, /^Slow mode: this room allows one message every 10 seconds; you may send again in \d+ seconds?\.$/, 'the SLOWMODE notice');
  await q.waitForSelector('#list .msg.pending.failed');
  await shot(q, '24-slow-mode');
  await discardFailed(q);
  await send(p, 'Admins are not slowed');
  await send(p, 'Not even a little');
  await o.selectOption('#slowmode', '0');
  await until('the slow mode notice to go', async () => !(await q.isVisible('#room-state')));

  // 9. A send rate for everyone (chat.send-rate): a second message within
  // the second is refused, in words.
  cliAll('CONFIG', 'SET', 'chat.send-rate', '1');
  try {
    await sleep(1100); // a full bucket, whatever she sent before
    await send(p, 'Once');
    await p.fill('#text', 'Twice');
    await p.press('#text', 'Enter');
    await notice(p, /^You are sending too fast \(at most 1 message a second\); try again in \d+ seconds?\.$/, 'the RATELIMIT notice');
  } finally {
    cliAll('CONFIG', 'SET', 'chat.send-rate', '0');
  }
  await discardFailed(p);

  // 10. Oscar kicks Quinn: the room leaves Quinn's page, with a notice; the
  // private room does not let him back in uninvited.
  await membersPanel(o);
  await twice(o, `${row('quinn')} button.kick`);
  await until('the room to leave quinn\'s page', async () => (await q.$('#rooms button[data-room="den"]')) === null);
  await notice(q, 'Oscar removed you from # den.', 'the kick notice');
  assert.equal(await textOf(q, '#room-title'), 'Pick a room');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny']);
  await until('den to be no longer listed for quinn', () => !cliLines('CHAT.ROOMS', 'quinn').includes('den'));
  await until('quinn to leave oscar\'s list', async () => (await o.$(row('quinn'))) === null);
  await shot(q, '25-kicked');
  await q.fill('#join-room', 'den');
  await q.press('#join-room', 'Enter');
  await notice(q, 'This room is private: you need an invitation from one of its owners or admins.', 'NOINVITE again');

  // 11. Invited again, Quinn joins; Oscar bans him until lifted: the room
  // leaves his page, an invitation is refused while the ban lasts, and
  // Oscar's Unban lifts it.
  await p.fill('#invite-user', 'quinn');
  await p.press('#invite-user', 'Enter');
  // Oscar's panel lists Penny's invitation, which only the module told.
  await until('the invitation in CHAT.MODERATION', () => moderationOf('den').invites.quinn);
  await membersPanel(o);
  await until('the invitation in oscar\'s panel', async () =>
    /^invited /.test(await textOf(o, '#invited-list li[data-user="quinn"] .tag')));
  await shot(o, '26a-invited');
  await acceptInvitation(q, 'den');
  assert.deepEqual(moderationOf('den').invites, {}, 'the join took the invitation');
  await membersPanel(o);
  await until('quinn in oscar\'s member list', () => o.$(row('quinn')));
  assert.ok(!(await o.isVisible('#invited-box')), 'no invitation waits');
  await o.selectOption('#mod-duration', '');
  await twice(o, `${row('quinn')} button.ban`);
  await until('the room to leave quinn\'s page again', async () => (await q.$('#rooms button[data-room="den"]')) === null);
  await notice(q, 'Oscar banned you from # den until an owner or admin lifts it.', 'the ban notice');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny']);
  await until('the ban in oscar\'s panel', () => o.$('#bans-list li[data-user="quinn"] button.unban'));
  await o.fill('#invite-user', 'quinn');
  await o.press('#invite-user', 'Enter');
  await notice(o, 'Quinn is banned from this room until an owner or admin lifts it.', 'the BANNED notice');
  await shot(o, '26-banned');
  // Reloaded, Oscar's page still lists the ban (CHAT.MODERATION), until
  // lifted, and lifts it from there.
  assert.deepEqual(moderationOf('den').bansLines, ['quinn'], 'a ban until lifted has a nil end');
  await reload(o, 'den');
  await membersPanel(o);
  await until('the ban in oscar\'s reloaded panel', async () =>
    (await textOf(o, '#bans-list li[data-user="quinn"] .tag')) === 'banned until lifted');
  assert.equal(await endOf(o, '#bans-list li[data-user="quinn"] .tag'), '');
  assert.equal(await o.$(row('quinn')), null, 'a banned user is no member');
  await shot(o, '27-ban-after-reload');
  await o.click('#bans-list li[data-user="quinn"] button.unban');
  await until('the ban to go from the panel', async () => !(await o.isVisible('#bans-box')));
  assert.deepEqual(moderationOf('den').bansLines, [], 'the ban lifted');
  await o.fill('#invite-user', 'quinn');
  await o.press('#invite-user', 'Enter');
  await until('quinn\'s invitation', () => q.$('#invites li[data-room="den"]'));
  if (!cluster) {
    // A page that signs in lists the invitations waiting (CHAT.INVITES).
    await q.reload();
    await q.waitForSelector('body[data-synced="true"]');
  }
  await acceptInvitation(q, 'den');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny', 'quinn']);

  // The last owner cannot leave while others stay.
  await o.click('#rooms button[data-room="den"]');
  await o.click('#leave');
  await until('the refusal', async () => /last owner/.test(await textOf(o, '#toast')));
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'den'), ['oscar', 'penny', 'quinn']);

  for (const page of pages) {
    assert.deepEqual(page.dialogs, [], 'no dialog opened');
    assert.deepEqual(page.errors, [], 'no script error');
  }
  for (const ctx of contexts) await ctx.close();
}));
