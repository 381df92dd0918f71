/**
 * The longest run stays inside Temporal's limits: five services, a 15-minute production soak
 * sampled every 15 s (61 samples each) and a 24-hour watch every 5 minutes (289 samples each),
 * with samples as large as real ones. Timers are scaled down (the sample counts and payloads are
 * what matter); every payload must stay under 256 KB and every history under 10,000 events.
 */
import { temporal } from '@temporalio/proto';
import { evidenceQuery, segmentId } from '../../workflows/analysis';
import { featureDelivery } from '../../workflows/featureDelivery';
import { statusQuery } from '../../workflows/messages';
import { LIMITS, type SoakSample } from '../../workflows/state';
import { activityDoubles, settingsFrom } from '../support/doubles';
import { connectTestTemporal, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

const SERVICES = ['messages', 'notifications', 'presence', 'search', 'billing'];
const SOAK_SAMPLES = 61;
const WATCH_SAMPLES = 289;
const INTERVAL_MS = 10;
const MAX_PAYLOAD = 256 * 1024;
const MAX_EVENTS = 10_000;

let env: TestTemporal;
beforeAll(async () => {
  env = await connectTestTemporal();
});
afterAll(() => env.close());

/** A sample as big as the real analysis makes: the service and two new methods, each with its queries as evidence. */
function realisticSample(service: string, environment: string, sample: number): SoakSample {
  const selector = `service="${service}",namespace="${environment}"`;
  const checks = ['', 'SendMessage', 'ListMessages'].flatMap((method) => {
    const scoped = method ? `${selector},grpc_method="${method}"` : selector;
    return [
      {
        name: `${method ? `${method}/` : ''}error-ratio`,
        query: `(sum(rate(grpc_server_handled_total{${scoped},grpc_code!="OK"}[1m])) or vector(0)) / sum(rate(grpc_server_handled_total{${scoped}}[1m]))`,
        value: 0.0012,
        threshold: 0.05,
        failWhen: 'above' as const,
        status: 'pass' as const,
        noData: 'inconclusive' as const,
        detail: `${method ? `${method}/` : ''}error-ratio 0.00120 <= 0.0500`,
      },
      {
        name: `${method ? `${method}/` : ''}p99-latency`,
        query: `histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{${scoped}}[1m])))`,
        value: 0.087,
        threshold: 1,
        failWhen: 'above' as const,
        status: 'pass' as const,
        noData: 'inconclusive' as const,
        detail: `${method ? `${method}/` : ''}p99-latency 0.0870 <= 1.00`,
      },
    ];
  });
  return { service, environment, at: new Date().toISOString(), sample, verdict: 'pass', requests: 1234, checks, detail: checks.map((c) => c.detail).join('; ') };
}

test('a five-service run with 15-minute soaks and a 24-hour watch keeps every payload under 256 KB and every history under 10,000 events', async () => {
  const settings = settingsFrom({
    repository: { path: '/tmp/repo' },
    services: SERVICES.map((name, i) => ({ name, path: `services/${name}`, kubernetes: { deployment: name }, ...(i < 2 ? { database: { urlEnv: 'DATABASE_URL' } } : {}), slo: { methods: ['SendMessage', 'ListMessages'] } })),
    environments: [
      { name: 'dev', gate: { required: false } },
      { name: 'staging', gate: { required: false } },
      { name: 'production', soak: { duration: `${(SOAK_SAMPLES - 1) * INTERVAL_MS}ms`, interval: `${INTERVAL_MS}ms` }, gate: { required: false } },
    ],
    gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
    analysis: { watch: { duration: `${(WATCH_SAMPLES - 1) * INTERVAL_MS}ms`, interval: `${INTERVAL_MS}ms` } },
    prometheus: { url: 'http://127.0.0.1:9' },
    llm: { model: 'claude-sonnet-5' },
  });
  const { activities } = activityDoubles({ analyzeSlo: async (i) => realisticSample(i.service.name, i.environment.name, i.sample) });
  const taskQueue = uniqueTaskQueue('bounds');
  const worker = await testWorker(env, taskQueue, activities);
  const runId = `test-bounds-${taskQueue}`;
  const { state, query, page } = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: runId,
      args: [{ feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: [], settings }],
    });
    const result = await handle.result();
    const firstWatchSegment = segmentId(result.watches[0]?.workflowId ?? '', 1);
    return { state: result, query: await handle.query(statusQuery), page: await env.client.workflow.getHandle(firstWatchSegment).query(evidenceQuery, { offset: 0, limit: 1_000 }) };
  });
  expect(state.status).toBe('succeeded');
  expect(state.rollouts.filter((r) => r.environment === 'production').map((r) => r.soak?.samples)).toEqual(Array(5).fill(SOAK_SAMPLES));
  expect(state.watches.map((w) => [w.service, w.analysis.samples, w.analysis.segments])).toEqual(SERVICES.map((s) => [s, WATCH_SAMPLES, Math.ceil(WATCH_SAMPLES / LIMITS.samplesPerSegment)]));

  // Every workflow of the run: the parent, each rollout, each watch, and every analysis segment.
  const children = [
    ...state.rollouts.flatMap((r) => [r.workflowId, ...Array.from({ length: r.soak?.segments ?? 0 }, (_, i) => segmentId(r.workflowId, i + 1))]),
    ...state.watches.flatMap((w) => [w.workflowId, ...Array.from({ length: w.analysis.segments }, (_, i) => segmentId(w.workflowId, i + 1))]),
  ];
  expect(children).toHaveLength(15 + 5 + 5 + 5 * 3);
  let largest = { size: 0, where: '' };
  for (const workflowId of [runId, ...children]) {
    const history = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    expect({ workflowId, events: events.length < MAX_EVENTS }).toEqual({ workflowId, events: true });
    for (const event of events) {
      const size = temporal.api.history.v1.HistoryEvent.encode(event).finish().length;
      if (size > largest.size) largest = { size, where: `${workflowId} event ${event.eventId} (${event.eventType})` };
    }
  }
  const stateSize = Buffer.byteLength(JSON.stringify(query));
  const pageSize = Buffer.byteLength(JSON.stringify(page));
  console.log(`largest history event: ${(largest.size / 1024).toFixed(1)} KB (${largest.where}); status query ${(stateSize / 1024).toFixed(1)} KB; a full evidence page ${(pageSize / 1024).toFixed(1)} KB`);
  expect(largest.size).toBeLessThan(MAX_PAYLOAD);
  expect(stateSize).toBeLessThan(MAX_PAYLOAD);
  expect(pageSize).toBeLessThan(MAX_PAYLOAD);
  // However much is asked for, a page holds at most evidencePageMax samples.
  expect(page.samples).toHaveLength(LIMITS.evidencePageMax);
  expect(page.total).toBe(LIMITS.samplesPerSegment);
}, 300_000);
