import { stripVTControlCharacters } from 'node:util';
import { decisionLine, fitLine, formatDuration, formatRatio, formatSeconds, progressBar, renderRun, shortDigest } from '../../cli/render';
import { formatCheck, renderEvidence, renderRunList, table } from '../../cli/tables';
import { ChangedLines, RedrawnBlock } from '../../cli/terminal';
import { emptyUsage, runStateSchema, type AnalysisSummary, type RunState } from '../../workflows/state';

const RUN = 'feature-add-real-time-notifications-when-users-demo-1';
const DIGEST = 'sha256:3f2a9c0d1e4b5a6978877665544332211000ffeeddccbbaa9988776655443322';

const soak = (samples: number, extra: Partial<AnalysisSummary> = {}): AnalysisSummary => ({
  kind: 'soak',
  planned: 10,
  samples,
  segments: 1,
  failing: 0,
  decision: 'running',
  last: { at: '2026-11-25T12:05:00.000Z', verdict: 'pass', detail: 'ok', errorRatio: 0.0012, p99Seconds: 0.12 },
  ...extra,
});

/** A run in production: dev done, production soaking, the production gate already approved. */
function runInProduction(overrides: Partial<RunState> = {}): RunState {
  return runStateSchema.parse({
    runId: RUN,
    feature: 'Add real-time notifications when users receive new messages',
    requester: 'alice',
    services: ['messages', 'notifications'],
    mode: 'agents',
    status: 'running',
    phase: 'deploy',
    environment: 'production',
    gates: {
      spec: { name: 'spec', status: 'approved', round: 1, openedAt: '2026-11-25T12:00:00.000Z', deadlineAt: '2026-11-28T12:00:00.000Z', summary: 'spec', approvers: ['lead'], fourEyes: false, decidedBy: 'lead' },
    },
    approvals: [],
    artifacts: [],
    timeline: [
      { at: '2026-11-25T12:00:00.000Z', phase: 'run', event: 'run started' },
      { at: '2026-11-25T12:01:00.000Z', phase: 'deploy', event: 'rollout of messages to dev started' },
      { at: '2026-11-25T12:04:00.000Z', phase: 'deploy', event: 'rollout of messages to production started', detail: 'revision 2' },
    ],
    timelineDropped: 0,
    images: [{ service: 'notifications', reference: '127.0.0.1:5001/notifications:abc', digest: DIGEST, commit: 'abc' }],
    rollouts: [
      { service: 'messages', environment: 'dev', workflowId: 'w1', status: 'succeeded', step: 'done', migrations: [], deployment: { deployment: 'messages', namespace: 'dev', revision: 2, image: `127.0.0.1:5001/messages@${DIGEST}` } },
      { service: 'notifications', environment: 'dev', workflowId: 'w2', status: 'succeeded', step: 'done', migrations: [] },
      { service: 'messages', environment: 'production', workflowId: 'w3', status: 'running', step: 'soak', migrations: [], deployment: { deployment: 'messages', namespace: 'production', revision: 5, image: `127.0.0.1:5001/messages@${DIGEST}` }, soak: soak(6) },
    ],
    watches: [],
    compensations: [{ name: 'roll back messages in dev', status: 'armed' }],
    cost: { total: emptyUsage(), byPhase: {} },
    startedAt: '2026-11-25T12:00:00.000Z',
    ...overrides,
  });
}

const pendingGate = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  status: 'pending' as const,
  round: 1,
  openedAt: '2026-11-25T12:03:00.000Z',
  deadlineAt: '2026-11-28T12:03:00.000Z',
  summary: 'Deploy to production:\n- messages@sha256:3f2a9c0d1e4b\n- notifications\n\u001b[31mred\u001b[0m line',
  approvers: ['lead'],
  fourEyes: true,
  ...extra,
});

describe('renderRun', () => {
  test('a soaking run: header, rollouts per environment with revision, digest and a soak bar with the latest error ratio and p99', () => {
    const lines = renderRun(runInProduction(), { utc: true, now: new Date('2026-11-25T12:05:30.000Z') });
    expect(lines.slice(0, 3)).toEqual([
      `${RUN}  ● running`,
      '  Add real-time notifications when users receive new messages',
      '  phase deploy (production) · requested by alice · started 12:00:00, for 5m30s',
    ]);
    expect(lines).toContain('  gates  spec ✓ lead');
    expect(lines).toContain('  rollouts');
    expect(lines).toContain('    dev         messages       ✓ done           rev 2  sha256:3f2a9c0d1e4b');
    // The image digest comes from the build when the deployment does not name one.
    expect(lines).toContain('    dev         notifications  ✓ done           sha256:3f2a9c0d1e4b');
    expect(lines).toContain('    production  messages       ● soak           rev 5  sha256:3f2a9c0d1e4b');
    expect(lines).toContain('      soak  [████████████░░░░░░░░] 6/10  err 0.12%  p99 120ms  (messages, production)');
    // The soak has its own line, so an 80-column terminal shows all of its progress.
    expect(renderRun(runInProduction(), { width: 80 })).toContainEqual(expect.stringMatching(/^ {6}soak {2}\[█+░+\] 6\/10 {2}err 0\.12% {2}p99 120ms/));
    expect(lines).toContain('  compensations: 1 armed (undone in reverse if the run fails)');
    expect(lines.slice(-4)).toEqual([
      '  timeline',
      '    12:00:00  run           run started',
      '    12:01:00  deploy        rollout of messages to dev started',
      '    12:04:00  deploy        rollout of messages to production started — revision 2',
    ]);
  });

  test('a pending gate says what it asks, who may decide, and how to approve or reject it; control characters never pass', () => {
    const state = runInProduction({ status: 'awaiting-approval', gates: { production: pendingGate('production') } as RunState['gates'] });
    const lines = renderRun(state, { utc: true, gateSummaryLines: 2 });
    const at = lines.findIndex((l) => l.includes('gate production is waiting'));
    expect(lines.slice(at, at + 6)).toEqual([
      '  ▶ gate production is waiting — approvers: lead, not alice (four-eyes); expires 2026-11-28 12:03',
      '      Deploy to production:',
      '      - messages@sha256:3f2a9c0d1e4b',
      `      … 2 more line(s): slipway status ${RUN}`,
      `      approve: slipway approve ${RUN} production [-m "comment"]`,
      `      reject:  slipway reject ${RUN} production -m "what to change"`,
    ]);
    expect(lines[1]).toBe('  Add real-time notifications when users receive new messages');
    expect(renderRun(state, { gateSummaryLines: 10 }).join('\n')).not.toContain('\u001b');
    expect(renderRun(state, { hints: false }).join('\n')).not.toMatch(/slipway approve/);
  });

  test("a person's step asks for the commit, then the approval", () => {
    const state = runInProduction({ mode: 'person', gates: { tasks: pendingGate('tasks', { personStep: true, approvers: [], fourEyes: false, summary: 'write tasks.md' }) } as RunState['gates'] });
    const lines = renderRun(state, { utc: true });
    expect(lines).toContain('  ▶ gate tasks is waiting — any approver; expires 2026-11-28 12:03');
    expect(renderRun(state, { utc: true, now: new Date('2026-11-25T12:03:00.000Z') })).toContain('  ▶ gate tasks is waiting — any approver; expires 2026-11-28 12:03 (in 3d00h)');
    expect(lines).toContain(`      when it is committed: slipway approve ${RUN} tasks`);
  });

  test('a gate that needs several approvals shows how far it has got', () => {
    const approvedBy = [{ by: 'lead', at: '2026-11-25T12:04:00.000Z', via: 'api' as const }];
    const state = runInProduction({ status: 'awaiting-approval', gates: { production: pendingGate('production', { approvers: ['lead', 'sre', 'ops'], approvalsRequired: 2, approvedBy }) } as RunState['gates'] });
    expect(renderRun(state, { utc: true })).toContain('  ▶ gate production is waiting — 1 of 2 approvals: lead; approvers: lead, sre, ops, not alice (four-eyes); expires 2026-11-28 12:03');
    const spec = runInProduction({ status: 'awaiting-approval', gates: { spec: pendingGate('spec', { fourEyes: false, approvers: [], approvalsRequired: 2, approvedBy: [] }) } as RunState['gates'] });
    expect(renderRun(spec, { utc: true })).toContain('  ▶ gate spec is waiting — 0 of 2 approvals; any approver, not alice (four-eyes); expires 2026-11-28 12:03');
    const first = pendingGate('production', { approvalsRequired: 2, approvedBy }) as RunState['gates'][string];
    expect(decisionLine(RUN, 'approve', first)).toBe(`approval recorded on gate production (round 1) of ${RUN}: 1 of 2 approvals: lead; it waits for the others`);
    expect(decisionLine(RUN, 'approve', { ...first, status: 'approved', decidedBy: 'lead, sre' })).toBe(`approved gate production (round 1) of ${RUN} as lead, sre`);
  });

  test('a rolled-back run shows why, the failed rollout, the failing soak and what was undone', () => {
    const state = runInProduction({
      status: 'rolled-back',
      reason: 'soak of messages in production failed: error ratio 12% > 5%',
      endedAt: '2026-11-25T12:07:05.000Z',
      rollouts: [
        {
          service: 'messages',
          environment: 'production',
          workflowId: 'w3',
          status: 'failed',
          step: 'rolling-back',
          migrations: [],
          soak: soak(3, { decision: 'failed', failing: 2, last: { at: '2026-11-25T12:06:00.000Z', verdict: 'fail', detail: 'x', errorRatio: 0.12, p99Seconds: 1.5 } }),
          reason: 'error ratio 12% > 5%',
        },
      ],
      compensations: [
        { name: 'roll back messages in production', status: 'done' },
        { name: 'revert migrations of messages in production', status: 'failed', error: 'connection refused' },
      ],
    });
    const lines = renderRun(state, { utc: true, timeline: 0, unicode: false });
    expect(lines[0]).toBe(`${RUN}  x rolled back`);
    expect(lines[2]).toBe('  phase deploy (production) | requested by alice | started 12:00:00, took 7m05s');
    expect(lines[3]).toBe('  reason: soak of messages in production failed: error ratio 12% > 5%');
    expect(lines).toContain('    production  messages  x rolling back');
    expect(lines).toContain('      soak  [######--------------] 3/10  failed  err 12.0%  p99 1.50s  2 failing  (messages, production)');
    expect(lines).toContain('      error ratio 12% > 5%');
    expect(lines).toContain('    + done    roll back messages in production');
    expect(lines).toContain('    x failed  revert migrations of messages in production - connection refused');
    expect(lines.join('\n')).not.toMatch(/timeline/);
  });

  test('the post-deploy watch has its own bar', () => {
    const state = runInProduction({ phase: 'watch', watches: [{ service: 'messages', environment: 'production', workflowId: 'w9', status: 'running', analysis: { ...soak(30), kind: 'watch', planned: 288 } }] });
    expect(renderRun(state)).toContain('    production  messages  watch  [██░░░░░░░░░░░░░░░░░░] 30/288  err 0.12%  p99 120ms');
  });

  test('with a width every line fits, colours included; timeline counts what it leaves out', () => {
    const state = runInProduction({ timelineDropped: 10 });
    const lines = renderRun(state, { width: 40, color: true, timeline: 1 });
    for (const line of lines) expect(stripVTControlCharacters(line).length).toBeLessThanOrEqual(40);
    expect(lines.some((l) => l.includes('\u001b['))).toBe(true);
    expect(stripVTControlCharacters(lines.find((l) => l.includes('timeline')) ?? '')).toBe('  timeline (12 earlier)');
  });
});

describe('formatting', () => {
  test.each([
    [0, 10, '[░░░░░░░░░░] 0/10'],
    [5, 10, '[█████░░░░░] 5/10'],
    [10, 10, '[██████████] 10/10'],
    [12, 10, '[██████████] 12/10'],
    [0, 0, '[░░░░░░░░░░] 0/0'],
  ])('progressBar(%i, %i)', (done, total, bar) => {
    expect(progressBar(done, total, 10)).toBe(bar);
  });

  test('ratios, seconds, durations, digests', () => {
    expect([formatRatio(0), formatRatio(0.0012), formatRatio(0.05), formatRatio(1)]).toEqual(['0.0%', '0.12%', '5.0%', '100.0%']);
    expect([formatSeconds(0.0004), formatSeconds(0.25), formatSeconds(1.5)]).toEqual(['0ms', '250ms', '1.50s']);
    expect([formatDuration(999), formatDuration(61_000), formatDuration(3_720_000), formatDuration(90_000_000)]).toEqual(['0s', '1m01s', '1h02m', '1d01h']);
    expect(shortDigest(`reg/messages@${DIGEST}`)).toBe('sha256:3f2a9c0d1e4b');
    expect(shortDigest('reg/messages:latest')).toBeUndefined();
  });

  test('fitLine cuts visible characters only and closes colours', () => {
    expect(fitLine('abcdef', 6)).toBe('abcdef');
    expect(fitLine('abcdefg', 6)).toBe('abcde…');
    const cut = fitLine('\u001b[1mabcdefgh\u001b[22m', 4);
    expect(stripVTControlCharacters(cut)).toBe('abc…');
    expect(cut.endsWith('\u001b[0m')).toBe(true);
  });
});

describe('tables', () => {
  test('columns line up; the last is not padded', () => {
    expect(table(['A', 'BB'], [['long', 'x'], ['s', 'yy']])).toEqual(['A     BB', 'long  x', 's     yy']);
  });

  test('runs: status falls back to the Temporal status while visibility catches up', () => {
    const lines = renderRunList(
      [
        { runId: 'feature-a-1', feature: 'Add a thing', status: 'awaiting-approval', phase: 'specify', services: [], startedAt: '2026-11-25T12:00:00.000Z', temporalStatus: 'RUNNING' },
        { runId: 'feature-b-2', services: ['messages', 'notifications'], startedAt: '2026-11-25T13:30:00.000Z', temporalStatus: 'RUNNING' },
      ],
      { utc: true },
    );
    expect(lines).toEqual([
      'RUN          STATUS             PHASE    SERVICES                STARTED           FEATURE',
      'feature-a-1  awaiting-approval  specify  -                       2026-11-25 12:00  Add a thing',
      'feature-b-2  running            -        messages,notifications  2026-11-25 13:30',
    ]);
    expect(renderRunList([])).toEqual(['no runs match']);
  });

  test("evidence: each check's value against its threshold, which way it fails, and no data or errors", () => {
    const check = (name: string, value: number | undefined, threshold: number, status: 'pass' | 'fail' | 'no-data' | 'error', failWhen: 'above' | 'below' = 'above') => ({
      name,
      query: 'q',
      ...(value !== undefined ? { value } : {}),
      threshold,
      failWhen,
      status,
      noData: 'fail' as const,
      detail: '',
    });
    expect(formatCheck(check('error-ratio', 0.0012, 0.05, 'pass'))).toBe('0.0012 ≤ 0.05');
    expect(formatCheck(check('error-ratio', 0.12, 0.05, 'fail'))).toBe('0.12 > 0.05 FAIL');
    expect(formatCheck(check('throughput', 3, 10, 'fail', 'below'))).toBe('3 < 10 FAIL');
    expect(formatCheck(check('p99-latency', undefined, 1, 'no-data'))).toBe('no data (> 1 fails)');

    const lines = renderEvidence(
      {
        runId: RUN,
        service: 'messages',
        environment: 'production',
        kind: 'soak',
        page: 1,
        pageSize: 20,
        pages: 1,
        total: 2,
        samples: [
          { service: 'messages', environment: 'production', at: '2026-11-25T12:05:00.000Z', sample: 1, verdict: 'pass', detail: 'ok', requests: 240, decision: 'continue', checks: [check('error-ratio', 0.0012, 0.05, 'pass'), check('p99-latency', 0.12, 1, 'pass')] },
          { service: 'messages', environment: 'production', at: '2026-11-25T12:05:15.000Z', sample: 2, verdict: 'inconclusive', detail: 'prometheus down', error: 'ECONNREFUSED' },
        ],
      },
      { utc: true },
    );
    expect(lines).toEqual([
      'soak of messages in production: 2 sample(s), page 1 of 1',
      '',
      '#  TIME      VERDICT       DECISION  REQUESTS  ERROR-RATIO    P99-LATENCY  NOTE',
      '1  12:05:00  pass          continue  240       0.0012 ≤ 0.05  0.12 ≤ 1     ok',
      '2  12:05:15  inconclusive  -         -         -              -            ECONNREFUSED',
    ]);
  });
});

describe('live views', () => {
  const sink = () => {
    const writes: string[] = [];
    return { writes, out: { write: (text: string) => void writes.push(text), rows: 24 } };
  };

  test('on a terminal the block is redrawn in place', () => {
    const { writes, out } = sink();
    const block = new RedrawnBlock(out);
    block.show(['a', 'b']);
    block.show(['a', 'c', 'd']);
    expect(writes).toEqual(['\r\u001b[Ja\nb\n', '\u001b[2A\r\u001b[Ja\nc\nd\n']);
  });

  test('a block taller than the terminal is cut to fit, so the redraw can climb back over it', () => {
    const { writes, out } = sink();
    new RedrawnBlock({ ...out, rows: 5 }).show(['1', '2', '3', '4', '5', '6']);
    expect(writes).toEqual(['\r\u001b[J1\n2\n3\n  … 3 more line(s): slipway status\n']);
  });

  test('in a log only new or changed lines are printed', () => {
    const { writes, out } = sink();
    const view = new ChangedLines(out);
    view.show(['run', 'soak 1/4']);
    view.show(['run', 'soak 1/4']);
    view.show(['run', 'soak 2/4']);
    expect(writes).toEqual(['run\nsoak 1/4\n', 'soak 2/4\n']);
  });
});
