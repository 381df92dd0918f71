/**
 * max_payload_kb: the largest single payload (workflow input or result, activity input or result,
 * child input or result, signal, update, memo) anywhere in a 5-service run with 15-minute
 * production soaks and a 24-hour post-deploy watch, plus the status query's answer at the end.
 *
 * A soak's or watch's payloads grow with its number of samples, not with wall time, so the run
 * takes exactly as many samples as the real one (15m / 15s = 60 per soak, 24h / 5m = 288 per
 * watch) at a 10 ms interval. Samples come from the real analyzeSlo activity against a stand-in
 * Prometheus that answers every query with a number (so every check carries a value); each service
 * has three gRPC methods of its own checks. Agent doubles return summaries of the longest length
 * the state keeps, so the figure is the worst case, not a demo's.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { createPrometheusActivities } from '../../activities/prometheus';
import { activityDoubles, settingsFrom } from '../../test/support/doubles';
import { buildWorker } from '../../worker/build';
import { featureDelivery } from '../../workflows/featureDelivery';
import { statusQuery } from '../../workflows/messages';
import { emptyUsage, LIMITS } from '../../workflows/state';
import { figure, type Figure } from '../figure';
import { devServer, workflowBundle } from '../stack';

const SERVICES = ['messages', 'notifications', 'presence', 'profiles', 'search'];
const INTERVAL_MS = 10;
const SOAK_SAMPLES = (15 * 60) / 15;
const WATCH_SAMPLES = (24 * 60) / 5;

/** Answers every instant query with a value, as a busy Prometheus would. */
async function numberingPrometheus(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const query = new URLSearchParams(`${new URL(req.url ?? '/', 'http://x').search.slice(1)}&${body}`).get('query') ?? '';
      // A healthy service: plenty of requests, few errors, fast; so every sample passes and the soak runs its full length.
      const value = query.includes('histogram_quantile') ? 0.2 + Math.random() * 0.01 : query.includes('/') ? 0.01 + Math.random() * 0.001 : 1000 + Math.random();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, String(value)] }] } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(() => r())) };
}

/** Sizes of every Payload message in a decoded history event (data plus metadata). */
function payloadSizes(value: unknown, found: number[] = []): number[] {
  if (value === null || typeof value !== 'object') return found;
  const record = value as Record<string, unknown>;
  if (record.data instanceof Uint8Array && record.metadata !== undefined && typeof record.metadata === 'object') {
    const metadata = Object.entries(record.metadata as Record<string, Uint8Array>).reduce((n, [k, v]) => n + k.length + (v?.length ?? 0), 0);
    found.push(record.data.length + metadata);
    return found;
  }
  for (const child of Object.values(record)) payloadSizes(child, found);
  return found;
}

export async function maxPayload(dir: string, log: (line: string) => void): Promise<Figure> {
  const temporal = await devServer(dir, 'payload');
  const native = await NativeConnection.connect({ address: temporal.server.address });
  const prometheus = await numberingPrometheus();
  try {
    const taskQueue = 'bench-payload';
    const long = (what: string) => `${what}: ${'x'.repeat(LIMITS.gateSummary)}`.slice(0, LIMITS.gateSummary);
    const { activities } = activityDoubles({
      ...createPrometheusActivities({ logger: pino({ level: 'silent' }) }),
      writeSpec: async (input) => ({ specPath: `${input.workspace.specDir}/spec.md`, checklistPath: `${input.workspace.specDir}/checklists/requirements.md`, summary: long('spec'), clarifications: [], usage: emptyUsage() }),
      writePlan: async (input) => ({ planPath: 'plan.md', dataModelPath: 'data-model.md', services: input.services, integrations: Object.fromEntries(input.services.map((s) => [s, ['grpc', 'schema', 'events']])), summary: long('plan'), usage: emptyUsage() }),
      implementService: async (input) => ({ summary: long(`implemented ${input.service.name}`), usage: emptyUsage() }),
    });
    const worker = await buildWorker({ connection: native, namespace: 'default', taskQueue, activities, workflowBundle: await workflowBundle(dir) });
    const settings = settingsFrom({
      repository: { path: '/tmp/repo' },
      services: SERVICES.map((name) => ({
        name,
        path: `services/${name}`,
        database: { urlEnv: `${name.toUpperCase()}_DATABASE_URL` },
        kubernetes: { deployment: name },
        slo: { methods: ['Send', 'List', 'Subscribe'].map((m) => `${name}.v1.${name[0]?.toUpperCase()}${name.slice(1)}Service/${m}`) },
      })),
      environments: ['dev', 'staging', 'production'].map((name) => ({
        name,
        namespace: name,
        gate: { required: false },
        ...(name === 'production' ? { soak: { duration: `${SOAK_SAMPLES * INTERVAL_MS}ms`, interval: `${INTERVAL_MS}ms` } } : {}),
      })),
      gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
      analysis: { watch: { duration: `${WATCH_SAMPLES * INTERVAL_MS}ms`, interval: `${INTERVAL_MS}ms` } },
      prometheus: { url: prometheus.url },
      llm: { model: 'claude-sonnet-5' },
    });
    const workflowId = `bench-payload-${Date.now()}`;
    let statusBytes = 0;
    await worker.runUntil(async () => {
      const handle = await temporal.client.workflow.start(featureDelivery, { taskQueue, workflowId, args: [{ feature: 'Benchmark the largest payload of a long run', requester: 'bench', services: SERVICES, settings }] });
      await handle.result();
      statusBytes = Buffer.byteLength(JSON.stringify(await handle.query(statusQuery)));
    });
    let largest = { bytes: statusBytes, where: 'the status query answer' };
    let executions = 0;
    let samples = 0;
    for await (const execution of temporal.client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      executions += 1;
      const history = await temporal.client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
      for (const event of history.events ?? []) {
        if (event.activityTaskScheduledEventAttributes?.activityType?.name === 'analyzeSlo') samples += 1;
        const biggest = Math.max(0, ...payloadSizes(event));
        if (biggest > largest.bytes) {
          const kind = Object.keys(event).find((k) => k.endsWith('Attributes') && (event as Record<string, unknown>)[k]) ?? 'event';
          largest = { bytes: biggest, where: `${kind.replace(/EventAttributes$/, '')} in ${execution.workflowId}` };
        }
      }
    }
    log(`payload: ${executions} executions, ${samples} samples; largest ${(largest.bytes / 1024).toFixed(1)} kB (${largest.where})`);
    return figure('max_payload_kb', largest.bytes / 1024, 'kB', '<=', 256, `largest of every payload in ${executions} executions (${samples} samples: 5 x ${SOAK_SAMPLES} soak + 5 x ${WATCH_SAMPLES} watch expected) and the status answer (${(statusBytes / 1024).toFixed(1)} kB): ${largest.where}`);
  } finally {
    await native.close();
    await temporal.close();
    await prometheus.close();
  }
}
