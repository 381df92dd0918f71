import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { startMessagesServer } from './app';
import { listenConfig } from './config';
import { createLogger } from './log';
import { notificationsAddress, notifyRecipients } from './notifier';
import { OutboxRelay } from './outbox';
import { instrumentPool } from './poolMetrics';
import { exitOnSignals } from './serve';
import { PostgresMessageStore } from './store';

const log = createLogger('messages');

async function main(): Promise<void> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) throw new Error('DATABASE_URL is not set: messages needs its PostgreSQL database (postgres://user@host:5432/messages)');
  const pool = new Pool({ connectionString: databaseUrl, max: 10, connectionTimeoutMillis: 2_000, query_timeout: 5_000, idleTimeoutMillis: 30_000 });
  // An idle connection dropped by the server must not crash the process; the next query reconnects.
  pool.on('error', (err) => log.warn('idle database connection failed', { error: err.message }));
  const registry = new Registry();
  instrumentPool(pool, registry);
  const running = await startMessagesServer({ listen: listenConfig(), log, store: new PostgresMessageStore(pool), registry });

  const address = notificationsAddress();
  const notifier = address ? notifyRecipients(address) : undefined;
  const deliver = notifier?.deliver ?? (() => Promise.reject(new Error('no notifications address')));
  // Built either way: its outbox_queue_depth gauge shows a backlog even when nothing relays it.
  const relay = new OutboxRelay(pool, deliver, log, {}, registry);
  if (notifier) relay.start();
  else log.warn('NOTIFICATIONS_ADDR is not set: message.sent events stay in the outbox until a relay with an address runs');

  log.info('serving', { grpcPort: running.grpcPort, httpPort: running.httpPort, notifications: address ?? null });
  exitOnSignals(async () => {
    await running.stop();
    await relay.stop();
    notifier?.close();
    await pool.end();
  }, log);
}

main().catch((err: Error) => {
  log.error('failed to start', { error: err.message });
  process.exit(1);
});
