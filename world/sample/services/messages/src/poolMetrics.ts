import type { Pool, PoolClient } from 'pg';
import { Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The database pool's load, named after OpenTelemetry's database client metrics, so a watch can
 * compare a release's connections and query time with the one before it:
 * `db_client_connection_count{state="used"|"idle"}`, `db_client_connection_pending_requests` and
 * the histogram `db_client_operation_duration_seconds` (every query, pool.query or a client's).
 */
export function instrumentPool(pool: Pool, registry: Registry): void {
  const connections = new Gauge({
    name: 'db_client_connection_count',
    help: 'Open connections of the database pool, by state.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      connections.set({ state: 'used' }, pool.totalCount - pool.idleCount);
      connections.set({ state: 'idle' }, pool.idleCount);
    },
  });
  const pending = new Gauge({
    name: 'db_client_connection_pending_requests',
    help: 'Queries waiting for a connection of the pool.',
    registers: [registry],
    collect() {
      pending.set(pool.waitingCount);
    },
  });
  const duration = new Histogram({
    name: 'db_client_operation_duration_seconds',
    help: 'Duration of database queries, from sending to the last row.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  // pool.query runs on a pooled client too, so timing each client's query times every query once.
  pool.on('connect', (client: PoolClient) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const end = duration.startTimer();
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        args[args.length - 1] = (...result: unknown[]) => {
          end();
          return (callback as (...r: unknown[]) => unknown)(...result);
        };
        return query(...args);
      }
      const result = query(...args);
      if (result instanceof Promise) result.then(() => end(), () => end());
      else end();
      return result;
    };
  });
}
