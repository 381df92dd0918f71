import type { Pool } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from './log';

export interface OutboxEvent {
  id: string;
  topic: string;
  payload: unknown;
  /** Delivery attempts including this one. */
  attempts: number;
}

/** Hands one event to its consumer; rejects when the consumer did not take it. */
export type Deliver = (event: OutboxEvent) => Promise<void>;

export interface RelayOptions {
  intervalMs: number;
  batchSize: number;
  /** A claimed event another relay may take over after this long (this one crashed mid-delivery). */
  leaseSeconds: number;
  /** Delivered events are deleted after this long, so the table stays small under steady traffic. */
  retentionMinutes: number;
}

const DEFAULTS: RelayOptions = { intervalMs: 500, batchSize: 50, leaseSeconds: 30, retentionMinutes: 60 };

/**
 * Delivers outbox events written by SendMessage, at least once: every replica runs one, rows are
 * claimed with SKIP LOCKED and a lease, failures back off exponentially (up to a minute), and the
 * consumer dedupes by idempotency key.
 */
export class OutboxRelay {
  private readonly options: RelayOptions;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = true;
  private lastPrune = 0;
  private lastErrorLog = 0;
  private readonly deliveries?: Counter<'topic' | 'result'>;

  constructor(
    private readonly pool: Pool,
    private readonly deliver: Deliver,
    private readonly log: Logger,
    options: Partial<RelayOptions> = {},
    registry?: Registry,
  ) {
    this.options = { ...DEFAULTS, ...options };
    if (registry) {
      this.deliveries = new Counter({ name: 'outbox_deliveries_total', help: 'Outbox events handed to their consumer, by result.', labelNames: ['topic', 'result'], registers: [registry] });
      const pending = () => this.pending();
      const depth: Gauge = new Gauge({
        name: 'outbox_queue_depth',
        help: 'Outbox events not yet delivered.',
        registers: [registry],
        async collect() {
          // A scrape during a database outage keeps the last value rather than failing the whole scrape.
          await pending().then((n) => depth.set(n), () => undefined);
        },
      });
    }
  }

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Waits for the batch in flight, then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One batch: claim due events, deliver them, record each outcome. Returns how many were claimed. */
  async relayOnce(): Promise<{ claimed: number; delivered: number }> {
    const { rows } = await this.pool.query<{ id: string; topic: string; payload: unknown; attempts: number }>(
      `UPDATE outbox_events SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
       WHERE id IN (SELECT id FROM outbox_events WHERE delivered_at IS NULL AND next_attempt_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING id, topic, payload, attempts`,
      [this.options.batchSize, this.options.leaseSeconds],
    );
    const outcomes = await Promise.allSettled(rows.map((event) => this.deliver(event)));
    const delivered = rows.filter((_, i) => outcomes[i]?.status === 'fulfilled').map((e) => e.id);
    const failed = rows.filter((_, i) => outcomes[i]?.status === 'rejected').map((e) => e.id);
    if (delivered.length > 0) await this.pool.query('UPDATE outbox_events SET delivered_at = now() WHERE id = ANY($1::bigint[])', [delivered]);
    if (failed.length > 0) {
      await this.pool.query('UPDATE outbox_events SET next_attempt_at = now() + make_interval(secs => LEAST(60, power(2, attempts))) WHERE id = ANY($1::bigint[])', [failed]);
      const first = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
      this.logThrottled(`${failed.length} outbox event(s) not delivered; retrying with backoff`, first.reason);
    }
    for (const [i, event] of rows.entries()) this.deliveries?.inc({ topic: event.topic, result: outcomes[i]?.status === 'fulfilled' ? 'delivered' : 'failed' });
    if (Date.now() - this.lastPrune > 60_000) {
      this.lastPrune = Date.now();
      await this.pool.query('DELETE FROM outbox_events WHERE delivered_at < now() - make_interval(mins => $1)', [this.options.retentionMinutes]);
    }
    return { claimed: rows.length, delivered: delivered.length };
  }

  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_events WHERE delivered_at IS NULL');
    return Number(rows[0]?.n ?? 0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.relayOnce().then(
        // A full batch means more are waiting: go again at once.
        ({ claimed }) => this.schedule(claimed === this.options.batchSize ? 0 : this.options.intervalMs),
        (err: unknown) => {
          this.logThrottled('outbox relay failed; trying again', err);
          this.schedule(this.options.intervalMs);
        },
      );
    }, delayMs);
  }

  private logThrottled(msg: string, err: unknown): void {
    if (Date.now() - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = Date.now();
    this.log.warn(msg, { error: err instanceof Error ? err.message : String(err) });
  }
}
