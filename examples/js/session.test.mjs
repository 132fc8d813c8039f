// Checks the client's session against a stand-in service on a real NATS
// server (NATS_URL; the Go test in package client starts one and runs
// `node --test` here): the stand-in records the Dbapi-After each request
// carried and answers with the Dbapi-Position it is given.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, headers } from '@nats-io/transport-node';
import { Client, HEADER_AFTER, HEADER_POSITION } from './dbapi.mjs';

const prefix = 'session-test';
let nc, sub;
const seen = []; // the Dbapi-After of each request, or null
const replies = []; // the positions to answer with, in turn (null: none)

before(async () => {
  assert.ok(process.env.NATS_URL, 'set NATS_URL');
  nc = await connect({ servers: process.env.NATS_URL });
  sub = nc.subscribe(`${prefix}.>`, {
    callback: (err, m) => {
      assert.ifError(err);
      seen.push(m.headers?.get(HEADER_AFTER) || null);
      const h = headers();
      const position = replies.shift();
      if (position) {
        h.set(HEADER_POSITION, position);
      }
      const body = m.subject.endsWith('.batch') ? { results: [{ ok: true }] } : { ok: true };
      m.respond(new TextEncoder().encode(JSON.stringify(body)), { headers: h });
    },
  });
  await nc.flush();
});
after(async () => {
  sub?.unsubscribe();
  await nc?.close();
});

test('a session sends back the last position it received', async () => {
  const db = new Client(nc, { prefix });
  const s = db.session();
  seen.length = 0;
  replies.push('tok1', null, 'tok2', 'tok3', null);
  assert.equal(s.position, undefined);

  const r = await s.request('accounts.open', { owner: 'ann' });
  assert.equal(r.position, 'tok1');
  assert.equal(s.position, 'tok1');
  await s.call('accounts.get', { id: 1 }); // a read: no position back
  assert.equal(s.position, 'tok1', 'a reply without a position keeps the last one');
  await s.call('accounts.transfer', { from: 1, to: 2, amount: '1.00' });
  assert.equal(s.position, 'tok2');
  assert.deepEqual(await s.batch([{ op: 'accounts.get', params: { id: 1 } }]), [{ ok: true }]);
  assert.equal(s.position, 'tok3');

  // The plain client sends no position and its replies leave the
  // session's alone.
  assert.equal((await db.request('accounts.get', { id: 1 })).position, undefined);
  assert.equal(s.position, 'tok3');

  assert.deepEqual(seen, [null, 'tok1', 'tok1', 'tok2', null]);
});

test('a session continues from a stored position', async () => {
  const db = new Client(nc, { prefix });
  seen.length = 0;
  replies.push(null);
  const s = db.session('tok7');
  await s.call('accounts.get', { id: 1 });
  assert.deepEqual(seen, ['tok7']);
  assert.equal(s.position, 'tok7');
});
