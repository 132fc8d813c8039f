// Runs the example against a running bank service and checks every reply.
// NATS_URL and DBAPI_PREFIX name the service (the Go test in package
// service starts one and runs `node --test` here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, headers } from '@nats-io/transport-node';
import { Client, DbapiError } from './dbapi.mjs';
import { example } from './example.mjs';

const prefix = process.env.DBAPI_PREFIX;
let nc, db;

before(async () => {
  assert.ok(process.env.NATS_URL && prefix, 'set NATS_URL and DBAPI_PREFIX');
  nc = await connect({ servers: process.env.NATS_URL });
  db = new Client(nc, { prefix, timeoutMs: 20000 });
});
after(() => nc?.close());

const balance = async (id) => (await db.call('accounts.get', { id })).balance;

test('the example: open, transfer, a failure, an idempotent retry, a batch', async () => {
  const r = await example(db, () => {});
  assert.equal(r.ann.owner, 'ann');
  assert.equal(r.ann.balance, '100.00');
  assert.equal(r.bob.balance, '0.00');
  assert.deepEqual(
    { from: r.transfer.from_balance, to: r.transfer.to_balance },
    { from: '70.00', to: '30.00' },
  );

  assert.ok(r.failure instanceof DbapiError);
  assert.equal(r.failure.status, 409);
  assert.equal(r.failure.code, 'insufficient_funds');
  assert.equal(r.failure.retryable, false);

  assert.equal(r.first.raw, r.again.raw, 'the retry gets the same reply');
  assert.equal(r.first.replayed, false);
  assert.equal(r.again.replayed, true);

  assert.equal(r.batch.length, 2);
  assert.equal(r.batch[0].owner, 'carol');
  assert.equal(r.batch[1].to_balance, '10.00');

  // One effect each: 100 - 30 - 5 (once) - 10.
  assert.equal(await balance(r.ann.id), '55.00');
  assert.equal(await balance(r.bob.id), '35.00');
  assert.equal(await balance(r.batch[0].id), '10.00');
});

test('an error reply read through its headers and body', async () => {
  const a = await db.call('accounts.open', { owner: 'dan', balance: '1.00' });
  const h = headers();
  h.set('Dbapi-Timeout', '10s');
  const msg = await nc.request(
    `${prefix}.accounts.transfer`,
    new TextEncoder().encode(JSON.stringify({ from: a.id, to: 999999999, amount: '1.00' })),
    { headers: h, timeout: 15000 },
  );
  assert.equal(msg.headers.get('Nats-Service-Error-Code'), '404');
  assert.match(msg.headers.get('Nats-Service-Error'), /does not exist/);
  const body = JSON.parse(new TextDecoder().decode(msg.data));
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'retryable']);
  assert.equal(body.error.code, 'not_found');
  assert.equal(body.error.retryable, false);
  assert.equal(body.error.message, msg.headers.get('Nats-Service-Error'));
});

test('a bad parameter is a 400 naming it', async () => {
  await assert.rejects(db.call('accounts.transfer', { from: 1, to: 2, amount: 5 }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.code, 'bad_param');
    assert.match(err.message, /amount/);
    return true;
  });
});

test('the same key with another body is refused, and runs nothing', async () => {
  const a = await db.call('accounts.open', { owner: 'eve', balance: '10.00' });
  const b = await db.call('accounts.open', { owner: 'fay' });
  const key = randomUUID();
  await db.call('accounts.transfer', { from: a.id, to: b.id, amount: '1.00' }, { idempotencyKey: key });
  await assert.rejects(
    db.call('accounts.transfer', { from: a.id, to: b.id, amount: '2.00' }, { idempotencyKey: key }),
    (err) => err.status === 409 && err.code === 'idempotency_key_reused',
  );
  assert.equal(await balance(a.id), '9.00');
});

test('a failing batch names its step and commits nothing', async () => {
  const a = await db.call('accounts.open', { owner: 'gus', balance: '5.00' });
  await assert.rejects(
    db.batch([
      { op: 'accounts.open', params: { owner: 'hal' }, as: 'hal' },
      { op: 'accounts.transfer', params: { from: a.id, to: '$hal.id', amount: '50.00' } },
    ]),
    (err) => {
      assert.equal(err.status, 409);
      assert.equal(err.code, 'insufficient_funds');
      assert.equal(err.step, 1);
      assert.equal(err.op, 'accounts.transfer');
      return true;
    },
  );
  const list = await db.call('accounts.list', { after: a.id });
  assert.equal(list.filter((x) => x.owner === 'hal').length, 0, 'the batch rolled back');
});
