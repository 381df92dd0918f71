/**
 * Time from the moment a service's error ratio crosses its threshold to the moment rollback
 * starts, with Slipway's default analysis settings (sample every 15 s, 2 failing samples in a
 * row, 1m rate window, 5% threshold), measured end to end on a real Temporal dev server and a
 * real Prometheus scraping a fixture service every 15 s. Prints numbers; asserts nothing.
 *
 *   npm run bench:rollback            (3 trials, a few minutes)
 *   BENCH_TRIALS=1 npm run bench:rollback
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { createPrometheusActivities } from '../activities/prometheus';
import { settingsFrom } from '../test/support/doubles';
import { ensurePrometheus, startPrometheus } from '../scripts/prometheus';
import { ensureTemporalCli, freePort, startDevServer } from '../scripts/temporal';
import { activityDoubles } from '../test/support/doubles';
import { FixtureService } from '../test/support/fixtureService';
import { buildWorker } from '../worker/build';
import { featureDelivery } from '../workflows/featureDelivery';
import { statusQuery } from '../workflows/messages';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 3);
const SCRAPE_INTERVAL = process.env.BENCH_SCRAPE_INTERVAL ?? '15s';

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
  const fixture = await new FixtureService().start();
  const tools = await ensurePrometheus();
  const prometheus = await startPrometheus(tools.prometheus, [{ job: 'messages', address: fixture.address }], { scrapeInterval: SCRAPE_INTERVAL });
  const server = await startDevServer({ binary: await ensureTemporalCli(), port: await freePort(), logFile: join(dir, 'temporal.log') });
  const connection = await Connection.connect({ address: server.address });
  const native = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection });

  // Defaults everywhere except what a benchmark must pin: one environment, one service.
  const settings = settingsFrom({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'm', kubernetes: { deployment: 'messages' } }],
    environments: [{ name: 'production', soak: {}, gate: { required: false } }],
    gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
    prometheus: { url: prometheus.url },
    llm: { model: 'claude-sonnet-5' },
  });
  let rollbackStarted: (at: number) => void = () => undefined;
  const { activities } = activityDoubles({
    ...createPrometheusActivities({ logger: pino({ level: 'silent' }) }),
    rollbackService: async () => rollbackStarted(performance.now()),
  });
  const worker = await buildWorker({ connection: native, namespace: 'default', taskQueue: 'bench-rollback', activities });

  const latencies: number[] = [];
  await worker.runUntil(async () => {
    for (let trial = 1; trial <= TRIALS; trial++) {
      fixture.errorRatio = 0;
      // Wait for a full healthy rate window before each trial.
      await new Promise((r) => setTimeout(r, 75_000));
      const handle = await client.workflow.start(featureDelivery, {
        taskQueue: 'bench-rollback',
        workflowId: `bench-rollback-${trial}-${Date.now()}`,
        args: [{ feature: 'Benchmark rollback latency', requester: 'bench', services: ['messages'], settings }],
      });
      for (;;) {
        const state = await handle.query(statusQuery);
        if (state.rollouts.some((r) => r.status === 'running')) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      // Break the service at a random point between two samples.
      await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 14_000));
      const rolledBack = new Promise<number>((resolve) => (rollbackStarted = resolve));
      fixture.errorRatio = 0.3;
      const breach = performance.now();
      const latency = (await rolledBack) - breach;
      latencies.push(latency);
      await handle.result().catch(() => undefined);
      console.log(`trial ${trial}: rollback started ${(latency / 1000).toFixed(1)} s after the error ratio crossed 5%`);
    }
  });

  const sorted = [...latencies].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[middle] ?? NaN) : ((sorted[middle - 1] ?? NaN) + (sorted[middle] ?? NaN)) / 2;
  console.log('');
  console.log('time from SLO breach to rollback start (error ratio 0% -> 30%, threshold 5%)');
  console.log(`  Slipway defaults (15 s samples, 2 in a row, 1m window), measured: median ${(median / 1000).toFixed(1)} s, min ${((sorted[0] ?? NaN) / 1000).toFixed(1)} s, max ${((sorted.at(-1) ?? NaN) / 1000).toFixed(1)} s over ${latencies.length} trials, Prometheus scraping every ${SCRAPE_INTERVAL}`);
  console.log('  Flagger default (60 s interval x threshold 1), not measured: 60-120 s of analysis intervals alone');
  console.log('  Argo Rollouts documented example (5 min interval, failureLimit 3), not measured: 15-20 min of intervals alone');

  await connection.close();
  await native.close();
  await server.stop();
  await prometheus.stop();
  await fixture.stop();
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
