import { auditUnavailableReason, checkStatus } from '../../activities/commands/checks';
import { endpointVariables, redact, resolveEndpoints } from '../../activities/commands/endpoints';
import { ConfigError, parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { resolveRunSettings } from '../../config/settings';
import { checksForGate, verificationDetail } from '../../workflows/checksReport';
import { initialRunState, type PreDeployCheck, type RunState } from '../../workflows/state';
import { databaseChecks, memoryCheck, watchedService } from '../../workflows/watchChecks';
import { lastValues } from '../../workflows/watchDetails';
import { serviceIn, settingsFrom } from '../support/doubles';

/** What `npm audit` prints here, where the registry refuses the bulk advisory endpoint. */
const NPM_AUDIT_405 = `npm warn audit 405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk

npm error audit endpoint returned an error
npm error A complete log of this run can be found in: /tmp/_logs/debug-0.log`;

const NPM_AUDIT_FINDINGS = `# npm audit report

pg  <8.11.0
Severity: high
SQL injection in pg - https://github.com/advisories/GHSA-1234-5678-9abc
fix available via \`npm audit fix\`

1 high severity vulnerability`;

const base: SlipwayConfigInput = {
  repository: { path: '/tmp/repo' },
  services: [
    { name: 'messages', path: 'services/messages', database: { urlEnv: 'MESSAGES_DATABASE_URL' }, kubernetes: { deployment: 'messages', grpcPort: 50051 }, slo: { methods: ['SendMessage'] } },
    { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications-api' } },
  ],
  environments: [{ name: 'dev', namespace: 'dev' }, { name: 'production', namespace: 'production' }],
};

describe('checks before production', () => {
  const options = { auditUnavailable: 'required' as const, network: true };

  test('an audit that could not reach its database is unavailable, not a pass and not a finding', () => {
    expect(auditUnavailableReason(NPM_AUDIT_405)).toBe('npm warn audit 405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk');
    expect(checkStatus('audit', { code: 1, timedOut: false, output: NPM_AUDIT_405 }, options)).toEqual({
      status: 'unavailable',
      blocking: true,
      reason: expect.stringMatching(/^audit unavailable: npm warn audit 405 Method Not Allowed/),
    });
    expect(checkStatus('audit', { code: 1, timedOut: false, output: NPM_AUDIT_405 }, { ...options, auditUnavailable: 'optional' }).blocking).toBe(false);
    expect(checkStatus('audit', { code: 1, timedOut: false, output: 'npm error code EAI_AGAIN\nnpm error request to https://registry.npmjs.org failed' }, { ...options, network: false }).reason).toMatch(
      /EAI_AGAIN.*add `audit` to sandbox.network.commands/,
    );
    expect(checkStatus('audit', { code: 1, timedOut: false, output: 'error: couldn\'t fetch advisory database: git operation failed' }, options).status).toBe('unavailable');
  });

  test('vulnerabilities found fail the audit and block; a passing audit passes', () => {
    expect(auditUnavailableReason(NPM_AUDIT_FINDINGS)).toBeUndefined();
    expect(checkStatus('audit', { code: 1, timedOut: false, output: NPM_AUDIT_FINDINGS }, options)).toEqual({ status: 'fail', blocking: true, reason: 'audit exited 1' });
    expect(checkStatus('audit', { code: 0, timedOut: false, output: 'found 0 vulnerabilities' }, options)).toEqual({ status: 'pass', blocking: true });
  });

  test('tests block on any failure; the outdated report never blocks', () => {
    expect(checkStatus('test', { code: 1, timedOut: false, output: 'not ok 1' }, options)).toEqual({ status: 'fail', blocking: true, reason: 'test exited 1' });
    expect(checkStatus('test', { code: null, timedOut: true, output: '' }, options)).toMatchObject({ status: 'fail', reason: 'test timed out' });
    expect(checkStatus('outdated', { code: 1, timedOut: false, output: 'pg 8.23.1 8.23.1 8.24.0' }, options)).toEqual({ status: 'report', blocking: false });
    expect(checkStatus('outdated', { code: 0, timedOut: false, output: '' }, options)).toEqual({ status: 'pass', blocking: false });
    expect(checkStatus('outdated', { code: null, timedOut: true, output: '' }, options)).toEqual({ status: 'report', blocking: false, reason: 'the report timed out' });
  });

  test('the production gate shows each service on a line and each outdated report, bounded', () => {
    const check = (c: Partial<PreDeployCheck> & Pick<PreDeployCheck, 'service' | 'check' | 'status'>): PreDeployCheck => ({ environment: 'production', command: `npm ${c.check}`, blocking: c.check !== 'outdated', exitCode: 0, ms: 10, output: '', ...c });
    const text = checksForGate([
      check({ service: 'messages', check: 'test', status: 'pass' }),
      check({ service: 'messages', check: 'audit', status: 'unavailable', blocking: false, reason: 'audit unavailable: 405 Method Not Allowed' }),
      check({ service: 'messages', check: 'outdated', status: 'report', output: `Package Current Wanted Latest\n${'pg 8.23.1 8.23.1 8.24.0\n'.repeat(200)}` }),
      check({ service: 'notifications', check: 'outdated', status: 'pass' }),
    ]);
    expect(text).toMatch(/^Checks before production:\n- messages: tests passed; audit audit unavailable: 405 Method Not Allowed \(optional: not blocking\); outdated see below\n- notifications: outdated nothing outdated\n/);
    expect(text).toContain('Outdated dependencies of messages (`npm outdated`):\n```\n… (');
    expect(text.length).toBeLessThan(2_000);
    expect(checksForGate([])).toBe('');
  });
});

describe('verification against an environment', () => {
  test('endpoints become the variables Kubernetes gives pods, from a services file or cluster DNS', async () => {
    const settings = settingsFrom(base);
    const services = settings.services;
    const dns = await resolveEndpoints({ name: 'dev', namespace: 'dev', verification: { endpoints: { host: '{{service}}.{{namespace}}.svc.cluster.local' } } }, services);
    expect(endpointVariables(dns, services)).toEqual({
      MESSAGES_SERVICE_HOST: 'messages.dev.svc.cluster.local',
      MESSAGES_SERVICE_PORT: '80',
      MESSAGES_SERVICE_PORT_HTTP: '80',
      MESSAGES_SERVICE_PORT_GRPC: '50051',
      NOTIFICATIONS_API_SERVICE_HOST: 'notifications-api.dev.svc.cluster.local',
      NOTIFICATIONS_API_SERVICE_PORT: '80',
      NOTIFICATIONS_API_SERVICE_PORT_HTTP: '80',
    });
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const file = join(await mkdtemp('/tmp/slipway-endpoints-'), 'services.json');
    await writeFile(file, JSON.stringify([{ namespace: 'dev', service: 'messages', ports: { grpc: '127.0.0.1:40001', http: '127.0.0.1:40002' } }, { namespace: 'staging', service: 'messages', ports: { grpc: '127.0.0.1:40003' } }]));
    const published = await resolveEndpoints({ name: 'dev', namespace: 'dev', verification: { endpoints: { host: 'unused', servicesFile: file } } }, services);
    expect(endpointVariables(published, services)).toEqual({ MESSAGES_SERVICE_HOST: '127.0.0.1', MESSAGES_SERVICE_PORT: '40002', MESSAGES_SERVICE_PORT_HTTP: '40002', MESSAGES_SERVICE_PORT_GRPC: '40001' });
    await writeFile(file, '{"not": "a list"}');
    await expect(resolveEndpoints({ name: 'dev', namespace: 'dev', verification: { endpoints: { host: 'unused', servicesFile: file } } }, services)).rejects.toThrow(/cannot read the service addresses of dev from .*services.json: not a list/);
  });

  test('a secret in the output is replaced by its name; the timeline keeps the tail of the output', () => {
    expect(redact('connecting to postgres://app:s3cret@db:5432/messages failed', { DATABASE_URL: 'postgres://app:s3cret@db:5432/messages' })).toBe('connecting to [DATABASE_URL] failed');
    const detail = verificationDetail({ command: 'npm run smoke', status: 'failed', reason: '`npm run smoke` exited 1', ms: 4200, output: `${'x'.repeat(3000)}\nnot ok 2 - stores a message` }, 1_000);
    expect(detail).toMatch(/^`npm run smoke` exited 1 after 4.2 s\n… \(\d+ earlier characters\)\n/);
    expect(detail).toMatch(/not ok 2 - stores a message$/);
    expect(detail.length).toBeLessThanOrEqual(1_000);
  });

  test("a passing verification says how many tests passed instead of its output's tail", () => {
    const tap = '# Subtest: is ready\nok 1 - is ready\n1..2\n# tests 4\n# suites 2\n# pass 4\n# fail 0\n# duration_ms 2373.8\n';
    expect(verificationDetail({ command: 'npm run smoke', status: 'passed', ms: 14_000, output: tap }, 1_000)).toBe('`npm run smoke` passed after 14.0 s: 4 tests, 4 passed, 0 failed');
    const jest = 'PASS test/a.test.ts\nTests:       2 passed, 2 total\nTime: 1 s\n';
    expect(verificationDetail({ command: 'npm run smoke', status: 'passed', ms: 1_000, output: jest }, 1_000)).toBe('`npm run smoke` passed after 1.0 s: 2 passed, 2 total');
    // Output a runner did not summarise keeps its tail.
    expect(verificationDetail({ command: './smoke.sh', status: 'passed', ms: 1_000, output: 'all good' }, 1_000)).toBe('`./smoke.sh` passed after 1.0 s\nall good');
  });

  test('config: verify names configured environments and needs the network; a world gives the services file', () => {
    expect(() => parseConfig({ ...base, services: [{ name: 'messages', path: 'm', verify: { qa: 'npm run smoke' } }], sandbox: { network: { commands: ['verify'] } } })).toThrow(/services\.0\.verify\.qa: "qa" is not listed under environments/);
    expect(() => parseConfig({ ...base, services: [{ name: 'messages', path: 'm', verify: { dev: 'npm run smoke' } }] })).toThrow(ConfigError);
    expect(() => parseConfig({ ...base, services: [{ name: 'messages', path: 'm', verify: { dev: 'npm run smoke' } }] })).toThrow(/add `verify` to sandbox.network.commands/);
    const world = resolveRunSettings(parseConfig({ ...base, world: { dir: '/srv/world/' } }));
    expect(world.environments.map((e) => e.verification.endpoints.servicesFile)).toEqual(['/srv/world/kubelet/services.json', '/srv/world/kubelet/services.json']);
    expect(resolveRunSettings(parseConfig(base)).environments[0]?.verification.endpoints.servicesFile).toBeUndefined();
  });
});

describe("the watch's own thresholds", () => {
  const settings = settingsFrom({ ...base, analysis: { watch: {} } });
  const watch = settings.watch!;
  const messages = serviceIn(settings, 'messages');

  test('defaults: 1 % errors, 500 ms p99, memory over an hour, database against the hour before the rollout', () => {
    expect(watch).toMatchObject({ duration: 86_400_000, interval: 300_000, errorRatio: 0.01, p99Seconds: 0.5 });
    const watched = watchedService(messages, watch, Date.UTC(2026, 10, 25, 12, 0, 0));
    expect(watched.slo).toMatchObject({ errorRatio: 0.01, p99Seconds: 0.5, methods: [] });
    expect(watched.slo.checks.map((c) => [c.name, c.threshold])).toEqual([
      ['SendMessage/error-ratio', 0.01],
      ['SendMessage/p99-latency', 0.5],
      ['memory-growth', 0.1],
      ['db-connections', 1.5],
      ['db-query-time', 1.5],
    ]);
    expect(watched.slo.checks[0]?.query).toContain('{{selector}},grpc_method="SendMessage",grpc_code!="OK"');
    // A stricter service SLO wins; no database or no rollout time: no database checks.
    const strict = { ...messages, slo: { ...messages.slo, errorRatio: 0.001 } };
    expect(watchedService(strict, watch, 0).slo.errorRatio).toBe(0.001);
    expect(watchedService(messages, watch).slo.checks.map((c) => c.name)).not.toContain('db-connections');
    expect(watchedService(serviceIn(settings, 'notifications'), watch, 0).slo.checks.map((c) => c.name)).toEqual(['memory-growth']);
  });

  test('memory is a slope per hour of live pods; database load is pinned to the baseline instant', () => {
    expect(memoryCheck(watch).query).toBe(
      'max((deriv(process_resident_memory_bytes{{{selector}}}[1h]) * 3600 / avg_over_time(process_resident_memory_bytes{{{selector}}}[1h])) and process_resident_memory_bytes{{{selector}}})',
    );
    const [connections, queryTime] = databaseChecks(watch, Date.UTC(2026, 10, 25, 12, 0, 0, 750));
    expect(connections?.query).toBe('avg_over_time(sum(db_client_connection_count{{{selector}}})[{{window}}:]) / clamp_min(avg_over_time(sum(db_client_connection_count{{{selector}}})[1h:] @ 1795608000), 2)');
    expect(queryTime?.query).toContain('sum(rate(db_client_operation_duration_seconds_sum{{{selector}}}[1h] @ 1795608000))');
    expect(queryTime?.query).toContain(', 0.005)');
  });

  test('the UI and CLI show the last sample of the watch with its own values', () => {
    expect(lastValues({ at: '', verdict: 'pass', detail: '', errorRatio: 0.001, p99Seconds: 0.12, memoryGrowthPerHour: 0.004, dbConnectionsRatio: 1, dbQueryTimeRatio: 1.14 })).toBe(
      'error ratio 0.10 % · p99 120 ms · memory +0.40 %/h · db connections 1.0× baseline · db query time 1.1× baseline',
    );
  });
});

test("slipway watch draws the watch's own values under its progress bar", async () => {
  // A state as the API serves it while the watch runs.
  const { renderRun } = await import('../../cli/render');
  const state: RunState = {
    ...initialRunState({ runId: 'feature-x-1', feature: 'Add real-time notifications', requester: 'alice', services: ['messages'], mode: 'agents', startedAt: '2026-11-25T10:00:00.000Z' }),
    phase: 'watch',
    watches: [
      {
        service: 'messages',
        environment: 'production',
        workflowId: 'feature-x-1/watch/messages',
        status: 'running' as const,
        analysis: { kind: 'watch' as const, planned: 289, samples: 37, segments: 1, failing: 0, decision: 'running' as const, last: { at: '', verdict: 'pass' as const, detail: '', errorRatio: 0.001, p99Seconds: 0.12, memoryGrowthPerHour: 0.004, dbConnectionsRatio: 1, dbQueryTimeRatio: 1.14 } },
      },
    ],
  };
  const lines = renderRun(state, { color: false, unicode: false, now: new Date('2026-11-25T12:00:00.000Z') });
  const at = lines.findIndex((l) => /watch\s+\[/.test(l) && l.includes('37/289'));
  expect(at).toBeGreaterThan(-1);
  expect(lines[at]).toContain('err 0.10%  p99 120ms');
  expect(lines[at + 1]).toBe('      mem +0.40%/h  db conn 1.0×  db query 1.1×  (messages)');
});
