// End-to-end test of the web chat: a real redis-server with the module and
// the real chat-webchat binary, each on a free loopback port, and two users
// in two contexts of Debian's headless Chromium (/usr/bin/chromium), driven
// by playwright-core. Screenshots of each step go to target/webchat-test/.
//
//   node --test examples/webchat/e2e/webchat.test.mjs
//   WEBCHAT_CLUSTER=1 node --test examples/webchat/e2e/webchat.test.mjs
//
// With WEBCHAT_CLUSTER=1 the same tests run against a Redis Cluster of three
// primaries started with scripts/cluster (WEBCHAT_CLUSTER_REPLICAS replicas
// each, default 0), and the web chat is pointed at it with REDIS_CLUSTER.
// Rooms and users then live on different nodes, so a room with members of
// other slots is a broadcast room: what an offline member missed waits
// after their read cursor instead of in their inbox, and the checks made
// with redis-cli ask what one server answers in one command (CHAT.PRESENCE,
// CHAT.UNREAD, CHAT.MENTIONS, PUBSUB NUMSUB) of each room, user or node
// instead. The servers, the browser and the helpers are in harness.mjs.
//
// Environment: CHAT_MODULE (the module .so), WEBCHAT_BIN (the web server),
// CHROMIUM (the browser), WEBCHAT_ARTIFACTS (where screenshots go),
// WEBCHAT_CLUSTER, WEBCHAT_CLUSTER_REPLICAS, CHAT_REDIS_SERVER and
// CHAT_REDIS_CLI (for scripts/cluster).


import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import {
  cluster, base, web, browser, sleep, until, cli, cliPipe, cliLines, cliAll, joinRoom, directRoom,
  presence, unread, mentions, field, numsub, broadcast, openPage, shot, recording, signUp, signIn,
  join, send, messages, rawSocket, tokenFor, textOf, texts,
} from './harness.mjs';
// Moderation's, presence's and epochs' tests, in files of their own, run first, on the same servers.
import './moderation.test.mjs';
import './presence.test.mjs';
import './epochs.test.mjs';

test('two users: live delivery, offline catch-up without duplicates, text stays text', () => recording(async () => {
  const alice = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const bob = await browser.newContext({ viewport: { width: 1100, height: 720 } });
  const pages = [];

  // 1. Both sign up and join #general.
  const a = await openPage(alice, 'alice');
  pages.push(a);
  await shot(a, '01-sign-in-form');
  await signUp(a, 'alice', 'Alice', 'alice-secret');
  await join(a, 'general');
  let b = await openPage(bob, 'bob');
  pages.push(b);
  await signUp(b, 'bob', 'Bob', 'bob-secret');
  await join(b, 'general');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'general'), ['alice', 'bob']);
  assert.deepEqual(presence('general'), ['alice', 'bob']);
  // Listening means subscribed by exact name (docs/delivery.md).
  assert.equal(numsub('chat:user:{bob}:push'), '1');

  // 2. Alice types: Bob sees it; she sends: Bob gets the message live.
  await a.fill('#text', 'Hi Bob!');
  await until('bob to see alice typing', async () => (await b.textContent('#typing')).includes('Alice is typing'));
  await shot(b, '02-bob-sees-typing');
  await a.press('#text', 'Enter');
  await until('bob to get the message live', async () => texts(await messages(b)).includes('Hi Bob!'));
  assert.deepEqual(texts(await messages(b)), ['Hi Bob!']);
  assert.equal((await messages(b))[0].sender, 'alice');
  assert.deepEqual(cliLines('CHAT.FETCH', 'bob'), [], 'a live message leaves no inbox copy');
  // Bob's page read it: his cursor moved, and Alice sees the receipt and his dot.
  await until('bob to read message 1', () => cliLines('CHAT.MEMBERS', 'general', 'WITHREAD').join(' ') === 'alice 1 bob 1');
  await until('alice to see the read receipt', async () => (await a.textContent('#list')).includes('Seen by Bob'));
  await a.waitForSelector('#room-people .person[data-user="bob"] .dot.online');
  await shot(a, '03-alice-after-live-message');
  await shot(b, '03-bob-got-live-message');

  // 3. Bob closes his tab: the server stops listening and marks him offline.
  await b.close();
  await until('bob to be offline', () => !presence('general').includes('bob'));
  await until('bob\'s channel to have no subscriber', () => numsub('chat:user:{bob}:push') === '0');

  // 4. Alice sends three more; they wait in Bob's inbox (after his read
  // cursor, in a broadcast room).
  const missed = ['Are you there?', 'Call me when you are back.', 'Lunch at 12:30 <b>sharp</b> & don\'t be late'];
  for (const text of missed) await send(a, text);
  if (broadcast('general')) {
    assert.deepEqual(unread('bob'), ['general', '3'], 'the three messages are after bob\'s cursor');
  } else {
    assert.equal(cliLines('CHAT.FETCH', 'bob').length, 3, 'the three messages are in bob\'s inbox');
  }
  await until('alice to see bob offline', async () => (await a.$('#room-people .person[data-user="bob"] .dot.online')) === null, 15000);
  await shot(a, '04-alice-sent-three-while-bob-away');

  // 5. Bob comes back in a new tab: a wrong password first, then the right one.
  b = await openPage(bob, 'bob');
  pages.push(b);
  await signIn(b, 'bob', 'wrong password');
  await until('the sign-in error', async () => (await b.textContent('#f-error')) === 'Invalid username or password');
  await shot(b, '05-wrong-password');
  await signIn(b, 'bob', 'bob-secret');
  await b.waitForSelector('body[data-synced="true"]');
  await until('bob to see the room', async () => (await messages(b)).length >= 4);
  await sleep(500); // anything duplicated would have arrived by now
  const back = await messages(b);
  assert.deepEqual(texts(back), ['Hi Bob!', ...missed], 'each message once, in order');
  assert.deepEqual(back.map((m) => m.id), [1, 2, 3, 4]);
  const divider = await b.textContent('#list .divider');
  assert.equal(divider, '3 new messages');
  const afterDivider = await b.$$eval('#list .divider ~ .msg .text', (els) => els.map((e) => e.textContent));
  assert.deepEqual(afterDivider, missed, 'exactly the three missed messages are new');
  assert.deepEqual(cliLines('CHAT.FETCH', 'bob'), [], 'the page acknowledged the inbox');
  await until('bob\'s read cursor to reach 4', () => unread('bob').length === 0);
  assert.deepEqual(presence('general'), ['alice', 'bob']);
  await shot(b, '06-bob-back-sees-three-missed');

  // 6. HTML in a message is text: no element, no script, no dialog.
  const evil = '<img src=x onerror=alert(1)>';
  await send(a, evil);
  await until('bob to get the HTML message live', async () => texts(await messages(b)).includes(evil));
  for (const page of [a, b]) {
    const shown = await messages(page);
    assert.equal(shown[shown.length - 1].text, evil);
    assert.equal(await page.$$eval('#list img, #list b', (els) => els.length), 0);
  }
  await sleep(300);
  await shot(b, '07-html-shown-as-text');
  assert.deepEqual(texts(await messages(b)), ['Hi Bob!', ...missed, evil]);

  // 7. Bob answers; Alice's page reads it and Bob sees the receipt.
  await send(b, 'On my way!');
  await until('bob to see that alice read his reply', async () =>
    (await b.textContent('#list')).includes('Seen by Alice'));
  // A direct message reaches Bob live, in a room his page did not know yet.
  await a.fill('#dm-user', 'bob');
  await a.press('#dm-user', 'Enter');
  await a.waitForSelector('#dms button.active');
  await send(a, 'Lunch today?');
  const badge = await until('the direct room to appear on bob\'s page with one unread', () =>
    b.$eval('#dms button .badge', (e) => e.textContent).catch(() => null));
  assert.equal(badge, '1');
  assert.equal(await b.textContent('#dms button .name'), 'Alice');
  // Alice goes back to #general and types; Bob sees it.
  await a.click('#rooms button[data-room="general"]');
  await a.fill('#text', 'Great, see you');
  await until('bob to see alice typing again', async () => (await b.textContent('#typing')).includes('Alice is typing'));
  await shot(b, '08-bob-overview');

  // 8. Alice edits one of her messages and deletes another; Bob's page follows.
  const mine = (text) => a.locator('#list .msg.mine', { hasText: text });
  await mine('Are you there?').hover();
  await mine('Are you there?').locator('.actions button', { hasText: 'Edit' }).click();
  await a.fill('#list .edit-box', 'Are you still there?');
  await a.press('#list .edit-box', 'Enter');
  await until('bob to see the edit', async () => texts(await messages(b)).includes('Are you still there?'));
  assert.equal(await b.textContent('#list .msg[data-id="2"] .edited'), 'edited');
  const del = mine('Call me when you are back.').locator('.actions button', { hasText: 'Delete' });
  await mine('Call me when you are back.').hover();
  await del.click();
  await mine('Call me when you are back.').hover();
  await del.click(); // a second click confirms
  await until('bob to see the deletion', async () => (await b.textContent('#list .msg[data-id="3"] .text')) === 'Message deleted');
  assert.deepEqual(texts(await messages(b)),
    ['Hi Bob!', 'Are you still there?', 'Message deleted', missed[2], evil, 'On my way!']);
  await shot(b, '08-bob-sees-edit-and-delete');

  for (const page of pages) {
    assert.deepEqual(page.dialogs, [], 'no dialog opened');
    assert.deepEqual(page.errors, [], 'no script error');
  }
  await alice.close();
  await bob.close();
}));

test('a room that turns broadcast: live on the room channel, missed messages from the read cursor', () => recording(async () => {
  // Three members make a broadcast room here (docs/delivery.md).
  cliAll('CONFIG', 'SET', 'chat.fanout-max-members', '2');
  try {
    for (const [user, name] of [['dave', 'Dave'], ['erin', 'Erin'], ['frank', 'Frank']]) {
      cli('CHAT.REGISTER', user, name, 'PASSWORD', `${user}-secret`);
    }
    cli('CHAT.CREATE', 'town', 'Town square');
    joinRoom('town', 'dave');
    joinRoom('town', 'erin');

    const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
    let d = await openPage(ctx, 'dave');
    await signIn(d, 'dave', 'dave-secret');
    await d.waitForSelector('body[data-synced="true"]');
    await d.waitForSelector('#rooms button.active[data-room="town"]');
    cli('CHAT.SEND', 'town', 'erin', 'Still a small room');
    await until('dave to get the fan-out message', async () => texts(await messages(d)).includes('Still a small room'));

    // Frank joins: the room turns broadcast, and the server listens on the
    // room channel as the mode event says.
    joinRoom('town', 'frank');
    await until('the server to listen on the room channel', () =>
      numsub('chat:room:{town}:push') === '1');
    cli('CHAT.SEND', 'town', 'erin', 'Now a broadcast room');
    await until('dave to get the broadcast message', async () => texts(await messages(d)).includes('Now a broadcast room'));
    await until('dave\'s cursor to follow', () => unread('dave').length === 0);

    // Dave leaves; a broadcast room keeps no inbox copies, only his cursor.
    await d.close();
    await until('dave to be offline and not listening', () =>
      !presence('town').includes('dave')
      && numsub('chat:room:{town}:push') === '0');
    const missed = ['Missed one', 'Missed two'];
    for (const text of missed) cli('CHAT.SEND', 'town', 'frank', text);
    assert.deepEqual(cliLines('CHAT.FETCH', 'dave'), []);
    assert.deepEqual(unread('dave'), ['town', '2']);

    d = await openPage(ctx, 'dave');
    await signIn(d, 'dave', 'dave-secret');
    await d.waitForSelector('body[data-synced="true"]');
    await until('dave to see the room', async () => (await messages(d)).length >= 4);
    await sleep(300);
    assert.deepEqual(texts(await messages(d)), ['Still a small room', 'Now a broadcast room', ...missed]);
    assert.equal(await d.textContent('#list .divider'), '2 new messages');
    assert.deepEqual(await d.$$eval('#list .divider ~ .msg .text', (els) => els.map((e) => e.textContent)), missed);
    await shot(d, '12-broadcast-room-caught-up');
    const dialogs = [...d.dialogs, ...d.errors];

    // Away for 260 messages: the page gets the first 200 after the cursor
    // and the newest 50, and a button fills the hole between.
    await d.close();
    await until('dave to be offline', () => !presence('town').includes('dave'));
    cliPipe(Array.from({ length: 260 }, (_, i) => `CHAT.SEND town frank "Busy day ${i + 1}"`));
    d = await openPage(ctx, 'dave');
    await signIn(d, 'dave', 'dave-secret');
    await d.waitForSelector('body[data-synced="true"]');
    await until('dave to see 250 of them', async () => (await messages(d)).length === 250);
    assert.equal(await d.textContent('#list button.older'), 'Show 10 more messages');
    await d.click('#list button.older');
    await until('the hole to be filled', async () => (await messages(d)).length === 260);
    assert.deepEqual((await messages(d)).map((m) => m.id), Array.from({ length: 260 }, (_, i) => i + 5));
    assert.equal(await d.$('#list button.older'), null);
    assert.deepEqual([...dialogs, ...d.dialogs, ...d.errors], []);
    await ctx.close();
  } finally {
    cliAll('CONFIG', 'SET', 'chat.fanout-max-members', '500');
  }
}));

test('two tabs of one user: one listener, offline only when the last tab closes', () => recording(async () => {
  cli('CHAT.CREATE', 'pair', 'Pair');
  joinRoom('pair', 'erin');
  joinRoom('pair', 'frank');
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const one = await openPage(ctx, 'erin-1');
  await signIn(one, 'erin', 'erin-secret');
  await one.waitForSelector('body[data-synced="true"]');
  const two = await openPage(ctx, 'erin-2');
  await signIn(two, 'erin', 'erin-secret');
  await two.waitForSelector('body[data-synced="true"]');
  for (const page of [one, two]) {
    if (!(await page.$('#rooms button.active[data-room="pair"]'))) await page.click('#rooms button[data-room="pair"]');
  }
  assert.equal(numsub('chat:user:{erin}:push'), '1', 'one subscription per user');

  // What one tab sends shows in the other (the module does not echo it).
  await send(one, 'From tab one');
  await until('the other tab to show it', async () => texts(await messages(two)).includes('From tab one'));

  // A send the module refuses stays on the page, with its nonce, for a retry:
  // the retry stores it once.
  cliAll('CONFIG', 'SET', 'chat.max-text-bytes', '10');
  try {
    await one.fill('#text', 'Longer than ten bytes');
    await one.press('#text', 'Enter');
    await one.waitForSelector('#list .msg.pending.failed');
    assert.match(await one.textContent('#list .msg.pending.failed .state'), /^Not sent: /);
    assert.equal(await one.inputValue('#text'), '', 'the text stays in its pending entry');
  } finally {
    cliAll('CONFIG', 'SET', 'chat.max-text-bytes', '16384');
  }
  await one.click('#list .msg.pending.failed button:text("Retry")');
  await until('the retry to reach the other tab', async () => texts(await messages(two)).includes('Longer than ten bytes'));
  await until('the pending entry to go', async () => (await one.$('#list .msg.pending')) === null);
  assert.deepEqual(texts(await messages(one)), ['From tab one', 'Longer than ten bytes']);

  // Closing one tab changes nothing for delivery.
  await one.close();
  await sleep(500);
  assert.ok(presence('pair').includes('erin'));
  assert.equal(numsub('chat:user:{erin}:push'), '1');
  cli('CHAT.SEND', 'pair', 'frank', 'Still here?');
  await until('the open tab to get it live', async () => texts(await messages(two)).includes('Still here?'));
  assert.deepEqual(cliLines('CHAT.FETCH', 'erin'), []);

  // The last one: offline, no listener, and the next message waits in the inbox.
  await two.close();
  await until('erin to be offline and not listening', () =>
    !presence('pair').includes('erin')
    && numsub('chat:user:{erin}:push') === '0');
  cli('CHAT.SEND', 'pair', 'frank', 'Gone now');
  if (broadcast('pair')) {
    // Not published to anyone, nor copied: after her read cursor.
    assert.deepEqual(cliLines('CHAT.FETCH', 'erin'), []);
    const cursor = cliLines('CHAT.CURSOR', 'pair', 'erin');
    const after = cliLines('CHAT.HISTORY', 'pair', 'AFTER', cursor[cursor.indexOf('cursor') + 1]);
    assert.equal(JSON.parse(after.at(-1)).text, 'Gone now');
  } else {
    assert.equal(cliLines('CHAT.FETCH', 'erin').length, 1);
  }
  assert.deepEqual([...one.errors, ...two.errors, ...one.dialogs, ...two.dialogs], []);
  await ctx.close();
}));

test('direct messages, unread badges and scroll-back on a phone-sized screen', () => recording(async () => {
  // 60 messages from alice in a room carol joins, made with plain CHAT.* calls.
  cli('CHAT.REGISTER', 'carol', 'Carol', 'PASSWORD', 'carol-secret');
  cli('CHAT.CREATE', 'history', 'A long history');
  joinRoom('history', 'alice');
  for (let i = 1; i <= 60; i++) cli('CHAT.SEND', 'history', 'alice', `Old message ${i}`);
  joinRoom('history', 'carol');

  const phone = await browser.newContext({ viewport: { width: 390, height: 740 }, isMobile: true, hasTouch: true });
  const c = await openPage(phone, 'carol');
  await signIn(c, 'carol', 'carol-secret');
  await c.waitForSelector('body[data-synced="true"]');

  // Alice writes to Carol directly while Carol looks at the room list.
  const dm = directRoom('alice', 'carol');
  cli('CHAT.SEND', dm, 'alice', 'Psst, Carol');
  const badge = await until('the direct room to show one unread', () =>
    c.$eval(`#dms button[data-room="${dm}"] .badge`, (e) => e.textContent).catch(() => null));
  assert.equal(badge, '1');
  assert.equal(await c.title(), '(1) redis-chat');
  await shot(c, '09-phone-room-list-with-badge');
  await c.click(`#dms button[data-room="${dm}"]`);
  await until('the direct message', async () => texts(await messages(c)).includes('Psst, Carol'));
  assert.equal(await c.textContent('#room-title'), 'Alice');
  await until('the title to show nothing unread', async () => (await c.title()) === 'redis-chat');
  await shot(c, '10-phone-direct-message');

  // The long room: the newest 50 first, the rest by scrolling back.
  await c.click('#back');
  await c.click('#rooms button[data-room="history"]');
  await until('the newest 50', async () => (await messages(c)).length === 50);
  assert.equal((await messages(c))[0].text, 'Old message 11');
  await c.$eval('#messages', (e) => { e.scrollTop = 0; });
  await until('all 60 after scrolling back', async () => (await messages(c)).length === 60);
  const all = await messages(c);
  assert.deepEqual(all.map((m) => m.id), Array.from({ length: 60 }, (_, i) => i + 1));
  await shot(c, '11-phone-scrolled-back');

  // Carol changes her password: a wrong current one is refused, then the new
  // one signs her in and the old one no longer does. Her other sessions end:
  // an open tab is signed out, a token no longer opens a socket.
  const elsewhere = await tokenFor('carol', 'carol-secret');
  const other = await openPage(phone, 'carol-2');
  await signIn(other, 'carol', 'carol-secret');
  await other.waitForSelector('body[data-synced="true"]');
  const works = await rawSocket(c, elsewhere, [{ op: 'ping' }]);
  assert.deepEqual(works.filter((f) => f.t === 'reply').map((f) => f.data), ['pong']);
  await c.click('#back');
  await c.click('#passwd-open');
  await c.fill('#passwd-old', 'not it');
  await c.fill('#passwd-new', 'carol-new-secret');
  await c.click('#passwd-form button[type="submit"]');
  await until('the refusal', async () => (await c.textContent('#toast')) === 'The current password is not right');
  await c.fill('#passwd-old', 'carol-secret');
  await c.fill('#passwd-new', 'carol-new-secret');
  await c.click('#passwd-form button[type="submit"]');
  await until('the change', async () => (await c.textContent('#toast')) === 'Password changed');
  await until('the other tab to be signed out', async () =>
    (await other.textContent('#f-error')) === 'Your session has ended; sign in again');
  const refused = await rawSocket(c, elsewhere, [{ op: 'ping' }]);
  assert.deepEqual(refused.map((f) => f.t), ['signed_out'], 'the old token opens nothing');
  const still = await c.evaluate(() => sessionStorage.getItem('webchat.token'));
  const kept = await rawSocket(c, still, [{ op: 'ping' }]);
  assert.deepEqual(kept.filter((f) => f.t === 'reply').map((f) => f.data), ['pong'], 'the tab that changed it stays signed in');
  assert.deepEqual([...other.dialogs, ...other.errors], []);
  await other.close();
  await c.click('#signout');
  await signIn(c, 'carol', 'carol-secret');
  await until('the old password to fail', async () => (await c.textContent('#f-error')) === 'Invalid username or password');
  await signIn(c, 'carol', 'carol-new-secret');
  await c.waitForSelector('body[data-synced="true"]');
  assert.deepEqual(c.dialogs, []);
  assert.deepEqual(c.errors, []);
  await phone.close();
}));

test('a signed-in user reaches no room they are not in; names and titles with HTML stay text', () => recording(async () => {
  // A private room of alice and bob, and a room whose title is markup.
  const secret = 'The vault code is 4711';
  cli('CHAT.CREATE', 'vault', 'Vault');
  joinRoom('vault', 'alice');
  joinRoom('vault', 'bob');
  cli('CHAT.SEND', 'vault', 'alice', secret);
  const title = '<b>Bold</b><img src=x onerror=alert(8)>';
  const name = '<img src=x onerror=alert(9)>Mal';
  cli('CHAT.CREATE', 'markup', title);

  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const m = await openPage(ctx, 'mallory');
  await signUp(m, 'mallory', name, 'mallory-secret');
  await join(m, 'markup');
  await send(m, 'Hello from Mal');
  assert.equal(await m.textContent('#rooms button[data-room="markup"] .name'), title);
  assert.equal(await m.textContent('#room-title'), `# ${title}`);
  assert.equal(await m.textContent('#me-name'), name);
  assert.equal(await m.textContent('#list .msg .sender'), name);
  assert.equal(await m.$$eval('#app img, #app b', (els) => els.length), 0, 'no element from user text');
  await shot(m, '13-markup-in-names-and-titles');

  // Every request about the room she is not in, on a socket of her own.
  const token = await m.evaluate(() => sessionStorage.getItem('webchat.token'));
  const refused = ['open', 'older', 'after', 'read', 'edit', 'delete', 'typing', 'send'];
  const frames = await rawSocket(m, token, [
    { op: 'open', room: 'vault' },
    { op: 'older', room: 'vault', before: 100 },
    { op: 'after', room: 'vault', after: 0, count: 10 },
    { op: 'read', room: 'vault', id: 1 },
    { op: 'edit', room: 'vault', id: 1, text: 'Mine now' },
    { op: 'delete', room: 'vault', id: 1 },
    { op: 'typing', room: 'vault' },
    { op: 'send', room: 'vault', text: 'Let me in', nonce: 'n1' },
    { op: 'catchup', rooms: { vault: 0 } },
    { op: 'members', room: 'vault' },
    { op: 'room', room: 'vault' },
    { op: 'thread', room: 'vault', id: 1 },
    { op: 'react', room: 'vault', id: 1, reaction: 'ok', on: true },
    { op: 'pin', room: 'vault', id: 1, on: true },
    { op: 'pins', room: 'vault' },
    { op: 'send', room: 'vault', text: 'Me too', nonce: 'n2', reply_to: 1 },
  ]);
  const replies = new Map(frames.filter((f) => f.t === 'reply').map((f) => [f.req, f]));
  refused.forEach((op, i) => {
    assert.ok(replies.get(i + 1) && 'error' in replies.get(i + 1), `${op} is refused: ${JSON.stringify(replies.get(i + 1))}`);
  });
  assert.deepEqual(replies.get(9).data, {});
  assert.ok(replies.get(10) && 'error' in replies.get(10), 'members is refused');
  assert.equal(replies.get(11).data, null);
  for (const [req, op] of [[12, 'thread'], [13, 'react'], [14, 'pin'], [15, 'pins'], [16, 'reply']]) {
    assert.ok(replies.get(req) && 'error' in replies.get(req), `${op} is refused: ${JSON.stringify(replies.get(req))}`);
  }
  assert.ok(!frames.some((f) => f.t === 'missed'), 'no catch-up frame');
  assert.ok(!JSON.stringify(frames).includes('vault code'), 'nothing of the room leaked');
  assert.deepEqual(cliLines('CHAT.HISTORY', 'vault').map((d) => JSON.parse(d).text), [secret], 'the room is as it was');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'vault'), ['alice', 'bob']);
  assert.deepEqual(cliLines('CHAT.REACTIONS', 'vault', '1'), []);
  assert.deepEqual(cliLines('CHAT.PINS', 'vault'), []);
  // "@alice" in a room she is not in mentions no one.
  await send(m, 'Is @alice here?');
  assert.equal(JSON.parse(cliLines('CHAT.HISTORY', 'markup').at(-1)).mentions, undefined);

  // A flood of typing frames for rooms that do not exist costs the server
  // nothing it keeps; a frame over 64 KB closes that socket and nothing else.
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${web.pid}/status`, 'utf8'))[1]) / 1024;
  const before = rss();
  const flood = await m.evaluate((token) => new Promise((resolve) => {
    const ws = new WebSocket(`ws://${location.host}/ws`);
    let replies = 0;
    ws.onopen = () => {
      ws.send(JSON.stringify({ op: 'auth', token }));
      const long = 'r'.repeat(60000);
      for (let i = 0; i < 1500; i++) ws.send(JSON.stringify({ op: 'typing', room: long + i, req: i }));
    };
    ws.onmessage = (ev) => {
      if (JSON.parse(ev.data).t === 'reply' && ++replies === 1500) { ws.close(); resolve(replies); }
    };
    ws.onclose = () => resolve(replies);
  }), token);
  assert.equal(flood, 1500);
  const grown = rss() - before;
  assert.ok(grown < 40, `the server grew by ${grown.toFixed(1)} MB for 90 MB of refused typing`);
  const big = await rawSocket(m, token, [{ op: 'send', room: 'markup', text: 'x'.repeat(70000), nonce: 'big' }]);
  assert.ok(!big.some((f) => f.t === 'reply'), 'an oversized frame gets no reply');
  assert.ok((await fetch(`${base}/healthz`)).ok);
  await send(m, 'Still here');

  // A document without a time shows without one.
  await m.evaluate(() => onFrame({ t: 'push', doc: { type: 'message', room: 'markup', id: 99, sender: 'mallory', text: 'No time' } }));
  await until('the message without a time', async () => texts(await messages(m)).includes('No time'));
  assert.deepEqual([...m.dialogs, ...m.errors], []);
  await ctx.close();
}));

test('conversations: mentions, a thread, reactions, pins, and what retention removed', () => recording(async () => {
  for (const [user, name] of [['ivy', 'Ivy'], ['jack', 'Jack']]) {
    cli('CHAT.REGISTER', user, name, 'PASSWORD', `${user}-secret`);
  }
  for (const [room, title] of [['lounge', 'Lounge'], ['side', 'Side room']]) {
    cli('CHAT.CREATE', room, title);
    joinRoom(room, 'ivy');
    joinRoom(room, 'jack');
  }
  const ivyCtx = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const jackCtx = await browser.newContext({ viewport: { width: 1280, height: 760 } });
  const i = await openPage(ivyCtx, 'ivy');
  await signIn(i, 'ivy', 'ivy-secret');
  await i.waitForSelector('body[data-synced="true"]');
  await i.click('#rooms button[data-room="lounge"]');
  let j = await openPage(jackCtx, 'jack');
  await signIn(j, 'jack', 'jack-secret');
  await j.waitForSelector('body[data-synced="true"]');
  await j.click('#rooms button[data-room="side"]');
  await j.waitForSelector('#rooms button.active[data-room="side"]');

  // 1. "@jack" in the composer mentions Jack, a member; "@nobody" no one.
  // Jack, in another room, gets an "@" badge; opening the room shows the
  // message highlighted, and reading it clears the badge and the count.
  await send(i, 'Lunch at noon, @jack? Ask @nobody.');
  const lunch = JSON.parse(cliLines('CHAT.HISTORY', 'lounge').at(-1));
  assert.deepEqual(lunch.mentions, ['jack']);
  assert.equal(await until('jack\'s mention badge', () => textOf(j, '#rooms button[data-room="lounge"] .mention-badge')), '@1');
  assert.deepEqual(mentions('jack'), ['lounge', '1']);
  await shot(j, '14-mention-badge');
  await j.click('#rooms button[data-room="lounge"]');
  await j.waitForSelector(`#list .msg.mentioned[data-id="${lunch.id}"]`);
  assert.equal(await textOf(j, `#list .msg[data-id="${lunch.id}"] .at.you`), '@jack');
  assert.equal(await textOf(j, `#list .msg[data-id="${lunch.id}"] .text`), lunch.text);
  await until('the badge to go', async () => (await j.$('#rooms .mention-badge')) === null);
  await until('the mention to be read', () => mentions('jack').length === 0);

  // 2. Reply in a thread: Jack replies from the thread panel (CHAT.SEND
  // ... REPLY); Ivy's page counts the reply live and opens the thread, and
  // her reply reaches Jack's open thread.
  const msg = (page, id) => page.locator(`#list .msg[data-id="${id}"]`);
  await msg(j, lunch.id).hover();
  await msg(j, lunch.id).locator('.actions button.reply').click();
  await j.waitForSelector(`#thread .msg[data-id="${lunch.id}"]`);
  await until('the empty thread', async () => (await textOf(j, '#thread .thread-count')) === '0 replies');
  await j.fill('#thread-text', 'Yes! See you there');
  await j.press('#thread-text', 'Enter');
  const reply = await until('the reply in the thread', async () => {
    const ids = await j.$$eval('#thread .msg:not(.pending)', (els) => els.map((e) => Number(e.dataset.id)));
    return ids.length === 2 && ids[1];
  });
  const thread = cliLines('CHAT.THREAD', 'lounge', String(lunch.id)).map((d) => JSON.parse(d));
  assert.deepEqual(thread.map((d) => [d.id, d.reply_to]), [[lunch.id, undefined], [reply, lunch.id]]);
  await until('ivy to see "1 reply"', async () => (await textOf(i, `#list .msg[data-id="${lunch.id}"] .replies`)) === '1 reply');
  assert.equal(await textOf(i, `#list .msg[data-id="${reply}"] .reply-to`), `↪ Reply to Ivy: ${lunch.text}`);
  await i.click(`#list .msg[data-id="${lunch.id}"] .replies`);
  await until('ivy\'s thread', async () => (await i.$$('#thread .msg:not(.pending)')).length === 2);
  await i.fill('#thread-text', 'Booked a table');
  await i.press('#thread-text', 'Enter');
  await until('jack to see it in his open thread', async () => (await j.textContent('#thread')).includes('Booked a table'));
  await until('"2 replies" on jack\'s page', async () => (await textOf(j, `#list .msg[data-id="${lunch.id}"] .replies`)) === '2 replies');
  assert.equal(await textOf(j, '#thread .thread-count'), '2 replies');
  await shot(j, '15-thread');

  // 3. Reactions: chips with counts, live on the other page; a click on a
  // chip adds one's own or takes it back (CHAT.REACT, CHAT.UNREACT).
  const chip = (page, x) => textOf(page, `#list .msg[data-id="${lunch.id}"] .chip[data-reaction="${x}"]`);
  await msg(j, lunch.id).hover();
  await msg(j, lunch.id).locator('.actions button.react[data-reaction="👍"]').click();
  await until('jack\'s chip', async () => (await chip(j, '👍')) === '👍 1');
  await until('ivy to see it live', async () => (await chip(i, '👍')) === '👍 1');
  await i.click(`#list .msg[data-id="${lunch.id}"] .chip[data-reaction="👍"]`);
  await until('two on both pages', async () => (await chip(i, '👍')) === '👍 2' && (await chip(j, '👍')) === '👍 2');
  await i.waitForSelector(`#list .msg[data-id="${lunch.id}"] .chip.mine[data-reaction="👍"]`);
  await msg(j, lunch.id).hover();
  await msg(j, lunch.id).locator('.actions button.react[data-reaction="ok"]').click();
  await until('"ok" on ivy\'s page', async () => (await chip(i, 'ok')) === 'ok 1');
  await j.click(`#list .msg[data-id="${lunch.id}"] .chip[data-reaction="👍"]`);
  await until('jack\'s taken back', async () => (await chip(i, '👍')) === '👍 1' && (await chip(j, '👍')) === '👍 1');
  assert.equal(await j.$(`#list .msg[data-id="${lunch.id}"] .chip.mine[data-reaction="👍"]`), null);
  await sleep(300); // a change counted twice would show by now
  assert.deepEqual([await chip(i, '👍'), await chip(i, 'ok'), await chip(j, '👍'), await chip(j, 'ok')], ['👍 1', 'ok 1', '👍 1', 'ok 1']);
  const given = cliLines('CHAT.REACTIONS', 'lounge', String(lunch.id));
  assert.deepEqual([...given].sort(), ['ivy', 'jack', 'ok', '👍'].sort());
  assert.equal(given[given.indexOf('👍') + 1], 'ivy');
  assert.equal(await textOf(j, `#thread .msg[data-id="${lunch.id}"] .chip[data-reaction="ok"]`), 'ok 1', 'the thread shows them too');

  // 4. Pins: Ivy pins the question, Jack his reply; both pages list them
  // above the messages, newest first, live; an unpin takes one away.
  await msg(i, lunch.id).hover();
  await msg(i, lunch.id).locator('.actions button.pin').click();
  await until('jack to see the pin', async () => (await textOf(j, '#pins .pins-head')) === '1 pinned message');
  assert.equal(await textOf(j, '#pins .pin .pin-text'), lunch.text);
  assert.deepEqual(cliLines('CHAT.PINS', 'lounge').map((d) => JSON.parse(d).id), [lunch.id]);
  await until('ivy\'s button to say Unpin', async () =>
    (await textOf(i, `#list .msg[data-id="${lunch.id}"] .actions button.pin`)) === 'Unpin');
  await msg(j, reply).hover();
  await msg(j, reply).locator('.actions button.pin').click();
  await until('two pins on ivy\'s page', async () => (await textOf(i, '#pins .pins-head')) === '2 pinned messages');
  await i.click('#pins .pins-head');
  const pinned = await until('the list of pins', async () => {
    const ids = await i.$$eval('#pins .pin', (els) => els.map((e) => Number(e.dataset.id)));
    return ids.length === 2 && ids;
  });
  assert.deepEqual(pinned, [reply, lunch.id]);
  await shot(i, '16-thread-reactions-pins');
  await msg(i, lunch.id).hover();
  await msg(i, lunch.id).locator('.actions button.pin').click();
  await until('jack to see one pin left', async () => (await textOf(j, '#pins .pins-head')) === '1 pinned message');
  assert.equal(await textOf(j, '#pins .pin .pin-text'), 'Yes! See you there');
  assert.deepEqual(cliLines('CHAT.PINS', 'lounge').map((d) => JSON.parse(d).id), [reply]);

  // 5. A mention while Jack is away: the module counts it, his page shows
  // the count when he is back; and his own reactions are still his.
  await j.close();
  await until('jack to be offline', () => !presence('lounge').includes('jack'));
  cli('CHAT.SEND', 'side', 'ivy', 'Are you coming, @jack?', 'MENTION', 'jack');
  assert.deepEqual(mentions('jack'), ['side', '1']);
  j = await openPage(jackCtx, 'jack');
  await signIn(j, 'jack', 'jack-secret');
  await j.waitForSelector('body[data-synced="true"]');
  await j.waitForSelector('#rooms button.active[data-room="lounge"]');
  assert.equal(await until('the badge from the count', () => textOf(j, '#rooms button[data-room="side"] .mention-badge')), '@1');
  await j.waitForSelector(`#list .msg[data-id="${lunch.id}"] .chip.mine[data-reaction="ok"]`);
  await j.click('#rooms button[data-room="side"]');
  await until('the badge to go', async () => (await j.$('#rooms .mention-badge')) === null);
  await until('the count to go', () => mentions('jack').length === 0);

  // In a broadcast room the module also tells a mentioned member on their
  // own channel (a "mention" event, on one server): the event alone raises
  // the badge, and the message, when it comes, is the same mention.
  await j.click('#rooms button[data-room="lounge"]');
  const next = field(cliLines('CHAT.INFO', 'side'), 'last_id') + 1;
  await j.evaluate((id) => onFrame({ t: 'push', doc: { type: 'mention', room: 'side', id, sender: 'ivy', text: 'Stage is yours, @jack' } }), next);
  assert.equal(await until('the badge from the event', () => textOf(j, '#rooms button[data-room="side"] .mention-badge')), '@1');
  assert.equal(Number(cli('CHAT.SEND', 'side', 'ivy', 'Stage is yours, @jack', 'MENTION', 'jack').replace(/\D/g, '')), next);
  await until('the message', async () => (await j.evaluate((id) => S.rooms.get('side').msgs.has(id), next)));
  await sleep(300);
  assert.equal(await textOf(j, '#rooms button[data-room="side"] .mention-badge'), '@1');
  cliAll('CONFIG', 'SET', 'chat.fanout-max-members', '2');
  try {
    cli('CHAT.CREATE', 'stage', 'Stage');
    for (const user of ['ivy', 'jack', 'frank']) joinRoom('stage', user);
    assert.ok(broadcast('stage'));
    await until('jack\'s listener on the room channel', () => Number(numsub('chat:room:{stage}:push')) >= 2, 15000);
    cli('CHAT.SEND', 'stage', 'frank', 'Your turn on stage, @jack', 'MENTION', 'jack');
    assert.equal(await until('the broadcast room\'s badge', () => textOf(j, '#rooms button[data-room="stage"] .mention-badge')), '@1');
    await sleep(300);
    assert.equal(await textOf(j, '#rooms button[data-room="stage"] .mention-badge'), '@1', 'counted once');
  } finally {
    cliAll('CONFIG', 'SET', 'chat.fanout-max-members', '500');
  }

  // 6. Jack is away while the room's history keeps only its newest
  // messages (chat.history-max 1 keeps a chunk of at most 128): back, his
  // page says which messages after his read cursor are gone, and shows the
  // rest with no button for the lost ones. On one server his inbox,
  // limited too, says it dropped copies.
  await i.close();
  await j.close();
  await until('both offline', () => !presence('lounge').some((u) => u === 'jack' || u === 'ivy'));
  const cursor = field(cliLines('CHAT.CURSOR', 'lounge', 'jack'), 'cursor');
  cliAll('CONFIG', 'SET', 'chat.history-max', '1');
  cliAll('CONFIG', 'SET', 'chat.inbox-max', '1');
  try {
    cliPipe(Array.from({ length: 300 }, (_, n) => `CHAT.SEND lounge ivy "Busy afternoon ${n + 1}"`));
  } finally {
    cliAll('CONFIG', 'SET', 'chat.history-max', '10000');
    cliAll('CONFIG', 'SET', 'chat.inbox-max', '1000');
  }
  const info = cliLines('CHAT.INFO', 'lounge');
  const [firstKept, lastId] = [field(info, 'first_id'), field(info, 'last_id')];
  assert.ok(firstKept > cursor + 1, `retention removed messages after ${cursor} (first kept: ${firstKept})`);
  const fanout = !broadcast('lounge');
  j = await openPage(jackCtx, 'jack');
  await signIn(j, 'jack', 'jack-secret');
  await j.waitForSelector('body[data-synced="true"]');
  await j.waitForSelector('#rooms button.active[data-room="lounge"]');
  await until('the room, opened', async () => (await messages(j)).some((m) => m.id === lastId)
    && j.evaluate(() => S.rooms.get('lounge').loaded && S.pending.size === 0));
  const notice = await until('the gap notice', () => textOf(j, '#list .gap-notice'));
  // Shown: every message kept (and any the inbox still had), from the
  // lowest one after the cursor on.
  const shown = (await messages(j)).map((m) => m.id).filter((id) => id > cursor);
  const lowest = Math.min(...shown);
  assert.ok(lowest <= firstKept);
  assert.deepEqual(shown, Array.from({ length: lastId - lowest + 1 }, (_, n) => lowest + n));
  assert.equal(notice, `Some older messages are no longer available (ids ${cursor + 1}–${lowest - 1})`);
  assert.ok(await j.isVisible('#list .gap-notice'));
  assert.equal(await j.$('#list button.older'), null, 'no button for messages that are gone');
  if (fanout) {
    assert.match(await textOf(j, '#notice-text'), /^Your inbox was full while you were away: \d+ messages were dropped from it\./);
    assert.ok(await j.isVisible('#notice'));
    assert.deepEqual(cliLines('CHAT.FETCH', 'jack'), [], 'the page acknowledged the inbox, its gap too');
  }
  await j.$eval('#list .gap-notice', (e) => e.scrollIntoView({ block: 'center' }));
  await shot(j, '17-gap-notice');

  assert.deepEqual([...i.dialogs, ...i.errors, ...j.dialogs, ...j.errors], []);
  await ivyCtx.close();
  await jackCtx.close();
}));

test('stopping the web server marks everyone it served offline', () => recording(async () => {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const f = await openPage(ctx, 'frank');
  await signIn(f, 'frank', 'frank-secret');
  await f.waitForSelector('body[data-synced="true"]');
  assert.ok(presence('pair').includes('frank'));
  web.kill('SIGTERM');
  const code = await new Promise((resolve) => web.once('exit', resolve));
  assert.equal(code, 0, web.output());
  assert.ok(!presence('pair').includes('frank'));
  assert.equal(numsub('chat:user:{frank}:push'), '0');
  await ctx.close();
}));
