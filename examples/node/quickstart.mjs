// A two-user conversation through redis-chat, from Node.js (the `redis` client).
//
// Alice and Bob join a room. Bob's app listens on his push channel while he is
// online and gets Alice's first message live; then Bob goes offline, misses two
// messages, and on his return fetches and acknowledges them from his inbox.
//
//     cd examples/node && npm ci
//     REDIS_URL=redis://127.0.0.1:6379 node quickstart.mjs

import { createClient } from 'redis';

// No step should take long: give up rather than wait forever for a reply or a message.
setTimeout(() => {
  console.error('quickstart: no answer within 10 s');
  process.exit(1);
}, 10_000).unref();

const client = createClient({
  url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  socket: { reconnectStrategy: false }, // fail at once when no server runs
});
await client.connect();

// CHAT.* commands are not built into the client: send them as they are.
const chat = (...args) => client.sendCommand(args.map(String));

// Runs a create-style command; an earlier run may already have done it.
async function ensure(...args) {
  try {
    await chat(...args);
  } catch (e) {
    if (!e.message.includes('already exists')) throw e;
  }
}

function check(ok, what) {
  if (!ok) throw new Error(`unexpected: ${what}`);
}

// [readme:conversation]
await ensure('CHAT.REGISTER', 'alice', 'Alice');
await ensure('CHAT.REGISTER', 'bob', 'Bob');
await ensure('CHAT.CREATE', 'general', 'General chat');
await chat('CHAT.SUBSCRIBE', 'general', 'alice');
const channel = await chat('CHAT.SUBSCRIBE', 'general', 'bob'); // Bob's push channel

// Bob's app listens on his push channel, then tells the server he is online.
const bobApp = client.duplicate();
await bobApp.connect();
let deliver;
const delivered = new Promise((resolve) => (deliver = resolve));
await bobApp.subscribe(channel, deliver); // resolves once Redis confirms it
await chat('CHAT.ONLINE', 'bob', 'TTL', 60);

const first = await chat('CHAT.SEND', 'general', 'alice', 'Hi Bob!');
const live = JSON.parse(await delivered);
console.log(`bob got live: ${live.sender}: ${live.text} (id ${live.id})`);

// Bob closes the app and goes offline: the next messages wait in his inbox.
await bobApp.close();
await chat('CHAT.OFFLINE', 'bob');
await chat('CHAT.SEND', 'general', 'alice', 'Are you there?');
await chat('CHAT.SEND', 'general', 'alice', 'Call me when you are back.');

// Back again, Bob fetches what he missed, shows it and acknowledges it.
const missed = (await chat('CHAT.FETCH', 'bob')).map((doc) => JSON.parse(doc));
for (const m of missed) console.log(`bob missed: ${m.sender}: ${m.text} (id ${m.id})`);
const removed = await chat('CHAT.ACK', 'bob', missed.at(-1).delivery);
// [end]
check(live.id === first && live.text === 'Hi Bob!', 'the live message');
check(missed.slice(-2).map((m) => m.text).join(' | ') === 'Are you there? | Call me when you are back.', 'the missed messages');

const left = await chat('CHAT.FETCH', 'bob');
console.log(`bob acknowledged ${removed} message(s); inbox now holds ${left.length}`);
check(left.length === 0, 'an empty inbox after the ack');

// Anyone can page through the room's history.
const history = (await chat('CHAT.HISTORY', 'general', 'COUNT', 3)).map((doc) => JSON.parse(doc));
console.log(`history: ${history.map((m) => m.text).join(' | ')}`);

await client.close();
