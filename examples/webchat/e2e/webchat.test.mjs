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
// CHAT.UNREAD, PUBSUB NUMSUB) of each room, user or node instead.
//
// Environment: CHAT_MODULE (the module .so), WEBCHAT_BIN (the web server),
// CHROMIUM (the browser), WEBCHAT_ARTIFACTS (where screenshots go),
// WEBCHAT_CLUSTER, WEBCHAT_CLUSTER_REPLICAS, CHAT_REDIS_SERVER and
// CHAT_REDIS_CLI (for scripts/cluster).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const modulePath = process.env.CHAT_MODULE || path.join(root, 'target/release/libredis_chat.so');
const serverBin = process.env.WEBCHAT_BIN || path.join(root, 'target/release/chat-webchat');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.WEBCHAT_ARTIFACTS || path.join(root, 'target/webchat-test');
const cluster = process.env.WEBCHAT_CLUSTER === '1';
const clusterReplicas = Number(process.env.WEBCHAT_CLUSTER_REPLICAS || '0');

const children = [];
const openPages = [];
let redisPort;
let clusterPorts = [];
let clusterEnv;
let base;
let web;
let browser;
let dataDir;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `check` until it returns a truthy value; fails with `what` after `ms`.
async function until(what, check, ms = 10000) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) assert.fail(`timed out waiting for ${what} (last: ${last})`);
    await sleep(100);
  }
}

// redis-cli on the server, or on the cluster's first node following
// redirects (-c), so every command reaches the node of its key.
function cliArgs(port = redisPort) {
  return cluster ? ['-c', '-p', String(port)] : ['-p', String(port)];
}

function cli(...args) {
  return execFileSync('redis-cli', [...cliArgs(), '--no-raw', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

// Many commands through one redis-cli, one per line.
function cliPipe(commands) {
  execFileSync('redis-cli', cliArgs(), { input: commands.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

function cliLines(...args) {
  return linesOn(redisPort, ...args);
}

function linesOn(port, ...args) {
  const out = execFileSync('redis-cli', [...cliArgs(port), '--raw', ...args], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '');
}

// Every server: the one, or each node of the cluster (CONFIG SET).
function cliAll(...args) {
  for (const port of cluster ? clusterPorts : [redisPort]) linesOn(port, ...args);
}

// Makes `user` a member of `room`: CHAT.SUBSCRIBE on one server; in a
// cluster the steps of docs/deployment.md, the user's list on the user's
// slot around the room's side.
function joinRoom(room, user) {
  if (!cluster) return cli('CHAT.SUBSCRIBE', room, user);
  cli('CHAT.LIST-ROOM', user, room);
  cli('CHAT.SUBSCRIBE', room, user);
  return cli('CHAT.LIST-ROOM', user, room);
}

// The direct room of two users, made with CHAT.DM, or in steps.
function directRoom(a, b) {
  if (!cluster) return cli('CHAT.DM', a, b).replace(/"/g, '');
  const room = cli('CHAT.DM-ID', a, b).replace(/"/g, '');
  for (const u of [a, b]) cli('CHAT.LIST-ROOM', u, room);
  cli('CHAT.DM-ROOM', room, a, b);
  for (const u of [a, b]) cli('CHAT.LIST-ROOM', u, room);
  return room;
}

// The members of `room` online: CHAT.PRESENCE, or (in a cluster, where
// presence lives in each user's key) each member's CHAT.PROFILE.
function presence(room) {
  if (!cluster) return cliLines('CHAT.PRESENCE', room);
  return cliLines('CHAT.MEMBERS', room).filter((user) => {
    const profile = cliLines('CHAT.PROFILE', user);
    return profile[profile.indexOf('online') + 1] === '1';
  });
}

// CHAT.UNREAD's reply, flat: room, count, ...; in a cluster from each
// listed room's CHAT.CURSOR.
function unread(user) {
  if (!cluster) return cliLines('CHAT.UNREAD', user);
  const out = [];
  for (const room of cliLines('CHAT.ROOMS', user)) {
    const cursor = cliLines('CHAT.CURSOR', room, user);
    const n = cursor[cursor.indexOf('unread') + 1];
    if (n !== undefined && n !== '0') out.push(room, n);
  }
  return out;
}

// Subscribers of a channel: PUBSUB NUMSUB, or in a cluster PUBSUB
// SHARDNUMSUB on every node (only the node of the channel's slot has any).
function numsub(channel) {
  if (!cluster) return cliLines('PUBSUB', 'NUMSUB', channel)[1];
  const counts = clusterPorts.map((port) => Number(linesOn(port, 'PUBSUB', 'SHARDNUMSUB', channel)[1]));
  return String(counts.reduce((a, b) => a + b, 0));
}

// Whether `room` keeps inbox copies for members away (a fan-out room), or
// they find what they missed from their read cursor (a broadcast room).
function broadcast(room) {
  const info = cliLines('CHAT.INFO', room);
  return info[info.indexOf('mode') + 1] === 'broadcast';
}

// `n` consecutive free loopback ports whose cluster bus ports (+10000)
// are free too.
async function freePortBlock(n) {
  const isFree = (port) => new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
  for (let p = 20000 + (process.pid % 5000) * 2; p < 29990; p += n) {
    let ok = true;
    for (let q = p; q < p + n && ok; q++) ok = (await isFree(q)) && (await isFree(q + 10000));
    if (ok) return p;
  }
  throw new Error('no free ports for a cluster');
}

function start(cmd, args, env) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  child.output = () => output;
  children.push(child);
  return child;
}

before(async () => {
  for (const [what, file] of [['the module', modulePath], ['the web server', serverBin], ['Chromium', browserPath]]) {
    assert.ok(fs.existsSync(file), `${what} is missing: ${file}`);
  }
  fs.mkdirSync(artifacts, { recursive: true });
  for (const f of fs.readdirSync(artifacts)) if (f.endsWith('.png')) fs.rmSync(path.join(artifacts, f));
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'webchat-test-'));

  let redisEnv;
  if (cluster) {
    // scripts/cluster starts the nodes in the background, waits until the
    // cluster is healthy, and stops them in after().
    const first = await freePortBlock(3 * (clusterReplicas + 1));
    clusterPorts = Array.from({ length: 3 * (clusterReplicas + 1) }, (_, i) => first + i);
    clusterEnv = {
      ...process.env, PORT: String(first), REPLICAS: String(clusterReplicas),
      CLUSTER_DIR: path.join(dataDir, 'cluster'), CHAT_MODULE: modulePath,
    };
    execFileSync(path.join(root, 'scripts/cluster'), ['start'], { env: clusterEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    redisPort = first;
    redisEnv = { REDIS_CLUSTER: clusterPorts.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(',') };
  } else {
    redisPort = await freePort();
    const redis = start('redis-server', [
      '--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dataDir,
      '--save', '', '--appendonly', 'no', '--loadmodule', modulePath,
    ]);
    await until('redis-server to answer', () => {
      if (redis.exitCode !== null) throw new Error(`redis-server exited: ${redis.output()}`);
      try { return cli('PING') === 'PONG'; } catch { return false; }
    });
    redisEnv = { REDIS_URL: `redis://127.0.0.1:${redisPort}/` };
  }

  const webPort = await freePort();
  base = `http://127.0.0.1:${webPort}`;
  web = start(serverBin, [], { ...redisEnv, PORT: String(webPort) });
  await until('the web server to answer', async () => {
    if (web.exitCode !== null) throw new Error(`chat-webchat exited: ${web.output()}`);
    try { return (await fetch(`${base}/healthz`)).ok; } catch { return false; }
  });

  browser = await chromium.launch({ executablePath: browserPath, headless: true });
});

after(async () => {
  if (browser) await browser.close();
  for (const child of children) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : null)));
  if (clusterEnv) execFileSync(path.join(root, 'scripts/cluster'), ['stop'], { env: clusterEnv, stdio: 'ignore' });
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

// A page that records dialogs and script errors, which must never happen.
async function openPage(context, label) {
  const page = await context.newPage();
  page.label = label;
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', async (d) => { page.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => page.errors.push(`${label}: ${e.message}`));
  openPages.push(page);
  await page.goto(base);
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

// Runs a test body; on failure, saves what each open page shows.
async function recording(body) {
  try {
    await body();
  } catch (e) {
    for (const page of openPages) {
      if (!page.isClosed()) await shot(page, `failed-${page.label}`).catch(() => {});
    }
    throw e;
  }
}

async function signUp(page, user, name, password) {
  await page.click('#mode-signup');
  await page.fill('#f-user', user);
  await page.fill('#f-name', name);
  await page.fill('#f-password', password);
  await page.click('#f-submit');
  await page.waitForSelector('body[data-synced="true"]');
}

async function signIn(page, user, password) {
  await page.fill('#f-user', user);
  await page.fill('#f-password', password);
  await page.click('#f-submit');
}

async function join(page, room) {
  await page.fill('#join-room', room);
  await page.press('#join-room', 'Enter');
  await page.waitForSelector(`#rooms button.active[data-room="${room}"]`);
}

// Sends a message and waits until the server has confirmed it.
async function send(page, text) {
  const before = await messages(page);
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await until(`"${text}" to be sent`, async () => (await messages(page)).length === before.length + 1);
}

// The confirmed messages on the page, in order: {id, sender, text}.
function messages(page) {
  return page.$$eval('#list .msg:not(.pending)', (els) => els.map((e) => ({
    id: Number(e.dataset.id),
    sender: e.dataset.sender,
    text: e.querySelector('.text') ? e.querySelector('.text').textContent : null,
  })));
}

// Opens a WebSocket of its own from the page, signs in with `token`, sends
// each request in `ops` (numbered from 1 with `req`), and returns every frame
// it got until all were answered, the socket closed, or `ms` passed.
function rawSocket(page, token, ops, ms = 5000) {
  return page.evaluate(({ token, ops, ms }) => new Promise((resolve) => {
    const frames = [];
    const ws = new WebSocket(`ws://${location.host}/ws`);
    const timer = setTimeout(() => { ws.close(); resolve(frames); }, ms);
    const done = () => { clearTimeout(timer); ws.close(); resolve(frames); };
    ws.onopen = () => {
      ws.send(JSON.stringify({ op: 'auth', token }));
      ops.forEach((op, i) => ws.send(JSON.stringify({ ...op, req: i + 1 })));
    };
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      frames.push(f);
      if (f.t === 'signed_out') done();
      if (f.t === 'reply' && frames.filter((x) => x.t === 'reply').length === ops.length) done();
    };
    ws.onclose = () => { clearTimeout(timer); resolve(frames); };
  }), { token, ops, ms });
}

async function tokenFor(user, password) {
  const res = await fetch(`${base}/api/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

function texts(list) {
  return list.map((m) => m.text);
}

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
    { op: 'presence', rooms: ['vault'] },
    { op: 'room', room: 'vault' },
  ]);
  const replies = new Map(frames.filter((f) => f.t === 'reply').map((f) => [f.req, f]));
  refused.forEach((op, i) => {
    assert.ok(replies.get(i + 1) && 'error' in replies.get(i + 1), `${op} is refused: ${JSON.stringify(replies.get(i + 1))}`);
  });
  assert.deepEqual(replies.get(9).data, {});
  assert.deepEqual(replies.get(10).data, {});
  assert.equal(replies.get(11).data, null);
  assert.ok(!frames.some((f) => f.t === 'missed'), 'no catch-up frame');
  assert.ok(!JSON.stringify(frames).includes('vault code'), 'nothing of the room leaked');
  assert.deepEqual(cliLines('CHAT.HISTORY', 'vault').map((d) => JSON.parse(d).text), [secret], 'the room is as it was');
  assert.deepEqual(cliLines('CHAT.MEMBERS', 'vault'), ['alice', 'bob']);

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
