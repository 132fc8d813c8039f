// A small dbapi client for Node.js over NATS (@nats-io/transport-node).
//
// A request is a NATS request on <prefix>.<operation> whose body is the
// operation's parameters as JSON. A reply without the
// Nats-Service-Error-Code header is the result; with it, the reply is an
// error: the header holds the status (400, 404, 409, 413, 500, 503, 504)
// and the body {"error":{"code","message","retryable"}} says what went
// wrong. `dbapi describe` prints the whole contract (AsyncAPI).
import { headers } from '@nats-io/transport-node';

const enc = new TextEncoder();
const dec = new TextDecoder();

// Header names of the contract.
export const HEADER_TIMEOUT = 'Dbapi-Timeout';
export const HEADER_IDEMPOTENCY_KEY = 'Idempotency-Key';
export const HEADER_REPLAYED = 'Dbapi-Replayed';
export const HEADER_STATUS = 'Nats-Service-Error-Code';
export const HEADER_MESSAGE = 'Nats-Service-Error';
export const HEADER_POSITION = 'Dbapi-Position';
export const HEADER_AFTER = 'Dbapi-After';

// DbapiError is an error reply.
export class DbapiError extends Error {
  constructor(status, body) {
    const e = body?.error ?? {};
    super(e.message ?? `status ${status}`);
    this.name = 'DbapiError';
    this.status = status; // 400, 404, 409, ...
    this.code = e.code; // such as "insufficient_funds"
    this.retryable = e.retryable === true; // safe to send again later
    this.step = e.step; // a batch's failed step, if any
    this.op = e.op;
  }
}

export class Client {
  // nc is a NATS connection; prefix the service's DBAPI_PREFIX.
  constructor(nc, { prefix = 'dbapi', timeoutMs = 5000 } = {}) {
    this.nc = nc;
    this.prefix = prefix;
    this.timeoutMs = timeoutMs;
  }

  // request sends one request and returns {result, raw, replayed,
  // position}, or throws a DbapiError for an error reply. Options:
  // idempotencyKey (send the same key again to retry safely), timeoutMs
  // (the deadline, sent as Dbapi-Timeout), after (a position an earlier
  // reply carried, sent as Dbapi-After: see Session). position is the
  // reply's Dbapi-Position, or undefined.
  async request(op, params = {}, { idempotencyKey, timeoutMs = this.timeoutMs, after } = {}) {
    const h = headers();
    h.set(HEADER_TIMEOUT, `${timeoutMs}ms`);
    if (idempotencyKey !== undefined) {
      h.set(HEADER_IDEMPOTENCY_KEY, idempotencyKey);
    }
    if (after) {
      h.set(HEADER_AFTER, after);
    }
    // Wait a little longer than the service's deadline, so its timeout
    // reply (504) arrives rather than a NATS timeout.
    const msg = await this.nc.request(`${this.prefix}.${op}`, enc.encode(JSON.stringify(params)), {
      headers: h,
      timeout: timeoutMs + 1000,
    });
    const raw = dec.decode(msg.data);
    const position = msg.headers?.get(HEADER_POSITION) || undefined;
    const status = msg.headers?.get(HEADER_STATUS);
    if (status) {
      let body;
      try {
        body = JSON.parse(raw);
      } catch {
        body = { error: { message: msg.headers.get(HEADER_MESSAGE) } };
      }
      throw new DbapiError(Number(status), body);
    }
    return { result: JSON.parse(raw), raw, replayed: msg.headers?.get(HEADER_REPLAYED) === 'true', position };
  }

  // call returns the result of op.
  async call(op, params = {}, options = {}) {
    return (await this.request(op, params, options)).result;
  }

  // batch runs steps [{op, params, as}] in one transaction and returns
  // their results. A string "$alias.field" in params is replaced by that
  // field of the result of the earlier step named alias.
  async batch(ops, options = {}) {
    return (await this.call('batch', { ops }, options)).results;
  }

  // session returns a Session of this client, starting at position (a
  // Session's earlier position, to continue it), or at none.
  session(position) {
    return new Session(this, position);
  }
}

// Session reads its own writes when the service reads from replicas: it
// remembers the last Dbapi-Position a reply carried (the position of a
// write it committed) and sends it as Dbapi-After with every later
// request, so a read runs on a replica only once that replica has the
// write, and on the primary otherwise.
//
// Use one for a user's flow whose reads must see that user's earlier
// writes across requests (save a profile, then show it). Other requests
// are better off without: a read with a position may wait on a replica
// for up to the service's DBAPI_REPLICA_WAIT, or run on the primary,
// which replicas are there to spare. Without replicas the service sends
// no positions and a session behaves as its client. Its requests are
// meant to follow one another: of replies that arrive out of order, the
// last to arrive wins.
export class Session {
  constructor(client, position) {
    this.client = client;
    this.position = position; // the last position received; undefined: none
  }

  // request is Client.request with the session's position sent as
  // Dbapi-After; a reply's Dbapi-Position becomes the session's.
  async request(op, params = {}, options = {}) {
    const r = await this.client.request(op, params, { ...options, after: this.position });
    if (r.position) {
      this.position = r.position;
    }
    return r;
  }

  async call(op, params = {}, options = {}) {
    return (await this.request(op, params, options)).result;
  }

  async batch(ops, options = {}) {
    return (await this.call('batch', { ops }, options)).results;
  }
}
