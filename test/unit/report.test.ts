import { goCoveragePercent, istanbulSummaryPercent, lcovPercent } from '../../activities/repo/coverage';
import { grpcChanges, rpcSignatures } from '../../activities/repo/protoDiff';
import { MIGRATIONS_TABLE } from '../../activities/migrations/runner';
import { boundedReport, buildReport, MIGRATIONS_RECORD_TABLE, reportMarkdown, runReportSchema, shellWord, type ReportFacts, type ReportSettings } from '../../workflows/report';
import { runStateSchema, type RunState } from '../../workflows/state';
import { settingsFrom } from '../support/doubles';

const settings: ReportSettings = (() => {
  const all = settingsFrom({
    repository: { path: '/repo' },
    services: [
      {
        name: 'messages',
        path: 'services/messages',
        database: { urlEnv: 'MESSAGES_DATABASE_URL', urlEnvByEnvironment: { production: 'MESSAGES_PRODUCTION_DATABASE_URL' } },
        kubernetes: { deployment: 'messages' },
        slo: { errorRatio: 0.01, p99Seconds: 0.5 },
      },
      { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications' } },
    ],
    environments: [
      { name: 'staging', namespace: 'staging', kubeContext: 'kind-staging' },
      { name: 'production', namespace: 'prod', kubeContext: 'prod-eu', soak: { duration: '15m', interval: '15s' } },
    ],
    observability: { grafanaUrl: 'https://grafana.example.com/' },
    analysis: { watch: { duration: '24h', interval: '5m' } },
  });
  return { services: all.services, environments: all.environments, ...(all.watch ? { watch: all.watch } : {}), ...(all.observability ? { observability: all.observability } : {}) };
})();

const soak = (decision: 'passed' | 'failed', errorRatio: number, p99Seconds: number) => ({
  kind: 'soak' as const,
  planned: 60,
  samples: decision === 'passed' ? 60 : 3,
  segments: 1,
  failing: decision === 'passed' ? 0 : 2,
  decision,
  last: { at: '2026-11-25T10:20:00.000Z', verdict: decision === 'passed' ? ('pass' as const) : ('fail' as const), detail: `error-ratio ${errorRatio} > 0.01`, errorRatio, p99Seconds },
});

/** Delivered to staging and production; production's notifications soak failed and the run rolled back. */
const state: RunState = runStateSchema.parse({
  runId: 'feature-notify-k1',
  feature: 'Add real-time notifications',
  requester: 'alice',
  services: ['messages', 'notifications'],
  integrations: { messages: ['grpc', 'events', 'schema'], notifications: ['events'] },
  mode: 'agents',
  status: 'rolled-back',
  reason: 'notifications in production: soak failed at sample 3',
  phase: 'deploy',
  workspace: { branch: '002-notify', path: '/w', specDir: 'specs/002-notify' },
  gates: {},
  approvals: [{ gate: 'production', round: 1, decision: 'approve', by: 'lead', at: '2026-11-25T10:00:00.000Z', via: 'api', comment: 'a | b\nc' }],
  artifacts: [
    { phase: 'specify', kind: 'spec', path: 'specs/002-notify/spec.md' },
    { phase: 'prepare-deploy', kind: 'manifest', path: 'specs/002-notify/deploy/production/messages.yaml' },
  ],
  timeline: [{ at: '2026-11-25T09:00:00.000Z', phase: 'run', event: 'started', detail: 'requested by alice\nsecond line' }],
  timelineDropped: 0,
  images: [{ service: 'messages', reference: 'r/messages:abc', digest: 'sha256:1111', commit: 'abc' }],
  rollouts: [
    { service: 'messages', environment: 'staging', workflowId: 'w1', status: 'succeeded', migrations: ['20261125000000'], deployment: { deployment: 'messages', namespace: 'staging', revision: 4, previousRevision: 3, image: 'r/messages@sha256:1111', at: '2026-11-25T09:30:00.000Z' } },
    {
      service: 'messages',
      environment: 'production',
      workflowId: 'w2',
      status: 'succeeded',
      migrations: ['20261125000000', '20261125000100'],
      deployment: { deployment: 'messages', namespace: 'prod', revision: 7, previousRevision: 6, image: 'r/messages@sha256:1111', previousImage: 'r/messages@sha256:0000', at: '2026-11-25T10:05:00.000Z' },
      soak: soak('passed', 0.002, 0.12),
    },
    {
      service: 'notifications',
      environment: 'production',
      workflowId: 'w3',
      status: 'failed',
      migrations: [],
      deployment: { deployment: 'notifications', namespace: 'prod', revision: 1, image: 'r/notifications@sha256:2222' },
      soak: soak('failed', 0.2, 2.5),
      reason: 'soak failed at sample 3',
    },
  ],
  watches: [],
  compensations: [
    { name: 'roll back notifications in production', status: 'done', at: '2026-11-25T10:21:00.000Z' },
    { name: 'roll back messages in production', status: 'done' },
    { name: 'revert migrations 20261125000000, 20261125000100 of messages in production', status: 'failed', error: 'relation in use' },
    { name: 'roll back messages in staging', status: 'done' },
    { name: 'revert migrations 20261125000000 of messages in staging', status: 'done' },
  ],
  cost: { total: { inputTokens: 1000, outputTokens: 100, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.0045 }, byPhase: {} },
  startedAt: '2026-11-25T09:00:00.000Z',
  endedAt: '2026-11-25T10:22:00.000Z',
});

const facts: ReportFacts = {
  baseCommit: 'a'.repeat(40),
  headCommit: 'b'.repeat(40),
  services: [
    {
      service: 'messages',
      files: [
        { path: 'services/messages/proto/messages.proto', change: 'modified' },
        { path: 'services/messages/migrations/20261125000100_add_read_at.up.sql', change: 'added' },
      ],
      filesTotal: 45,
      protoFiles: ['services/messages/proto/messages.proto'],
      grpc: [{ service: 'messages.v1.Messages', method: 'Subscribe', change: 'added', signature: 'rpc Subscribe(SubscribeRequest) returns (stream Message)' }],
      grpcTotal: 1,
      events: { produces: ['message.created'], consumes: [] },
      migrations: [
        { version: '20261125000000', name: 'create_outbox', up: 'services/messages/migrations/20261125000000_create_outbox.up.sql', down: 'services/messages/migrations/20261125000000_create_outbox.down.sql', transactional: true },
        { version: '20261125000100', name: 'add_read_at', up: 'services/messages/migrations/20261125000100_add_read_at.up.sql', down: 'services/messages/migrations/20261125000100_add_read_at.down.sql', transactional: false },
      ],
      coverage: { percent: 83.4, format: 'istanbul', source: 'services/messages/coverage/coverage-summary.json' },
      performance: { regressionPercent: 2.5, baseline: 'main', source: 'services/messages/perf/result.json' },
      tracing: { endpoint: 'http://otel-collector:4318', source: 'production manifest of messages' },
      problems: [],
    },
    { service: 'notifications', files: [], filesTotal: 0, protoFiles: [], grpc: [], grpcTotal: 0, events: { produces: [], consumes: ['message.created'] }, migrations: [], problems: ['services/notifications/lcov.info: no LF: line counts'] },
  ],
  otherFiles: [{ path: 'specs/002-notify/spec.md', change: 'added' }],
  otherFilesTotal: 1,
  docs: [{ path: 'services/messages/README.md', change: 'modified' }],
  docsTotal: 1,
  observability: { dashboard: { path: 'specs/002-notify/observability/dashboard.json', uid: 'slipway-002-notify', title: 'Slipway · notify' }, alertsPath: 'specs/002-notify/observability/alerts.yaml', alerts: ['MessagesErrorRatioHigh', 'MessagesP99High'], alertsTotal: 2 },
  sandbox: 'bubblewrap',
  problems: [],
};

describe('buildReport', () => {
  const report = buildReport(state, facts, settings);

  test('is a valid report and the same for the same inputs', () => {
    expect(runReportSchema.parse(report)).toEqual(report);
    expect(buildReport(state, facts, settings)).toEqual(report);
    expect(report.final).toBe(true);
    expect(report.factsGathered).toBe(true);
  });

  test('services modified: files, gRPC methods, events and migrations per service', () => {
    const messages = report.servicesModified.find((s) => s.service === 'messages');
    expect(messages).toMatchObject({ integrations: ['grpc', 'events', 'schema'], filesTotal: 45, grpcTotal: 1, events: { produces: ['message.created'] }, migrations: ['20261125000000_create_outbox', '20261125000100_add_read_at'] });
    expect(report.servicesModified.find((s) => s.service === 'notifications')?.events.consumes).toEqual(['message.created']);
  });

  test('migrations per database and environment, and whether they were reverted', () => {
    expect(report.migrations).toEqual([
      { service: 'messages', environment: 'staging', database: 'MESSAGES_DATABASE_URL', versions: ['20261125000000'], state: 'undone' },
      { service: 'messages', environment: 'production', database: 'MESSAGES_PRODUCTION_DATABASE_URL', versions: ['20261125000000', '20261125000100'], state: 'undo-failed' },
    ]);
  });

  test('deployments: digest, when, result', () => {
    expect(report.deployments[1]).toMatchObject({ environment: 'production', service: 'messages', result: 'succeeded', digest: 'sha256:1111', at: '2026-11-25T10:05:00.000Z', revision: 7, previousRevision: 6, state: 'undone' });
    expect(report.deployments[2]).toMatchObject({ service: 'notifications', result: 'failed', soak: 'failed, 3/60 samples: error-ratio 0.2 > 0.01' });
  });

  test('observability: the dashboard URL comes from config, alert names and tracing from the branch', () => {
    expect(report.observability.dashboard).toEqual({ path: 'specs/002-notify/observability/dashboard.json', uid: 'slipway-002-notify', title: 'Slipway · notify', url: 'https://grafana.example.com/d/slipway-002-notify' });
    expect(report.observability.alerts).toEqual(['MessagesErrorRatioHigh', 'MessagesP99High']);
    expect(report.observability.tracing).toEqual([{ service: 'messages', endpoint: 'http://otel-collector:4318' }, { service: 'notifications' }]);
  });

  test('documentation: what git says changed, and what the run wrote', () => {
    expect(report.documentation.files).toEqual([
      { path: 'services/messages/README.md', change: 'modified' },
      { path: 'specs/002-notify/spec.md', change: 'written (spec)' },
    ]);
  });

  test('quality: coverage and performance from the branch, error ratio and P99 from the production soak', () => {
    expect(report.quality[0]).toMatchObject({ service: 'messages', coverage: { percent: 83.4 }, performance: { regressionPercent: 2.5 }, production: { errorRatio: 0.002, p99Seconds: 0.12, samples: 60 }, sloErrorRatio: 0.01 });
    expect(report.quality[1]).toMatchObject({ service: 'notifications', production: { decision: 'failed' } });
    expect(report.quality[1]?.coverage).toBeUndefined();
  });

  test('the rollback plan: newest change first, real names, contexts and revisions; what the run undid is marked', () => {
    expect(report.rollback.steps.map((s) => [s.service, s.environment, s.kind, s.state])).toEqual([
      ['notifications', 'production', 'deployment', 'undone'],
      ['messages', 'production', 'deployment', 'undone'],
      ['messages', 'production', 'migrations', 'undo-failed'],
      ['messages', 'staging', 'deployment', 'undone'],
      ['messages', 'staging', 'migrations', 'undone'],
    ]);
    const [created, messages, migrations] = report.rollback.steps;
    expect(created?.commands[0]).toBe('kubectl --context prod-eu -n prod delete deployment/notifications');
    expect(messages?.commands).toEqual(['kubectl --context prod-eu -n prod rollout undo deployment/messages --to-revision=6', 'kubectl --context prod-eu -n prod rollout status deployment/messages']);
    expect(messages?.note).toBe('revision 7 back to 6 (r/messages@sha256:0000)');
    // Newest version first; a no-transaction file is not wrapped in one.
    expect(migrations?.commands).toEqual([
      `psql "$MESSAGES_PRODUCTION_DATABASE_URL" -v ON_ERROR_STOP=1 -f services/messages/migrations/20261125000100_add_read_at.down.sql -c "DELETE FROM slipway_schema_migrations WHERE version = '20261125000100'"`,
      `psql "$MESSAGES_PRODUCTION_DATABASE_URL" -v ON_ERROR_STOP=1 --single-transaction -f services/messages/migrations/20261125000000_create_outbox.down.sql -c "DELETE FROM slipway_schema_migrations WHERE version = '20261125000000'"`,
    ]);
  });

  test('the table the rollback commands clear is the one the migration runner records in', () => {
    expect(MIGRATIONS_RECORD_TABLE).toBe(MIGRATIONS_TABLE);
  });

  test('monitoring: configured but never started when the run ended before production was delivered', () => {
    expect(report.monitoring).toEqual({ configured: true, durationMs: 86_400_000, intervalMs: 300_000, watches: [] });
    expect(buildReport(state, facts, { ...settings, watch: undefined } as ReportSettings).monitoring.configured).toBe(false);
  });
});

describe('before the run ends', () => {
  const running: RunState = { ...state, status: 'running', rollouts: [], compensations: [] };
  delete running.endedAt;
  const report = buildReport(running, undefined, settings);

  test('the report says it is not final and which facts are not gathered yet', () => {
    expect(report).toMatchObject({ final: false, factsGathered: false, deployments: [], rollback: { steps: [] } });
    const markdown = reportMarkdown(report);
    expect(markdown).toContain('- **Not final**');
    expect(markdown).toContain('- Files changed: ? (read from the branch when the run ends)');
  });

  test('without facts, a migration down command still names the layout\'s down file', () => {
    const withMigration = buildReport({ ...running, rollouts: [state.rollouts[0]!] }, undefined, settings);
    expect(withMigration.rollback.steps[1]?.commands).toEqual([
      `psql "$MESSAGES_DATABASE_URL" -v ON_ERROR_STOP=1 --single-transaction -f services/messages/migrations/20261125000000_*.down.sql -c "DELETE FROM slipway_schema_migrations WHERE version = '20261125000000'"`,
    ]);
  });
});

describe('reportMarkdown', () => {
  const markdown = reportMarkdown(buildReport(state, facts, settings));

  test('has every section of the summary, in the seed\'s order', () => {
    const sections = ['## Services modified', '## Migrations applied', '## Deployments', '## Observability', '## Documentation', '## Quality metrics', '## 24h monitoring', '## Rollback plan', '## Approvals', '## Compensations', '## Cost', '## Timeline'];
    const positions = sections.map((s) => markdown.indexOf(`\n${s}\n`));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  test('says how the run ended and why, with tables that survive pipes and newlines', () => {
    expect(markdown).toContain('- Status: **rolled-back** — notifications in production: soak failed at sample 3');
    expect(markdown).toContain('| production | 1 | approve | lead | 2026-11-25T10:00:00.000Z | a \\| b c |');
    expect(markdown).toContain('| messages | production | succeeded | 7 | r/messages@sha256:1111 | 2026-11-25T10:05:00.000Z | passed, 60/60 samples | yes |');
    expect(markdown).toContain('| messages | production | `MESSAGES_PRODUCTION_DATABASE_URL` | 20261125000000, 20261125000100 | REVERT FAILED |');
    expect(markdown).toContain('- 2026-11-25T09:00:00.000Z · run · started — requested by alice\n');
    expect(markdown).toContain('about $0.00');
  });

  test('shows metrics as people read them, and "not reported" when a service left no coverage', () => {
    expect(markdown).toContain('| messages | 83.4 % (istanbul, `services/messages/coverage/coverage-summary.json`) | +2.5 % vs main | 0.20 % (SLO 1.00 %) | 120 ms (SLO 500 ms) | passed, 60/60 samples in production |');
    expect(markdown).toMatch(/\| notifications \| not reported \| not reported \| 20\.00 % \(SLO 5\.00 %\) \| 2500 ms \(SLO 1000 ms\) \| failed, 3\/60 samples in production \|/);
    expect(markdown).toContain('- Grafana dashboard: `specs/002-notify/observability/dashboard.json` (Slipway · notify) — https://grafana.example.com/d/slipway-002-notify');
    expect(markdown).toContain('- added `messages.v1.Messages/Subscribe`: `rpc Subscribe(SubscribeRequest) returns (stream Message)`');
    expect(markdown).toContain('- Not read: services/notifications/lcov.info: no LF: line counts');
  });

  test('the rollback plan prints each step\'s commands by hand, marking what was already undone; only a delivered run names `slipway rollback`', () => {
    expect(markdown).toContain('To undo this run, run these steps by hand, newest change first');
    expect(markdown).not.toContain('slipway rollback');
    const delivered = reportMarkdown(buildReport({ ...state, status: 'succeeded', compensations: [] }, facts, settings));
    expect(delivered).toContain(`To undo this run, \`slipway rollback ${state.runId} -m "why"\` runs these steps, newest change first, once an approver other than you approves`);
    expect(delivered).toContain('  kubectl --context prod-eu -n prod rollout undo deployment/messages --to-revision=6\n');
    expect(markdown).toContain('- messages in production, migrations (versions 20261125000000, 20261125000100, newest first, from a checkout of the branch; 20261125000100 cannot run in a transaction, so each statement commits on its own) — **UNDO FAILED**:');
    expect(markdown).toContain('  kubectl --context prod-eu -n prod rollout undo deployment/messages --to-revision=6\n');
  });

  test('without a Grafana URL in config the report says where to set one', () => {
    const plain = reportMarkdown(buildReport(state, facts, { services: settings.services, environments: settings.environments }));
    expect(plain).toContain('no URL: set `observability.grafanaUrl` in the config');
    expect(plain).toContain('## 24-hour monitoring\n\nNot configured (config `analysis.watch`).');
  });
});

describe('the report stays bounded', () => {
  test('a huge timeline and file lists are cut to fit, counts kept', () => {
    const big: RunState = {
      ...state,
      timeline: Array.from({ length: 200 }, (_, i) => ({ at: '2026-11-25T09:00:00.000Z', phase: 'run' as const, event: `event ${i}`, detail: 'x'.repeat(1000) })),
    };
    const manyFiles: ReportFacts = { ...facts, services: facts.services.map((s) => ({ ...s, files: Array.from({ length: 40 }, (_, i) => ({ path: `${'p'.repeat(150)}/${i}`, change: 'added' as const })), filesTotal: 5000 })) };
    const report = buildReport(big, manyFiles, settings);
    expect(report.timeline).toHaveLength(40);
    expect(report.timelineOmitted).toBe(160);
    expect(report.timeline[0]?.detail?.length).toBeLessThanOrEqual(200);
    const bounded = boundedReport(report, 16_000);
    expect(JSON.stringify(bounded).length).toBeLessThanOrEqual(16_000);
    expect(bounded.servicesModified[0]?.filesTotal).toBe(5000);
    expect(boundedReport(buildReport(state, facts, settings), 16_000)).toEqual(buildReport(state, facts, settings));
  });
});

test('shell words: plain ones stay, others are single-quoted', () => {
  expect(shellWord('deployment/messages')).toBe('deployment/messages');
  expect(shellWord("it's here")).toBe(`'it'\\''s here'`);
});

describe('coverage files', () => {
  test('Istanbul / c8 json-summary: covered lines over all lines', () => {
    expect(istanbulSummaryPercent(JSON.stringify({ total: { lines: { total: 200, covered: 167, skipped: 0, pct: 83.5 } } }))).toBe(83.5);
    expect(istanbulSummaryPercent(JSON.stringify({ total: { lines: { total: 0, covered: 0, pct: 'Unknown' } } }))).toBe(100);
    expect(() => istanbulSummaryPercent('{"total":{}}')).toThrow(/no total.lines/);
    expect(() => istanbulSummaryPercent('not json')).toThrow(/not JSON/);
  });

  test('lcov: hit over found lines across records', () => {
    expect(lcovPercent('TN:\nSF:a.ts\nLF:10\nLH:9\nend_of_record\nSF:b.ts\nLF:30\nLH:21\nend_of_record\n')).toBe(75);
    expect(() => lcovPercent('SF:a.ts\n')).toThrow(/no LF/);
  });

  test('go: a cover profile counts each block once; `go test -cover` output is averaged per package', () => {
    const profile = ['mode: count', 'a.go:1.1,3.2 4 1', 'a.go:5.1,6.2 6 0', 'a.go:5.1,6.2 6 0', 'b.go:1.1,2.2 10 3'].join('\n');
    expect(goCoveragePercent(profile)).toBe(70);
    expect(goCoveragePercent('ok  \tx/a\t0.01s\tcoverage: 80.0% of statements\nok  \tx/b\t0.02s\tcoverage: 60.0% of statements\n')).toBe(70);
    expect(() => goCoveragePercent('PASS\n')).toThrow(/neither a cover profile/);
  });
});

describe('.proto changes', () => {
  const before = rpcSignatures('syntax = "proto3";\npackage messages.v1;\nservice Messages {\n  rpc Send(SendRequest) returns (SendReply);\n  rpc Old(A) returns (B);\n}\nmessage SendRequest {}\nmessage SendReply {}\nmessage A {}\nmessage B {}\n', 'before');

  test('added, changed (a stream now) and removed methods, by full service name', () => {
    const after = rpcSignatures(
      'syntax = "proto3";\npackage messages.v1;\nimport "google/protobuf/empty.proto";\nservice Messages {\n  // a comment\n  rpc Send(SendRequest) returns (stream SendReply);\n  rpc Subscribe(google.protobuf.Empty) returns (stream SendReply) {}\n}\nmessage SendRequest {}\nmessage SendReply {}\n',
      'after',
    );
    expect(grpcChanges(before, after)).toEqual([
      { service: 'messages.v1.Messages', method: 'Send', change: 'changed', signature: 'rpc Send(SendRequest) returns (stream SendReply)', was: 'rpc Send(SendRequest) returns (SendReply)' },
      { service: 'messages.v1.Messages', method: 'Subscribe', change: 'added', signature: 'rpc Subscribe(google.protobuf.Empty) returns (stream SendReply)' },
      { service: 'messages.v1.Messages', method: 'Old', change: 'removed', signature: 'rpc Old(A) returns (B)' },
    ]);
  });

  test('a file that is not a .proto is a clear error naming it', () => {
    expect(() => rpcSignatures('service {', 'services/x/api.proto')).toThrow(/^services\/x\/api.proto does not parse as a .proto/);
  });
});
