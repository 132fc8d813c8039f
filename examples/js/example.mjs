// The bank example from Node.js: open two accounts, transfer, fail a
// transfer, retry one safely with an idempotency key, and run a batch.
//
//   NATS_URL=nats://127.0.0.1:4222 DBAPI_PREFIX=dbapi node example.mjs
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { Client, DbapiError } from './dbapi.mjs';

export async function example(db, log = console.log) {
  const ann = await db.call('accounts.open', { owner: 'ann', balance: '100.00' });
  const bob = await db.call('accounts.open', { owner: 'bob' });
  log('opened', ann, bob);

  const t = await db.call('accounts.transfer', { from: ann.id, to: bob.id, amount: '30.00' });
  log('transfer', t);

  let failure;
  try {
    await db.call('accounts.transfer', { from: bob.id, to: ann.id, amount: '1000.00' });
  } catch (err) {
    if (!(err instanceof DbapiError)) throw err;
    failure = err;
    log('failed', err.status, err.code, err.retryable, err.message); // 409 insufficient_funds false ...
  }

  // Same key, same body: the second request runs nothing and gets the
  // first reply again (with Dbapi-Replayed: true).
  const key = randomUUID();
  const first = await db.request('accounts.transfer', { from: ann.id, to: bob.id, amount: '5.00' }, { idempotencyKey: key });
  const again = await db.request('accounts.transfer', { from: ann.id, to: bob.id, amount: '5.00' }, { idempotencyKey: key });
  log('idempotent', first.raw, again.raw, 'replayed:', again.replayed);

  // One transaction: open carol, then pay her from ann using her new id.
  const results = await db.batch([
    { op: 'accounts.open', params: { owner: 'carol' }, as: 'carol' },
    { op: 'accounts.transfer', params: { from: ann.id, to: '$carol.id', amount: '10.00' } },
  ]);
  log('batch', results);

  return { ann, bob, transfer: t, failure, first, again, batch: results };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const nc = await connect({ servers: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' });
  try {
    await example(new Client(nc, { prefix: process.env.DBAPI_PREFIX ?? 'dbapi' }));
  } finally {
    await nc.close();
  }
}
