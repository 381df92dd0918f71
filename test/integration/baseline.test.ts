import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { createPrometheusActivities, type AnalyzeSloInput } from '../../activities/prometheus';
import type { BaselineTarget } from '../../activities/prometheus/baseline';
import type { SlipwayConfigInput } from '../../config/schema';
import { startPrometheus, type RunningPrometheus } from '../../scripts/prometheus';
import type { BaselineComparison, SoakSample } from '../../workflows/state';
import { evidenceQuery } from '../../workflows/analysis';
import { serviceRollout } from '../../workflows/serviceRollout';
import { SoakJudge } from '../../workflows/verdict';
import { readLoadPlans, startLoad, type LoadGenerator } from '../../world/load';
import { activityDoubles, environmentIn, serviceIn, settingsFrom } from '../support/doubles';
import { GrpcVersion, NOTIFICATIONS } from '../support/grpcVersion';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue } from '../support/temporal';

/**
 * Three services under the world's load, each first running its old version for the baseline
 * window, then a new one: slightly slower (5 %, below the 10 % minimum effect), much worse (three
 * times slower with 10 % errors), and much slower while old pods still run beside it.
 */

const OLD_DIGEST = `sha256:${'a'.repeat(64)}`;
const NEW_DIGEST = `sha256:${'b'.repeat(64)}`;
/** As the Deployment names them; the pods' series spell the repository as the kubelet pulled it. */
const OLD = `registry.local/notifications@${OLD_DIGEST}`;
const NEW = `registry.local/notifications@${NEW_DIGEST}`;
const pulled = (digest: string) => `127.0.0.1:5001/notifications@${digest}`;
const STEP_S = 3;
const LOOKBACK_S = 45;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const versions = {
  slightOld: new GrpcVersion({ latencyMs: 14 }),
  muchOld: new GrpcVersion({ latencyMs: 14 }),
  mixedOld: new GrpcVersion({ latencyMs: 14 }),
  slightNew: new GrpcVersion({ latencyMs: 14.7 }),
  muchNew: new GrpcVersion({ latencyMs: 45, errorRatio: 0.1 }),
  mixedNew: new GrpcVersion({ latencyMs: 45 }),
};
type Pod = { service: string; version: GrpcVersion; image: string };

let dir: string;
let prometheus: RunningPrometheus;
let load: LoadGenerator;

/** What the local kubelet and its service proxy would write: Prometheus' targets and the load's services. */
async function place(pods: Pod[]) {
  const targets = pods.map((p, i) => ({ targets: [p.version.metrics], labels: { namespace: 'production', service: p.service, pod: `${p.service}-${i}`, image: p.image } }));
  await writeFile(join(dir, 'targets.json'), JSON.stringify(targets));
  // The load keeps one target per namespace and service name: each pod gets its own "namespace".
  await writeFile(join(dir, 'services.json'), JSON.stringify(pods.map((p, i) => ({ namespace: `${p.service}-${i}`, service: 'notifications', ports: { grpc: p.version.grpc } }))));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-baseline-'));
  for (const version of Object.values(versions)) await version.start();
  await place([
    { service: 'slight', version: versions.slightOld, image: pulled(OLD_DIGEST) },
    { service: 'much', version: versions.muchOld, image: pulled(OLD_DIGEST) },
    { service: 'mixed', version: versions.mixedOld, image: pulled(OLD_DIGEST) },
  ]);
  prometheus = await startPrometheus(process.env.SLIPWAY_TEST_PROMETHEUS as string, [], { scrapeInterval: '1s', fileSd: [{ job: 'pods', files: [join(dir, 'targets.json')], refreshInterval: '1s' }] });
  const plans = await readLoadPlans(NOTIFICATIONS.root);
  load = startLoad({ servicesFile: join(dir, 'services.json'), calls: { notifications: plans.notifications! }, ratePerSecond: 20, protoRoot: NOTIFICATIONS.root, log: pino({ level: 'silent' }), pollMs: 200 });
}, 60_000);

afterAll(async () => {
  await load?.stop();
  await prometheus?.stop();
  for (const version of Object.values(versions)) await version.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Samples as the soak takes them; without a target, only the thresholds. */
function analyzer(target?: BaselineTarget) {
  const settings = settingsFrom({
    repository: { path: '.' },
    services: ['slight', 'much', 'mixed'].map((name) => ({ name, path: name, slo: { errorRatio: 0.5, p99Seconds: 5, selector: 'namespace="{{namespace}}",service="{{service}}"' } })),
    environments: [{ name: 'production', namespace: 'production' }],
    prometheus: { url: prometheus.url, queryTimeout: '5s' },
    analysis: { window: `${STEP_S}s`, minRequests: 10, baseline: { step: `${STEP_S}s`, lookback: `${LOOKBACK_S}s`, versionLabel: 'image' } },
  } as SlipwayConfigInput);
  const { analyzeSlo } = createPrometheusActivities({ logger: pino({ level: 'silent' }) });
  let sample = 0;
  return (service: string) =>
    analyzeSlo({ runId: 'r', service: serviceIn(settings, service), environment: environmentIn(settings, 'production'), sample: ++sample, analysis: settings.analysis, prometheus: settings.prometheus!, ...(target ? { baseline: target } : {}) });
}

const comparison = (sample: SoakSample | undefined, metric: string): BaselineComparison => {
  const found = sample?.comparisons?.find((c) => c.metric === metric);
  if (found === undefined) throw new Error(`no ${metric} comparison in ${JSON.stringify(sample)}`);
  return found;
};

test('slightly worse passes (below the minimum effect), much worse fails with its p-value, old pods beside new ones are the baseline', async () => {
  // The old versions' record: the whole lookback window under load.
  await eventually(async () => ((await analyzer()('mixed')).requests ?? 0) > 0 || undefined, 'traffic in Prometheus', 30_000);
  await sleep((LOOKBACK_S + 2) * 1000);

  // The rollout: slight and much are replaced; mixed keeps its old pod beside the new one.
  const rolloutStartedAtMs = Date.now();
  await place([
    { service: 'slight', version: versions.slightNew, image: pulled(NEW_DIGEST) },
    { service: 'much', version: versions.muchNew, image: pulled(NEW_DIGEST) },
    { service: 'mixed', version: versions.mixedOld, image: pulled(OLD_DIGEST) },
    { service: 'mixed', version: versions.mixedNew, image: pulled(NEW_DIGEST) },
  ]);
  await sleep(2_000);
  const take = analyzer({ rolloutStartedAtMs, soakStartedAtMs: Date.now(), image: NEW, previousImage: OLD, firstDeploy: false });

  // Right after the rollout there are no points of the new version yet: waiting decides nothing.
  const first = await take('much');
  expect(first.comparisons?.map((c) => c.status)).toEqual(['pending', 'pending', 'pending']);
  expect(first.detail).not.toContain('baseline');

  const samples: Record<string, SoakSample[]> = { slight: [], much: [], mixed: [] };
  const soakEnds = Date.now() + 11 * STEP_S * 1000;
  while (Date.now() < soakEnds) {
    await sleep(STEP_S * 1000);
    for (const service of Object.keys(samples)) samples[service]!.push(await take(service));
  }
  const judged = (service: string) => {
    const judge = new SoakJudge({ consecutiveFailures: 2, unreachableLimit: 3 });
    return samples[service]!.map((s) => judge.judge(s)).find((j) => j.decision !== 'continue') ?? { decision: 'continue' as const };
  };

  // Slightly worse: 5 % slower is certain with this many points, and still passes.
  const slight = samples.slight!.at(-1);
  const slightMean = comparison(slight, 'mean-latency');
  expect(slightMean).toMatchObject({ status: 'pass', source: 'window', effectKind: 'relative', minEffect: 0.1, confidence: 0.98 });
  expect(slightMean.points.new).toBeGreaterThanOrEqual(8);
  expect(slightMean.points.baseline).toBeGreaterThanOrEqual(LOOKBACK_S / STEP_S - 1);
  expect(slightMean.pValue).toBeLessThan(0.02);
  expect(slightMean.effect).toBeGreaterThan(0.02);
  expect(slightMean.effect).toBeLessThan(0.1);
  expect(slightMean.detail).toMatch(/below 10%; p=/);
  expect(comparison(slight, 'error-ratio')).toMatchObject({ status: 'pass', means: { new: 0, baseline: 0 }, pValue: 1 });
  // Every p99 in one histogram bucket: equal on both sides (floating-point noise settled), no evidence at all.
  expect(comparison(slight, 'p99-latency')).toMatchObject({ status: 'pass', pValue: 1 });
  expect(samples.slight!.every((s) => s.verdict === 'pass')).toBe(true);
  expect(judged('slight').decision).toBe('continue');

  // Much worse: latency and errors, each with its statistic, p-value and effect in the evidence.
  const much = samples.much!.at(-1);
  const muchMean = comparison(much, 'mean-latency');
  expect(muchMean).toMatchObject({ status: 'worse', source: 'window' });
  expect(muchMean.pValue).toBeLessThan(0.001);
  expect(muchMean.effect).toBeGreaterThan(1.5);
  expect(muchMean.u).toBe(muchMean.points.new * muchMean.points.baseline);
  expect(muchMean.newQuery).toBe(`sum(rate(grpc_server_handling_seconds_sum{namespace="production",service="much",image=~".+@${NEW_DIGEST}"}[3s])) / sum(rate(grpc_server_handling_seconds_count{namespace="production",service="much",image=~".+@${NEW_DIGEST}"}[3s]))`);
  expect(muchMean.baselineQuery).toBe('sum(rate(grpc_server_handling_seconds_sum{namespace="production",service="much"}[3s])) / sum(rate(grpc_server_handling_seconds_count{namespace="production",service="much"}[3s]))');
  expect(Date.parse(muchMean.baselineRange!.to)).toBe(rolloutStartedAtMs);
  const muchErrors = comparison(much, 'error-ratio');
  expect(muchErrors).toMatchObject({ status: 'worse', effectKind: 'absolute' });
  expect(muchErrors.effect).toBeGreaterThan(0.05);
  expect(comparison(much, 'p99-latency').status).toBe('worse');
  expect(much?.verdict).toBe('fail');
  const failed = judged('much');
  expect(failed.decision).toBe('fail');
  expect(failed.reason).toMatch(/^2 failing samples in a row: .*baseline mean-latency \(window, \d+ against \d+ points, U=\d+\): worse: .* p=[0-9.e-]+ < 0\.02\)/);

  // Old pods still running: they are the baseline, at the same time as the new ones.
  const mixedMean = comparison(samples.mixed!.at(-1), 'mean-latency');
  expect(mixedMean).toMatchObject({ status: 'worse', source: 'pods' });
  expect(mixedMean.baselineQuery).toContain(`service="mixed",image=~".+@${OLD_DIGEST}"`);
  expect(mixedMean.baselineRange).toEqual(mixedMean.newRange);
  expect(mixedMean.pValue).toBeLessThan(0.001);
  expect(judged('mixed').decision).toBe('fail');
}, 180_000);

test('a rollout that created the service is not compared', async () => {
  const sample = await analyzer({ rolloutStartedAtMs: Date.now(), soakStartedAtMs: Date.now(), image: NEW, firstDeploy: true })('slight');
  expect(sample.comparisons?.map((c) => [c.metric, c.status])).toEqual([
    ['error-ratio', 'skipped'],
    ['p99-latency', 'skipped'],
    ['mean-latency', 'skipped'],
  ]);
  expect(sample.comparisons?.[0]?.detail).toBe('baseline error-ratio: skipped, the rollout created the service (no previous version)');
});

test('a soak hands the rollout to each sample; a worse comparison rolls the service back with its p-value as the reason', async () => {
  const settings = settingsFrom({
    repository: { path: '.' },
    services: [{ name: 'much', path: 'much', kubernetes: { deployment: 'much' } }],
    environments: [{ name: 'production', namespace: 'production', soak: { duration: '10s', interval: '1s' } }],
    prometheus: { url: prometheus.url },
    analysis: { consecutiveFailures: 2, baseline: { step: '1s', lookback: '1m' } },
  } as SlipwayConfigInput);
  const seen: AnalyzeSloInput[] = [];
  const worse: BaselineComparison = {
    metric: 'mean-latency',
    source: 'window',
    status: 'worse',
    detail: 'baseline mean-latency (window, 11 against 15 points, U=165): worse: 0.0448 against 0.014 (+221%, at least 10%; p=1.04e-5 < 0.02)',
    step: '1m',
    points: { new: 11, baseline: 15 },
    means: { new: 0.0448, baseline: 0.014 },
    u: 165,
    z: 4.26,
    pValue: 1.04e-5,
    effect: 2.21,
    effectKind: 'relative',
    minEffect: 0.1,
    confidence: 0.98,
    noData: 'inconclusive',
  };
  const { activities, calls } = activityDoubles({
    deployService: async () => ({ deployment: 'much', namespace: 'production', revision: 5, previousRevision: 4, image: NEW, previousImage: OLD }),
    // What the Prometheus activity returns for a much worse version (its own test above shows it does).
    analyzeSlo: async (input) => {
      seen.push(input);
      return { service: 'much', environment: 'production', at: new Date().toISOString(), sample: input.sample, verdict: 'fail', comparisons: [worse], detail: worse.detail };
    },
  });
  const env = await connectTestTemporal();
  try {
    const taskQueue = uniqueTaskQueue('baseline');
    const worker = await testWorker(env, taskQueue, activities);
    const workflowId = `test-baseline-${taskQueue}`;
    const { err, page } = await worker.runUntil(async () => {
      const outcome = await env.client.workflow
        .execute(serviceRollout, {
          taskQueue,
          workflowId,
          args: [{ runId: 'r', service: serviceIn(settings, 'much'), environment: environmentIn(settings, 'production'), workspace: { branch: 'b', path: '/tmp/w', specDir: 's' }, analysis: settings.analysis, prometheus: settings.prometheus! }],
        })
        .then(() => undefined, (e: unknown) => e);
      // The statistic, p-value and effect are the evidence the analysis child keeps.
      return { err: outcome, page: await env.client.workflow.getHandle(`${workflowId}/analysis-1`).query(evidenceQuery, { offset: 0, limit: 10 }) };
    });
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
    expect(failure.type).toBe('RolloutFailed');
    expect(failure.message).toMatch(/^much in production: soak failed at sample 2: 2 failing samples in a row: baseline mean-latency .* p=1\.04e-5 < 0\.02\)$/);
    expect(calls.filter((c) => c.name === 'rollbackService')).toHaveLength(1);

    // Every sample knew the rollout: its start (the baseline's end), the soak's start, both images.
    expect(seen).toHaveLength(2);
    const target = seen[0]?.baseline;
    expect(target).toMatchObject({ image: NEW, previousImage: OLD, firstDeploy: false });
    expect(target!.rolloutStartedAtMs).toBeLessThanOrEqual(target!.soakStartedAtMs);
    expect(seen[1]?.baseline).toEqual(target);
    expect(page.samples.at(-1)?.comparisons?.[0]).toMatchObject({ u: 165, pValue: 1.04e-5, effect: 2.21, status: 'worse' });
  } finally {
    await env.close();
  }
});
