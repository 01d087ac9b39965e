// The browser test of a room whose ids are handed out again: the web
// chat's Redis takes the data of a replica that lacks the room's last two
// messages (as a failover to a replica that was behind would), and is
// promoted. Its next send to the room publishes a reset and hands out id
// 4 again, for another message: Sam's open page reads the room afresh and
// shows the new message 4, not the lost 4 and 5 it had shown. The replica
// is a second redis-server started here. webchat.test.mjs imports this
// file; alone:
//
//   node --test examples/webchat/e2e/epochs.test.mjs
//
// Redis Cluster refuses REPLICAOF, so with WEBCHAT_CLUSTER=1 it is skipped.
// The servers, the browser and the helpers are in harness.mjs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  cluster, browser, until, cli, cliLines, joinRoom, openPage, shot, recording, signIn, messages, texts,
} from './harness.mjs';

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

// redis-cli on the replica started here.
function on(port, ...args) {
  return execFileSync('redis-cli', ['-p', String(port), '--raw', ...args], { encoding: 'utf8' }).trim();
}

// INFO's lines end in \r\n.
const linkUp = (info) => [info].flat().join('\n').includes('master_link_status:up');

test('a room whose ids are handed out again is read afresh', { skip: cluster && 'REPLICAOF is refused in a cluster' }, () => recording(async () => {
  // The web chat's Redis (A), and the module it loaded, for the replica (B).
  const a = cliLines('CONFIG', 'GET', 'port')[1];
  const modules = cliLines('MODULE', 'LIST');
  const modulePath = modules[modules.indexOf('path') + 1];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webchat-replica-'));
  const b = await freePort();
  const replica = spawn('redis-server', [
    '--port', String(b), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
    '--repl-diskless-sync-delay', '0', '--loadmodule', modulePath, '--replicaof', '127.0.0.1', a,
  ], { stdio: 'ignore' });
  cli('CONFIG', 'SET', 'repl-diskless-sync-delay', '0');
  try {
    for (const [user, name] of [['rita', 'Rita'], ['sam', 'Sam']]) {
      cli('CHAT.REGISTER', user, name, 'PASSWORD', `${user}-secret`);
    }
    cli('CHAT.CREATE', 'dock', 'Dock');
    for (const user of ['rita', 'sam']) joinRoom('dock', user);
    await until('the replica in sync', () => linkUp(on(b, 'INFO', 'replication')));

    const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
    const s = await openPage(ctx, 'sam');
    await signIn(s, 'sam', 'sam-secret');
    await s.waitForSelector('body[data-synced="true"]');
    await s.click('#rooms button[data-room="dock"]');
    await until('dock opened', () => s.evaluate(() => S.current === 'dock' && S.rooms.get('dock').loaded));
    const old = await s.evaluate(() => S.rooms.get('dock').epoch);
    assert.equal(old, cliLines('CHAT.INFO', 'dock')[cliLines('CHAT.INFO', 'dock').indexOf('epoch') + 1]);

    // 1..3 reach the replica; then it stops following, and 4 and 5 reach
    // only the web chat's Redis, and Sam's page.
    for (const n of [1, 2, 3]) cli('CHAT.SEND', 'dock', 'rita', `kept ${n}`);
    assert.equal(cli('WAIT', '1', '5000'), '(integer) 1');
    on(b, 'REPLICAOF', 'NO', 'ONE');
    for (const n of [4, 5]) cli('CHAT.SEND', 'dock', 'rita', `lost ${n}`);
    await until('five messages on the page', async () => (await messages(s)).length === 5);
    await shot(s, '40-epochs-before');

    // The web chat's Redis takes the replica's data and is promoted: the
    // room's last id is 3 again, and its next send is id 4.
    cli('REPLICAOF', '127.0.0.1', String(b));
    await until('the data taken', () => linkUp(cliLines('INFO', 'replication')));
    cli('REPLICAOF', 'NO', 'ONE');
    assert.equal(cli('CHAT.SEND', 'dock', 'rita', 'new 4'), '(integer) 4');
    const info = cliLines('CHAT.INFO', 'dock');
    const epoch = info[info.indexOf('epoch') + 1];
    assert.notEqual(epoch, old);

    await until('the room read afresh', async () => {
      const shown = await messages(s);
      return JSON.stringify(texts(shown)) === JSON.stringify(['kept 1', 'kept 2', 'kept 3', 'new 4'])
        && JSON.stringify(shown.map((m) => m.id)) === JSON.stringify([1, 2, 3, 4]);
    });
    assert.equal(await s.evaluate(() => S.rooms.get('dock').epoch), epoch);
    cli('CHAT.SEND', 'dock', 'rita', 'new 5');
    await until('new 5', async () => texts(await messages(s)).at(-1) === 'new 5');
    assert.equal((await messages(s)).length, 5);
    await shot(s, '41-epochs-after');
    assert.deepEqual([...s.dialogs, ...s.errors], []);
    await ctx.close();
  } finally {
    replica.kill('SIGTERM');
    await new Promise((r) => (replica.exitCode === null ? replica.once('exit', r) : r()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}));
