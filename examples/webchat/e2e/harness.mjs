// The browser test's harness: a redis-server with the module (or a Redis
// Cluster of three primaries, with WEBCHAT_CLUSTER=1) and the chat-webchat
// binary on free loopback ports, started before the tests and stopped after
// them; Chromium; and the helpers the tests use to drive pages and to ask
// Redis with redis-cli. See webchat.test.mjs.

import { before, after } from 'node:test';
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
export const cluster = process.env.WEBCHAT_CLUSTER === '1';
const clusterReplicas = Number(process.env.WEBCHAT_CLUSTER_REPLICAS || '0');

const children = [];
const openPages = [];
let redisPort;
let clusterPorts = [];
let clusterEnv;
export let base;
export let web;
export let browser;
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

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls `check` until it returns a truthy value; fails with `what` after `ms`.
export async function until(what, check, ms = 10000) {
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

export function cli(...args) {
  return execFileSync('redis-cli', [...cliArgs(), '--no-raw', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

// Many commands through one redis-cli, one per line.
export function cliPipe(commands) {
  execFileSync('redis-cli', cliArgs(), { input: commands.join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
}

export function cliLines(...args) {
  return linesOn(redisPort, ...args);
}

function linesOn(port, ...args) {
  const out = execFileSync('redis-cli', [...cliArgs(port), '--raw', ...args], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l !== '');
}

// Every server: the one, or each node of the cluster (CONFIG SET).
export function cliAll(...args) {
  for (const port of cluster ? clusterPorts : [redisPort]) linesOn(port, ...args);
}

// The lines each server answers (INFO), one array per server.
export function cliEach(...args) {
  return (cluster ? clusterPorts : [redisPort]).map((port) => linesOn(port, ...args));
}

// Makes `user` a member of `room`: CHAT.SUBSCRIBE on one server; in a
// cluster the steps of docs/deployment.md, the user's list on the user's
// slot around the room's side.
export function joinRoom(room, user) {
  if (!cluster) return cli('CHAT.SUBSCRIBE', room, user);
  cli('CHAT.LIST-ROOM', user, room);
  cli('CHAT.SUBSCRIBE', room, user);
  return cli('CHAT.LIST-ROOM', user, room);
}

// The direct room of two users, made with CHAT.DM, or in steps.
export function directRoom(a, b) {
  if (!cluster) return cli('CHAT.DM', a, b).replace(/"/g, '');
  const room = cli('CHAT.DM-ID', a, b).replace(/"/g, '');
  for (const u of [a, b]) cli('CHAT.LIST-ROOM', u, room);
  cli('CHAT.DM-ROOM', room, a, b);
  for (const u of [a, b]) cli('CHAT.LIST-ROOM', u, room);
  return room;
}

// The members of `room` online: CHAT.PRESENCE, or (in a cluster, where
// presence lives in each user's key) each member's CHAT.PROFILE.
export function presence(room) {
  if (!cluster) return cliLines('CHAT.PRESENCE', room);
  return cliLines('CHAT.MEMBERS', room).filter((user) => {
    const profile = cliLines('CHAT.PROFILE', user);
    return profile[profile.indexOf('online') + 1] === '1';
  });
}

// CHAT.UNREAD's reply, flat: room, count, ...; in a cluster from each
// listed room's CHAT.CURSOR.
export function unread(user) {
  if (!cluster) return cliLines('CHAT.UNREAD', user);
  const out = [];
  for (const room of cliLines('CHAT.ROOMS', user)) {
    const cursor = cliLines('CHAT.CURSOR', room, user);
    const n = cursor[cursor.indexOf('unread') + 1];
    if (n !== undefined && n !== '0') out.push(room, n);
  }
  return out;
}

// The rooms where messages after `user`'s read cursor mention them, flat:
// room, count, ...: CHAT.MENTIONS, or in a cluster (where it answers
// CROSSSLOT for rooms of other slots) each listed room's CHAT.CURSOR.
export function mentions(user) {
  if (!cluster) return cliLines('CHAT.MENTIONS', user);
  const out = [];
  for (const room of cliLines('CHAT.ROOMS', user)) {
    const n = field(cliLines('CHAT.CURSOR', room, user), 'mentions');
    if (n > 0) out.push(room, String(n));
  }
  return out;
}

// A field of a map reply, as a number: field(cliLines('CHAT.INFO', room), 'last_id').
export function field(lines, name) {
  return Number(lines[lines.indexOf(name) + 1]);
}

// Subscribers of a channel: PUBSUB NUMSUB, or in a cluster PUBSUB
// SHARDNUMSUB on every node (only the node of the channel's slot has any).
export function numsub(channel) {
  if (!cluster) return cliLines('PUBSUB', 'NUMSUB', channel)[1];
  const counts = clusterPorts.map((port) => Number(linesOn(port, 'PUBSUB', 'SHARDNUMSUB', channel)[1]));
  return String(counts.reduce((a, b) => a + b, 0));
}

// Whether `room` keeps inbox copies for members away (a fan-out room), or
// they find what they missed from their read cursor (a broadcast room).
export function broadcast(room) {
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
export async function openPage(context, label) {
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

export async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

// Runs a test body; on failure, saves what each open page shows.
export async function recording(body) {
  try {
    await body();
  } catch (e) {
    for (const page of openPages) {
      if (!page.isClosed()) await shot(page, `failed-${page.label}`).catch(() => {});
    }
    throw e;
  }
}

export async function signUp(page, user, name, password) {
  await page.click('#mode-signup');
  await page.fill('#f-user', user);
  await page.fill('#f-name', name);
  await page.fill('#f-password', password);
  await page.click('#f-submit');
  await page.waitForSelector('body[data-synced="true"]');
}

export async function signIn(page, user, password) {
  await page.fill('#f-user', user);
  await page.fill('#f-password', password);
  await page.click('#f-submit');
}

export async function join(page, room) {
  await page.fill('#join-room', room);
  await page.press('#join-room', 'Enter');
  await page.waitForSelector(`#rooms button.active[data-room="${room}"]`);
}

// Sends a message and waits until the server has confirmed it.
export async function send(page, text) {
  const before = await messages(page);
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await until(`"${text}" to be sent`, async () => (await messages(page)).length === before.length + 1);
}

// The confirmed messages on the page, in order: {id, sender, text}.
export function messages(page) {
  return page.$$eval('#list .msg:not(.pending)', (els) => els.map((e) => ({
    id: Number(e.dataset.id),
    sender: e.dataset.sender,
    text: e.querySelector('.text') ? e.querySelector('.text').textContent : null,
  })));
}

// Opens a WebSocket of its own from the page, signs in with `token`, sends
// each request in `ops` (numbered from 1 with `req`), and returns every frame
// it got until all were answered, the socket closed, or `ms` passed.
export function rawSocket(page, token, ops, ms = 5000) {
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

export async function tokenFor(user, password) {
  const res = await fetch(`${base}/api/signin`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).token;
}

// The text of the first element matching `selector`, or null if there is
// none (at once: no waiting for it).
export function textOf(page, selector) {
  return page.$eval(selector, (e) => e.textContent).catch(() => null);
}

export function texts(list) {
  return list.map((m) => m.text);
}
