// The browser test of what the module's events show live, with no polling:
// presence dots that turn green when someone signs in and grey when they
// sign out or their presence TTL runs out, a join that appears in the
// member list at once, and an unread badge that reading on another tab of
// the same user clears. Between Uma (two tabs), Vic, Wes (online only from
// redis-cli) and Xan, who joins. webchat.test.mjs imports this file, so
// scripts/test runs it on one server and on a cluster with the others;
// alone:
//
//   node --test examples/webchat/e2e/presence.test.mjs
//   WEBCHAT_CLUSTER=1 node --test examples/webchat/e2e/presence.test.mjs
//
// In a cluster the four users and the rooms live in different slots: the
// rooms broadcast, and the web server follows each member's presence
// channel (a shard channel in the member's slot) on the node that serves
// it. The servers, the browser and the helpers are in harness.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  browser, sleep, until, cli, cliLines, cliAll, cliEach, joinRoom, field, numsub, openPage, shot,
  recording, signIn,
} from './harness.mjs';

const dot = (user) => `#room-people .person[data-user="${user}"] .dot`;
const green = async (page, user) => (await page.$(`${dot(user)}.online`)) !== null;
const grey = async (page, user) => (await page.$(dot(user))) !== null && !(await green(page, user));
const badge = (page, room) => page.$eval(`#rooms button[data-room="${room}"] .badge`, (e) => e.textContent).catch(() => null);
// Live: well within the 5 seconds the page used to wait between two reads.
const LIVE = 3000;

// CHAT.PRESENCE calls so far, on every server (INFO commandstats).
function presenceCalls() {
  return cliEach('INFO', 'commandstats').flat()
    .map((line) => /^cmdstat_chat\.presence:calls=(\d+)/.exec(line))
    .reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
}

async function signedIn(ctx, label, user) {
  const page = await openPage(ctx, label);
  await signIn(page, user, `${user}-secret`);
  await page.waitForSelector('body[data-synced="true"]');
  return page;
}

async function openRoom(page, room) {
  if (!(await page.$(`#rooms button.active[data-room="${room}"]`))) await page.click(`#rooms button[data-room="${room}"]`);
  await page.waitForSelector(`#rooms button.active[data-room="${room}"]`);
  await until(`${room} opened`, () => page.evaluate((id) => S.rooms.get(id).loaded, room));
}

test('presence and members, live: dots, a join, and a read on another tab', () => recording(async () => {
  for (const [user, name] of [['uma', 'Uma'], ['vic', 'Vic'], ['wes', 'Wes'], ['xan', 'Xan']]) {
    cli('CHAT.REGISTER', user, name, 'PASSWORD', `${user}-secret`);
  }
  cli('CHAT.CREATE', 'porch', 'Porch');
  cli('CHAT.CREATE', 'yard', 'Yard');
  for (const user of ['uma', 'vic', 'wes']) joinRoom('porch', user);
  for (const user of ['uma', 'vic']) joinRoom('yard', user);
  const began = Date.now();
  const calls = presenceCalls();

  const umaCtx = await browser.newContext({ viewport: { width: 1200, height: 760 } });
  const otherCtx = await browser.newContext({ viewport: { width: 900, height: 600 } });
  const u = await signedIn(umaCtx, 'uma', 'uma');
  await openRoom(u, 'porch');
  await until('vic and wes listed, offline', async () => (await grey(u, 'vic')) && grey(u, 'wes'));
  // The web server listens on the presence channel of each person Uma sees.
  for (const user of ['vic', 'wes']) assert.equal(numsub(`chat:user:{${user}}:presence`), '1');

  // 1. Vic signs in: his dot turns green on Uma's page; he signs out: grey.
  const v = await signedIn(otherCtx, 'vic', 'vic');
  await until('vic\'s dot to turn green', () => green(u, 'vic'), LIVE);
  await shot(u, '30-presence-vic-online');
  await v.click('#signout');
  await until('vic\'s dot to turn grey', () => grey(u, 'vic'), LIVE);
  assert.equal(field(cliLines('CHAT.PROFILE', 'vic'), 'online'), 0);

  // 2. Wes is online from elsewhere, for the module's presence TTL (2
  // seconds here) and no heartbeat: green, then grey when it runs out.
  const ttl = cliLines('CONFIG', 'GET', 'chat.presence-ttl')[1];
  cliAll('CONFIG', 'SET', 'chat.presence-ttl', '2');
  let seen;
  try {
    cli('CHAT.ONLINE', 'wes');
    await until('wes\'s dot to turn green', () => green(u, 'wes'), LIVE);
    seen = Date.now();
    await until('wes\'s dot to turn grey when his TTL runs out', () => grey(u, 'wes'), 2000 + LIVE);
  } finally {
    cliAll('CONFIG', 'SET', 'chat.presence-ttl', ttl);
  }
  assert.ok(Date.now() - seen > 1000, 'grey only when the TTL ran out');
  assert.ok(await green(u, 'uma'), 'uma\'s own tab keeps her online');
  assert.equal(field(cliLines('CHAT.PROFILE', 'uma'), 'online'), 1);

  // 3. Xan joins the room: he appears in Uma's list and members panel at
  // once, grey, and turns green when he signs in.
  await u.click('#members-open');
  await u.waitForSelector('#members-list li[data-user="wes"]');
  joinRoom('porch', 'xan');
  await until('xan in uma\'s member list', () => grey(u, 'xan'), LIVE);
  await until('xan in uma\'s members panel', () => u.$('#members-list li[data-user="xan"]'), LIVE);
  const x = await signedIn(otherCtx, 'xan', 'xan');
  await until('xan\'s dot to turn green', () => green(u, 'xan'), LIVE);
  await shot(u, '31-presence-join');

  // 4. Uma's second tab: a message in #yard raises the badge on both;
  // reading it on the second tab clears it on the first (the module's
  // read event on her own channel, or the room's).
  const u2 = await signedIn(umaCtx, 'uma-2', 'uma');
  await openRoom(u2, 'porch');
  cli('CHAT.SEND', 'yard', 'vic', 'Anyone in the yard?');
  for (const page of [u, u2]) await until(`${page.label}'s badge`, async () => (await badge(page, 'yard')) === '1');
  await shot(u, '32-two-tabs-unread');
  await u2.click('#rooms button[data-room="yard"]');
  await until('the read', () => field(cliLines('CHAT.CURSOR', 'yard', 'uma'), 'unread') === 0);
  await until('the badge to clear on the first tab', async () => (await badge(u, 'yard')) === null, LIVE);
  assert.ok(await u.$('#rooms button.active[data-room="porch"]'), 'the first tab still shows #porch');
  await shot(u, '33-read-on-the-other-tab');

  // None of it asked CHAT.PRESENCE, which the page used to every 5 seconds.
  await sleep(Math.max(0, began + 5500 - Date.now()));
  assert.equal(presenceCalls(), calls, 'no CHAT.PRESENCE call');
  assert.deepEqual([...u.dialogs, ...u.errors, ...u2.dialogs, ...u2.errors, ...v.errors, ...x.errors], []);

  // No one here sees vic any more: the server stops listening for him.
  await umaCtx.close();
  await otherCtx.close();
  await until('no listener on vic\'s presence channel', () => numsub('chat:user:{vic}:presence') === '0');
}));
