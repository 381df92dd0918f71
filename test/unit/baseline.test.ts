import { sampleVerdict } from '../../activities/prometheus';
import { versionMatcher } from '../../activities/prometheus/baseline';
import { ConfigError, parseConfig } from '../../config/load';
import { resolveRunSettings } from '../../config/settings';
import { baselineOf } from '../../workflows/analysis';
import type { BaselineComparison, CheckResult } from '../../workflows/state';

const config = (analysis: unknown, slo: unknown = {}) =>
  parseConfig({
    repository: { path: '.' },
    services: [{ name: 'messages', path: 'm', slo }],
    environments: [{ name: 'production', soak: { duration: '15m', interval: '15s' } }],
    analysis,
  });

describe('analysis.baseline in config', () => {
  test('absent: no comparison; `baseline: {}` turns it on with safe defaults', () => {
    expect(config({}).analysis.baseline).toBeUndefined();
    expect(resolveRunSettings(config({ baseline: {} })).analysis.baseline).toEqual({
      enabled: true,
      source: 'auto',
      confidence: 0.98,
      lookback: 3_600_000,
      step: '1m',
      minPoints: 5,
      metrics: [
        { name: 'error-ratio', worseWhen: 'higher', effect: 'absolute', minEffect: 0.01 },
        { name: 'p99-latency', worseWhen: 'higher', effect: 'relative', minEffect: 0.2 },
        { name: 'mean-latency', worseWhen: 'higher', effect: 'relative', minEffect: 0.1 },
      ],
    });
  });

  test.each([
    ['pods without a version label', { source: 'pods' }, {}, /analysis\.baseline\.versionLabel: source "pods" needs versionLabel/],
    ['a lookback shorter than the points it needs', { lookback: '3m', step: '1m' }, {}, /analysis\.baseline\.lookback: lookback \/ step gives 3 baseline points; it must be between minPoints \(5\) and 1000/],
    ['a lookback of too many points', { lookback: '2d', step: '1m' }, {}, /lookback \/ step gives 2880 baseline points/],
    ['a metric that is neither built in nor queried', { metrics: [{ name: 'queue-depth', minEffect: 1 }] }, {}, /analysis\.baseline\.metrics\.0\.query: "queue-depth" is not built in \(error-ratio, p99-latency, mean-latency\): give its query/],
    ['a duplicate metric', { metrics: [{ name: 'error-ratio', minEffect: 0.01 }, { name: 'error-ratio', minEffect: 0.02 }] }, {}, /analysis\.baseline\.metrics\.1\.name: duplicate metric "error-ratio"/],
    ['a confidence of 100 %', { confidence: 1 }, {}, /analysis\.baseline\.confidence/],
    ['an environment that does not exist', { environments: ['prod'] }, {}, /analysis\.baseline\.environments\.0: "prod" is not an environment/],
    ['a soak too short for the comparison to decide', { step: '5m' }, {}, /environments\.0\.soak\.duration: a 15m soak gives 3 points at analysis\.baseline\.step 5m; comparing with the baseline needs 6/],
    ['a service asking for it without the section', undefined, { baseline: true }, /services\.0\.slo\.baseline: comparing with the baseline needs an analysis\.baseline section/],
  ])('%s fails naming the field', (_name, baseline, slo, message) => {
    const build = () => config(baseline === undefined ? {} : { baseline }, slo);
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(message);
  });

  test('a custom metric with its query, and lower is worse', () => {
    const metrics = config({ baseline: { metrics: [{ name: 'throughput', query: 'sum(rate(x{ {{selector}} }[{{window}}]))', worseWhen: 'lower', minEffect: 0.2 }] } }).analysis.baseline?.metrics;
    expect(metrics).toEqual([{ name: 'throughput', query: 'sum(rate(x{ {{selector}} }[{{window}}]))', worseWhen: 'lower', effect: 'relative', minEffect: 0.2 }]);
  });
});

describe('whether a soak compares, and with what', () => {
  const production = { name: 'production' };
  const deployment = { deployment: 'messages', namespace: 'production', revision: 4, previousRevision: 3, image: 'r/m@sha256:b', previousImage: 'r/m@sha256:a' };

  test('on by the section, off by the service or by `enabled: false`', () => {
    const on = resolveRunSettings(config({ baseline: {} }));
    const service = on.services[0]!;
    expect(baselineOf(on.analysis, service, production, 1_000, deployment)).toEqual({
      baseline: { rolloutStartedAtMs: 1_000, image: 'r/m@sha256:b', previousImage: 'r/m@sha256:a', firstDeploy: false },
    });
    expect(baselineOf(on.analysis, { ...service, slo: { ...service.slo, baseline: false } }, production, 1_000, deployment)).toEqual({});
    const paused = resolveRunSettings(config({ baseline: { enabled: false } }));
    expect(baselineOf(paused.analysis, paused.services[0]!, production, 1_000, deployment)).toEqual({});
    expect(baselineOf(paused.analysis, { ...service, slo: { ...service.slo, baseline: true } }, production, 1_000, deployment)).toMatchObject({ baseline: { rolloutStartedAtMs: 1_000 } });
    expect(baselineOf(resolveRunSettings(config({})).analysis, service, production, 1_000, deployment)).toEqual({});
  });

  test('only in the environments the section names, when it names any', () => {
    const named = resolveRunSettings(config({ baseline: { environments: ['production'] } }));
    expect(baselineOf(named.analysis, named.services[0]!, production, 1_000, deployment)).toMatchObject({ baseline: { firstDeploy: false } });
    expect(baselineOf(named.analysis, named.services[0]!, { name: 'staging' }, 1_000, deployment)).toEqual({});
  });

  test('a rollout that created the service has nothing to compare with', () => {
    const on = resolveRunSettings(config({ baseline: {} }));
    const { previousRevision: _, previousImage: __, ...created } = deployment;
    expect(baselineOf(on.analysis, on.services[0]!, production, 1_000, created)).toEqual({ baseline: { rolloutStartedAtMs: 1_000, image: 'r/m@sha256:b', firstDeploy: true } });
  });
});

describe('a sample’s verdict with comparisons', () => {
  const check: CheckResult = { name: 'error-ratio', query: 'q', value: 0, threshold: 0.05, failWhen: 'above', status: 'pass', noData: 'inconclusive', detail: 'error-ratio 0 <= 0.05' };
  const comparison = (status: BaselineComparison['status'], noData: BaselineComparison['noData'] = 'inconclusive'): BaselineComparison => ({
    metric: 'p99-latency',
    status,
    detail: status,
    step: '1m',
    points: { new: 0, baseline: 0 },
    effectKind: 'relative',
    minEffect: 0.2,
    confidence: 0.98,
    noData,
  });

  test('worse fails; waiting or skipped decides nothing; no data follows its policy', () => {
    expect(sampleVerdict([check], [comparison('worse')])).toBe('fail');
    expect(sampleVerdict([check], [comparison('pending'), comparison('skipped'), comparison('pass')])).toBe('pass');
    expect(sampleVerdict([check], [comparison('no-data')])).toBe('inconclusive');
    expect(sampleVerdict([check], [comparison('no-data', 'pass')])).toBe('pass');
    expect(sampleVerdict([check], [comparison('no-data', 'fail')])).toBe('fail');
    expect(sampleVerdict([{ ...check, status: 'fail' }], [comparison('pass')])).toBe('fail');
  });
});

test('a version is matched by its digest, however the series spell the repository', () => {
  const digest = `sha256:${'c'.repeat(64)}`;
  expect(versionMatcher('image', `registry.local/messages@${digest}`)).toBe(`image=~".+@${digest}"`);
  expect(versionMatcher('image', 'registry.local/messages:1.4.0')).toBe('image="registry.local/messages:1.4.0"');
  expect(versionMatcher('version', 'odd"name')).toBe('version="odd\\"name"');
});
