/**
 * instant_run_3_services_s / instant_run_events: a whole run of three services through dev, staging
 * and production with every activity answering at once (doubles) and no gate, on a real dev server
 * and the real workflow code: what Slipway itself adds to a run's wall time, and how many history
 * events the run's own workflow writes (children keep theirs; the table shows their total too).
 */
import { NativeConnection } from '@temporalio/worker';
import { activityDoubles, settingsFrom } from '../../test/support/doubles';
import { buildWorker } from '../../worker/build';
import { featureDelivery } from '../../workflows/featureDelivery';
import { figure, percentile, spread, type Figure } from '../figure';
import { timed } from '../load';
import { devServer, workflowBundle } from '../stack';

const SERVICES = ['messages', 'notifications', 'presence'];

export async function instantRun(dir: string, sizes: { runs: number }, log: (line: string) => void): Promise<Figure[]> {
  const temporal = await devServer(dir, 'instant');
  const native = await NativeConnection.connect({ address: temporal.server.address });
  try {
    const taskQueue = 'bench-instant';
    const worker = await buildWorker({ connection: native, namespace: 'default', taskQueue, activities: activityDoubles().activities, workflowBundle: await workflowBundle(dir) });
    const settings = settingsFrom({
      repository: { path: '/tmp/repo' },
      services: SERVICES.map((name) => ({ name, path: `services/${name}`, database: { urlEnv: `${name.toUpperCase()}_DATABASE_URL` }, kubernetes: { deployment: name } })),
      environments: ['dev', 'staging', 'production'].map((name) => ({ name, namespace: name, gate: { required: false }, ...(name === 'production' ? { soak: { duration: '20ms', interval: '10ms' } } : {}) })),
      gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
      prometheus: { url: 'http://127.0.0.1:9' },
      llm: { model: 'claude-sonnet-5' },
    });
    const seconds: number[] = [];
    const events: number[] = [];
    const childEvents: number[] = [];
    await worker.runUntil(async () => {
      // One warm-up run: the first loads the workflow bundle into the worker.
      for (let i = 0; i <= sizes.runs; i++) {
        const workflowId = `bench-instant-${Date.now()}-${i}`;
        const run = await timed(() => temporal.client.workflow.execute(featureDelivery, { taskQueue, workflowId, args: [{ feature: 'Benchmark an instant run', requester: 'bench', services: SERVICES, settings }] }));
        if (i === 0) continue;
        seconds.push(run.ms / 1000);
        events.push((await temporal.client.workflow.getHandle(workflowId).fetchHistory()).events?.length ?? 0);
        let children = 0;
        for await (const child of temporal.client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND WorkflowId STARTS_WITH '${workflowId}'` })) {
          if (child.workflowId !== workflowId) children += child.historyLength;
        }
        childEvents.push(children);
        log(`instant: run ${i}/${sizes.runs} took ${(run.ms / 1000).toFixed(2)} s`);
      }
    });
    return [
      figure('instant_run_3_services_s', percentile(seconds, 50), 's', '<=', 3, `median of ${seconds.length} runs (after a warm-up), 3 services x dev/staging/production, instant activities, no gates; ${spread(seconds, 's')}`),
      figure('instant_run_events', Math.max(...events), 'events', '<=', 2000, `the run's own history (largest of ${events.length}); its children wrote ${Math.max(...childEvents)} more in their own histories`),
    ];
  } finally {
    await native.close();
    await temporal.close();
  }
}
