import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { createLogger } from './log';
import { notifyRecipients } from './notifier';
import { OutboxRelay } from './outbox';
import { instrumentPool } from './poolMetrics';
import { loadService } from './protos';
import { PostgresMessageStore } from './store';
import { metricValue } from './testClient';

const databaseUrl = process.env.DATABASE_URL;
const MIGRATIONS = join(__dirname, '..', 'migrations');
const migrationFiles = (suffix: string) => readdirSync(MIGRATIONS).filter((f) => f.endsWith(suffix)).sort();

/** A stand-in notifications service: records Notify calls, failing the first `failFirst` with UNAVAILABLE. */
async function fakeNotifications(failFirst: number) {
  const calls: Record<string, string>[] = [];
  const server = new Server();
  server.addService(loadService('notifications.proto', 'sample.notifications.v1.Notifications'), {
    notify(call: ServerUnaryCall<Record<string, string>, unknown>, callback: sendUnaryData<unknown>) {
      if (failFirst-- > 0) return callback({ code: status.UNAVAILABLE, details: 'starting up' });
      calls.push(call.request);
      callback(null, { duplicate: false });
    },
    listNotifications(_call: unknown, callback: sendUnaryData<unknown>) {
      callback(null, { notifications: [] });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return { calls, address: `127.0.0.1:${port}`, stop: () => server.forceShutdown() };
}

describe('messages on PostgreSQL', { skip: databaseUrl ? false : 'DATABASE_URL is not set: the PostgreSQL tests are skipped' }, () => {
  // A schema of our own in the given database, dropped afterwards: the database itself may be shared.
  const schema = `messages_test_${randomBytes(4).toString('hex')}`;
  let admin: Pool;
  let pool: Pool;
  const log = createLogger('messages', 'error');

  before(async () => {
    admin = new Pool({ connectionString: databaseUrl, max: 1 });
    await admin.query(`CREATE SCHEMA ${schema}`);
    pool = new Pool({ connectionString: databaseUrl, max: 4, options: `-c search_path=${schema}` });
    for (const file of migrationFiles('.up.sql')) await pool.query(readFileSync(join(MIGRATIONS, file), 'utf8'));
  });
  after(async () => {
    await pool?.end();
    await admin?.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin?.end();
  });

  it('exports the pool\'s connections and times every query, through pool.query and a checked-out client', async () => {
    const registry = new Registry();
    const instrumented = new Pool({ connectionString: databaseUrl, max: 2 });
    instrumentPool(instrumented, registry);
    try {
      await instrumented.query('SELECT 1');
      const client = await instrumented.connect();
      await client.query('SELECT pg_sleep(0.02)');
      const text = await registry.metrics();
      assert.equal(metricValue(text, 'db_client_connection_count', { state: 'used' }), 1);
      client.release();
      const after = await registry.metrics();
      assert.equal(metricValue(after, 'db_client_connection_count', { state: 'idle' }), 1);
      assert.match(after, /^db_client_operation_duration_seconds_count 2$/m);
      assert.ok(Number(/^db_client_operation_duration_seconds_sum (\S+)$/m.exec(after)?.[1]) >= 0.02);
    } finally {
      await instrumented.end();
    }
  });

  it('stores a message with its outbox event and lists the inbox newest first', async () => {
    const store = new PostgresMessageStore(pool);
    const first = await store.send({ senderId: 'ada', recipientId: 'bob', body: 'hello' });
    await store.send({ senderId: 'cy', recipientId: 'bob', body: 'again' });
    await store.send({ senderId: 'bob', recipientId: 'ada', body: 'not for bob' });
    assert.deepEqual((await store.inbox('bob', 10)).map((m) => m.body), ['again', 'hello']);
    assert.equal((await store.inbox('bob', 1)).length, 1);
    const events = await pool.query('SELECT topic, payload FROM outbox_events ORDER BY id');
    assert.equal(events.rows.length, 3);
    assert.deepEqual(events.rows[0], { topic: 'message.sent', payload: { messageId: first.id, senderId: 'ada', recipientId: 'bob', preview: 'hello' } });
  });

  it('writes neither the message nor its event when the event cannot be written', async () => {
    const store = new PostgresMessageStore(pool);
    // The message insert succeeds; the outbox insert after it fails, so the transaction must undo both.
    await pool.query('ALTER TABLE outbox_events RENAME TO outbox_events_away');
    try {
      await assert.rejects(store.send({ senderId: 'ada', recipientId: 'bob', body: 'lost with its event' }), /outbox_events/);
    } finally {
      await pool.query('ALTER TABLE outbox_events_away RENAME TO outbox_events');
    }
    assert.equal((await store.inbox('bob', 100)).some((m) => m.body === 'lost with its event'), false);
  });

  it('relays events to notifications at least once, backing off while it is unavailable', async () => {
    const notifications = await fakeNotifications(1);
    const notifier = notifyRecipients(notifications.address);
    const relay = new OutboxRelay(pool, notifier.deliver, log);
    try {
      const firstRound = await relay.relayOnce();
      assert.equal(firstRound.claimed, 3);
      assert.equal(firstRound.delivered, 2, 'one event met the UNAVAILABLE answer');
      assert.equal(await relay.pending(), 1);
      // The failed event waits for its backoff (2 s after one attempt) rather than being retried at once.
      assert.equal((await relay.relayOnce()).claimed, 0);
      await pool.query('UPDATE outbox_events SET next_attempt_at = now() WHERE delivered_at IS NULL');
      assert.deepEqual(await relay.relayOnce(), { claimed: 1, delivered: 1 });
      assert.equal(await relay.pending(), 0);
      const bob = notifications.calls.filter((c) => c.userId === 'bob');
      assert.equal(bob.length, 2);
      assert.equal(bob[0]?.kind, 'message.received');
      assert.match(bob[0]?.idempotencyKey ?? '', /^message\.sent:[0-9a-f-]{36}$/);
      assert.match(bob[0]?.title ?? '', /^New message from (ada|cy)$/);
    } finally {
      await relay.stop();
      notifier.close();
      notifications.stop();
    }
  });

  it('reverts cleanly with the down migrations', async () => {
    for (const file of migrationFiles('.down.sql').reverse()) await pool.query(readFileSync(join(MIGRATIONS, file), 'utf8'));
    const left = await pool.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    assert.deepEqual(left.rows, []);
  });
});
