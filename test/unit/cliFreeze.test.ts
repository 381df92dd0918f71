import type { FreezeReply } from '../../api/schemas';
import { EXIT } from '../../cli/exitCodes';
import { renderFreeze, renderRun } from '../../cli/render';
import { renderRunList } from '../../cli/tables';
import { initialRunState, runStateSchema } from '../../workflows/state';
import { runSlipway, transport } from '../support/cliHarness';

const run = runSlipway;

const frozen: FreezeReply = {
  frozen: true,
  manual: { by: 'lead', at: '2026-11-27T15:00:00.000Z', reason: 'incident 42' },
  windows: [],
  history: [{ action: 'freeze', by: 'lead', at: '2026-11-27T15:00:00.000Z', reason: 'incident 42' }],
  waitingRuns: ['feature-x-1'],
};

test('freeze -m sends the reason; --status asks; no reason is a usage error before any request', async () => {
  const api = transport({ body: frozen });
  const result = await run(['freeze', '-m', 'incident 42'], api.fetch);
  expect(result.code).toBe(EXIT.ok);
  expect(result.stdout).toContain('production is frozen');
  expect(result.stdout).toContain('held: feature-x-1');
  expect((await run(['freeze', '--status'], api.fetch)).code).toBe(EXIT.ok);
  expect((await run(['unfreeze', '-m', 'recovered'], api.fetch)).code).toBe(EXIT.ok);
  expect(api.sent).toEqual([
    { method: 'POST', path: '/freeze', body: { reason: 'incident 42' } },
    { method: 'GET', path: '/freeze', body: undefined },
    { method: 'POST', path: '/unfreeze', body: { comment: 'recovered' } },
  ]);
  const none = await run(['freeze'], api.fetch);
  expect(none.code).toBe(EXIT.usage);
  expect(none.stderr).toMatch(/needs a reason/);
  expect((await run(['freeze', '-m', 'x', '--status'], api.fetch)).code).toBe(EXIT.usage);
  expect(api.sent).toHaveLength(3);
});

test('refusals keep their exit codes: requester 403 → 4, already frozen 409 → 5; --json prints the reply', async () => {
  const forbidden = await run(['freeze', '-m', 'x'], transport({ status: 403, body: { statusCode: 403, error: 'Forbidden', message: 'alice has the requester role and may not freeze production' } }).fetch);
  expect(forbidden).toMatchObject({ code: EXIT.forbidden, stderr: 'slipway: alice has the requester role and may not freeze production\n' });
  const conflict = await run(['unfreeze'], transport({ status: 409, body: { statusCode: 409, error: 'Conflict', message: 'production is not frozen by hand' } }).fetch);
  expect(conflict.code).toBe(EXIT.conflict);
  const json = await run(['--json', 'freeze', '--status'], transport({ body: frozen }).fetch);
  expect(JSON.parse(json.stdout)).toEqual(frozen);
});

test('override-freeze needs a comment and posts it for the run', async () => {
  const api = transport({ body: { runId: 'feature-x-1', override: { by: 'carol', at: '2026-11-27T16:00:00.000Z', comment: 'hotfix' } } });
  expect((await run(['override-freeze', 'feature-x-1', '-m', ' '], api.fetch)).code).toBe(EXIT.usage);
  const ok = await run(['override-freeze', 'feature-x-1', '-m', 'hotfix'], api.fetch);
  expect(ok.code).toBe(EXIT.ok);
  expect(ok.stdout).toContain('overrode the production freeze for feature-x-1 as carol');
  expect(api.sent).toEqual([{ method: 'POST', path: '/runs/feature-x-1/freeze-override', body: { comment: 'hotfix' } }]);
});

test('a held run says why, until when, and how to lift or override it', () => {
  const state = runStateSchema.parse({
    ...initialRunState({ runId: 'feature-x-1', feature: 'Add real-time notifications when users receive new messages', requester: 'alice', services: ['messages'], mode: 'agents', startedAt: '2026-11-27T14:00:00.000Z' }),
    phase: 'deploy',
    environment: 'production',
    frozen: { since: '2026-11-27T15:00:00.000Z', service: 'messages', detail: 'waiting: production freeze window weekend until 2026-11-30T07:00:00.000Z', windows: ['weekend'], until: '2026-11-30T07:00:00.000Z' },
  });
  const lines = renderRun(state, { utc: true, now: new Date('2026-11-28T07:00:00.000Z') });
  expect(lines).toContain('  ▶ messages to production is held — waiting: production freeze window weekend until 2026-11-30T07:00:00.000Z');
  expect(lines).toContain('      the window closes 2026-11-30 07:00 (in 2d00h); the rollout then starts by itself');
  expect(lines).toContain('      emergency:  slipway override-freeze feature-x-1 -m "why it cannot wait" (an approver, not alice)');
  expect(lines.some((l) => l.includes('slipway unfreeze'))).toBe(false);
});

test('the freeze status: who froze and why, windows, held runs, history', () => {
  expect(renderFreeze({ ...frozen, windows: [{ name: 'weekend', timeZone: 'Europe/Berlin' }], windowsUntil: '2026-11-30T07:00:00.000Z' }, { utc: true })).toEqual([
    'production is frozen',
    '  by lead since 2026-11-27 15:00: incident 42',
    '  window weekend (Europe/Berlin) until 2026-11-30 07:00',
    '  held: feature-x-1',
    '  history',
    '    2026-11-27 15:00  freeze   lead: incident 42',
  ]);
  expect(renderFreeze({ frozen: false, windows: [], history: [], waitingRuns: [] })).toEqual(['production is not frozen']);
});

test('the run list marks a held run', () => {
  const [, row] = renderRunList([{ runId: 'feature-x-1', status: 'running', phase: 'deploy:production', services: ['messages'], held: 'waiting: production frozen by lead — incident 42', startedAt: '2026-11-27T14:00:00.000Z', temporalStatus: 'RUNNING' }], { utc: true });
  expect(row).toContain('running (held by a freeze)');
});
