import pino from 'pino';
import { createPrometheusActivities } from '../../activities/prometheus';
import { environmentIn, serviceIn, settingsFrom } from '../support/doubles';
import type { SlipwayConfigInput } from '../../config/schema';
import { startPrometheus, type RunningPrometheus } from '../../scripts/prometheus';
import type { SoakSample } from '../../workflows/state';
import { SoakJudge } from '../../workflows/verdict';
import { FixtureService } from '../support/fixtureService';
import { eventually } from '../support/temporal';

const busy = new FixtureService();
const idle = new FixtureService();
let prometheus: RunningPrometheus;

beforeAll(async () => {
  await busy.start();
  idle.requestsPerSecond = 0;
  await idle.start();
  prometheus = await startPrometheus(process.env.SLIPWAY_TEST_PROMETHEUS as string, [
    { job: 'messages', address: busy.address },
    { job: 'notifications', address: idle.address },
  ]);
});
afterAll(async () => {
  await prometheus.stop();
  await busy.stop();
  await idle.stop();
});

function analyzer(extra: Partial<SlipwayConfigInput> = {}, url = prometheus.url) {
  const settings = settingsFrom({
    repository: { path: '.' },
    services: [
      { name: 'messages', path: 'm', slo: { errorRatio: 0.05, p99Seconds: 0.5 } },
      { name: 'notifications', path: 'n' },
    ],
    environments: [{ name: 'production' }],
    prometheus: { url, queryTimeout: '2s' },
    analysis: { window: '5s', minRequests: 10, consecutiveFailures: 2, unreachableLimit: 3 },
    ...extra,
  } as SlipwayConfigInput);
  const { analyzeSlo } = createPrometheusActivities({ logger: pino({ level: 'silent' }) });
  let sample = 0;
  return (service = 'messages') =>
    analyzeSlo({
      runId: 'r',
      service: serviceIn(settings, service),
      environment: environmentIn(settings, 'production'),
      sample: ++sample,
      analysis: settings.analysis,
      ...(settings.prometheus ? { prometheus: settings.prometheus } : {}),
    });
}

/** Waits until Prometheus reflects the fixture's current behaviour. */
const until = (take: () => Promise<SoakSample>, verdict: SoakSample['verdict'] | ((s: SoakSample) => boolean), what: string) =>
  eventually(async () => {
    const sample = await take();
    return (typeof verdict === 'function' ? verdict(sample) : sample.verdict === verdict) ? sample : undefined;
  }, what, 30_000);

beforeEach(async () => {
  busy.errorRatio = 0;
  busy.latencySeconds = 0.02;
  await until(analyzer(), 'pass', 'a healthy fixture');
});

test('a healthy service passes, with every check’s query, value and threshold as evidence', async () => {
  busy.errorRatio = 0;
  busy.latencySeconds = 0.02;
  const sample = await until(analyzer(), 'pass', 'a passing sample');
  expect(sample.requests).toBeGreaterThanOrEqual(10);
  const [ratio, p99] = sample.checks ?? [];
  expect(ratio).toMatchObject({ name: 'error-ratio', status: 'pass', threshold: 0.05, value: 0 });
  expect(ratio?.query).toContain('grpc_server_handled_total{job="messages",grpc_code!="OK"}[5s]');
  expect(p99).toMatchObject({ name: 'p99-latency', status: 'pass', threshold: 0.5 });
  expect(p99?.value).toBeLessThanOrEqual(0.025);
});

test('an error spike fails the soak after the configured number of consecutive samples', async () => {
  busy.errorRatio = 0.4;
  const take = analyzer();
  const first = await until(take, 'fail', 'a failing sample');
  expect(first.checks?.find((c) => c.name === 'error-ratio')).toMatchObject({ status: 'fail' });
  expect(first.checks?.find((c) => c.name === 'error-ratio')?.value).toBeGreaterThan(0.05);
  expect(first.detail).toMatch(/^error-ratio 0\.\d+ > 0\.0500$/);

  const judge = new SoakJudge({ consecutiveFailures: 2, unreachableLimit: 3 });
  expect(judge.judge(first).decision).toBe('continue');
  const second = await take();
  expect(second.verdict).toBe('fail');
  expect(judge.judge(second)).toEqual({ decision: 'fail', reason: expect.stringMatching(/^2 failing samples in a row: error-ratio/) });
});

test('slow responses fail the P99 check', async () => {
  busy.latencySeconds = 0.8;
  const sample = await until(analyzer(), (s) => s.checks?.find((c) => c.name === 'p99-latency')?.status === 'fail', 'a slow sample');
  expect(sample.verdict).toBe('fail');
  expect(sample.checks?.find((c) => c.name === 'error-ratio')?.status).toBe('pass');
  expect(sample.checks?.find((c) => c.name === 'p99-latency')?.value).toBeGreaterThan(0.5);
});

test.each([
  ['pass', 'pass'],
  ['fail', 'fail'],
  ['inconclusive', 'inconclusive'],
] as const)('no traffic under the %s policy gives a %s sample', async (policy, verdict) => {
  const take = analyzer({ analysis: { window: '5s', minRequests: 10, noData: policy } });
  const sample = await take('notifications');
  expect(sample.requests).toBe(0);
  expect(sample.verdict).toBe(verdict);
  expect(sample.checks?.every((c) => c.status === 'no-data' && c.noData === policy)).toBe(true);
  expect(sample.detail).toContain(`only 0 requests in 5s (minimum 10) (treated as ${policy})`);
  // Two no-data samples in a row end the soak as the policy says.
  const judge = new SoakJudge({ consecutiveFailures: 2, unreachableLimit: 3 });
  judge.judge(sample);
  const decision = judge.judge(await take('notifications')).decision;
  expect(decision).toBe(policy === 'pass' ? 'continue' : policy);
});

test('a query Prometheus refuses is reported as an error, never as a pass', async () => {
  const take = analyzer({
    services: [{ name: 'messages', path: 'm', slo: { checks: [{ name: 'broken', query: 'sum(rate(oops[', threshold: 1 }] } }],
  } as Partial<SlipwayConfigInput>);
  const sample = await take();
  expect(sample.error).toMatch(/Prometheus refused the query: .*parse error/);
  expect(sample.verdict).toBe('inconclusive');
});

test('Prometheus stopped mid-soak is retried each sample, then fails with the reason', async () => {
  const own = await startPrometheus(process.env.SLIPWAY_TEST_PROMETHEUS as string, [{ job: 'messages', address: busy.address }]);
  const take = analyzer({}, own.url);
  await until(take, 'pass', 'data in the second Prometheus');
  await own.stop();
  const judge = new SoakJudge({ consecutiveFailures: 2, unreachableLimit: 3 });
  const decisions = [];
  for (let i = 0; i < 3; i++) decisions.push(judge.judge(await take()));
  expect(decisions.map((d) => d.decision)).toEqual(['continue', 'continue', 'fail']);
  expect(decisions[2]?.reason).toMatch(/^no answer from Prometheus for 3 samples in a row: Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable \(ECONNREFUSED\)/);
});

test('each new gRPC method gets its own checks, selected by its method label', async () => {
  const take = analyzer({
    services: [{ name: 'messages', path: 'm', slo: { methods: ['SendMessage', 'MarkRead'] } }],
  } as Partial<SlipwayConfigInput>);
  const sample = await take();
  expect(sample.checks?.map((c) => c.name)).toEqual([
    'error-ratio',
    'p99-latency',
    'SendMessage/error-ratio',
    'SendMessage/p99-latency',
    'MarkRead/error-ratio',
    'MarkRead/p99-latency',
  ]);
  expect(sample.checks?.[2]?.query).toContain('{job="messages",grpc_method="SendMessage",grpc_code!="OK"}');
  expect(sample.checks?.[2]?.status).toBe('pass');
  // The fixture serves no MarkRead traffic: that method has no data.
  expect(sample.checks?.[4]?.status).toBe('no-data');
});
