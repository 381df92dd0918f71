/**
 * How fast a run moves after a person decides: the time from sending an approval
 * (the `decide` Update, as the API and Slack do) to the workflow's next activity
 * starting, on a real Temporal dev server. Also: a whole auto-approved run.
 * Prints numbers; asserts nothing.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ensureTemporalCli, freePort, startDevServer } from '../scripts/temporal';
import { activityDoubles, testSettings } from '../test/support/doubles';
import { buildWorker } from '../worker/build';
import { featureDelivery } from '../workflows/featureDelivery';
import { decideUpdate, statusQuery } from '../workflows/messages';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-bench-'));
  const server = await startDevServer({ binary: await ensureTemporalCli(), port: await freePort(), logFile: join(dir, 'temporal.log') });
  const connection = await Connection.connect({ address: server.address });
  const native = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection });

  let planStarted: (at: number) => void = () => undefined;
  const { activities } = activityDoubles({
    writePlan: async (input) => {
      planStarted(performance.now());
      return { planPath: 'plan.md', dataModelPath: 'data-model.md', services: input.services.length ? input.services : ['messages'], integrations: {}, summary: '', usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 } };
    },
  });
  const worker = await buildWorker({ connection: native, namespace: 'default', taskQueue: 'bench', activities });

  const gateLatencies: number[] = [];
  const runDurations: number[] = [];
  await worker.runUntil(async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const handle = await client.workflow.start(featureDelivery, {
        taskQueue: 'bench',
        workflowId: `bench-gate-${i}-${Date.now()}`,
        args: [{ feature: 'Benchmark gate latency', requester: 'alice', services: ['messages'], settings: testSettings({ gates: { spec: true }, soakMs: 1, intervalMs: 1 }) }],
      });
      for (;;) {
        const state = await handle.query(statusQuery);
        if (state.gates.spec?.status === 'pending') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const next = new Promise<number>((resolve) => (planStarted = resolve));
      const sent = performance.now();
      await handle.executeUpdate(decideUpdate, { args: [{ gate: 'spec', decision: 'approve', approver: 'lead' }] });
      gateLatencies.push((await next) - sent);
      await handle.result();
    }
    for (let i = 0; i < Math.max(3, Math.floor(ROUNDS / 4)); i++) {
      const started = performance.now();
      await client.workflow.execute(featureDelivery, {
        taskQueue: 'bench',
        workflowId: `bench-run-${i}-${Date.now()}`,
        args: [{ feature: 'Benchmark a whole run', requester: 'alice', services: [], settings: testSettings({ soakMs: 1, intervalMs: 1 }) }],
      });
      runDurations.push(performance.now() - started);
    }
  });

  const report = (name: string, values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    console.log(`${name.padEnd(58)} n=${String(values.length).padStart(3)}  p50=${percentile(sorted, 50).toFixed(1)} ms  p95=${percentile(sorted, 95).toFixed(1)} ms  max=${(sorted.at(-1) ?? NaN).toFixed(1)} ms`);
  };
  report('approval sent -> next activity started (target < 1000 ms)', gateLatencies);
  report('whole auto-approved run, 2 services x 3 environments', runDurations);

  await connection.close();
  await native.close();
  await server.stop();
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
