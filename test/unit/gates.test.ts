import { gateBlocks } from '../../activities/slack/messages';
import { Gates } from '../../workflows/gates';
import { progressOf, type RunState } from '../../workflows/state';

const rule = (extra: Partial<{ required: boolean; approvers: string[]; approvals: number; deadline: number; overrideBy: string[] }> = {}) => ({ required: true, approvers: [], deadline: 3_600_000, ...extra });
const now = new Date('2026-11-25T10:00:00.000Z');
const later = (s: number) => new Date(now.getTime() + s * 1_000);

function newGates() {
  const state: Pick<RunState, 'runId' | 'requester' | 'gates' | 'approvals'> = { runId: 'run-1', requester: 'alice', gates: {}, approvals: [] };
  let changes = 0;
  return { state, gates: new Gates(state, () => changes++), changes: () => changes };
}

const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return (err as { type?: string }).type;
  }
  return undefined;
};

test('a gate opens pending with its deadline; one that config does not require is approved by policy, on the record', () => {
  const { state, gates, changes } = newGates();
  const open = gates.open({ name: 'spec', rule: rule({ deadline: 90_000 }), summary: 'review it' }, now);
  expect(open).toMatchObject({ status: 'pending', round: 1, openedAt: now.toISOString(), deadlineAt: '2026-11-25T10:01:30.000Z', fourEyes: false });
  const auto = gates.open({ name: 'dev', rule: rule({ required: false }), summary: 'deploy' }, now);
  expect(auto).toMatchObject({ status: 'approved', decidedBy: 'policy' });
  expect(state.approvals).toEqual([{ gate: 'dev', round: 1, decision: 'auto-approve', by: 'policy', at: now.toISOString(), comment: 'gate not required by config', via: 'policy' }]);
  expect(changes()).toBe(2);
});

test('the validator refuses what cannot be decided, with a type the API maps to a status', () => {
  const { gates } = newGates();
  gates.open({ name: 'production', rule: rule({ approvers: ['lead', 'alice'] }), summary: 's', fourEyes: true }, now);
  expect(refusal(() => gates.validate({ gate: 'nope', decision: 'approve', approver: 'lead' }))).toBe('UnknownGate');
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'approve', approver: 'mallory' }))).toBe('ApproverNotAllowed');
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'approve', approver: 'alice' }))).toBe('FourEyes');
  // The requester may still reject: four-eyes is about letting a change through.
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'reject', approver: 'alice', comment: 'not yet' }))).toBeUndefined();
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'reject', approver: 'lead', comment: '   ' }))).toBe('CommentRequired');
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'maybe' as never, approver: 'lead' }))).toBe('InvalidDecision');
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'approve', approver: ' ' }))).toBe('InvalidDecision');
  expect(refusal(() => gates.validate(null as never))).toBe('InvalidDecision');
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'approve', approver: 'lead' }))).toBeUndefined();
});

test('a decision is audited once; a second one, or one for an older round, is refused', () => {
  const { state, gates } = newGates();
  gates.open({ name: 'spec', rule: rule(), summary: 'v1' }, now);
  gates.apply({ gate: 'spec', decision: 'reject', approver: 'lead', comment: ' Cover offline users. ', via: 'slack' }, now);
  expect(state.gates.spec).toMatchObject({ status: 'rejected', decidedBy: 'lead', comment: 'Cover offline users.' });
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'lead' }))).toBe('GateNotPending');
  // The revised spec opens round 2; a button from round 1 no longer decides anything.
  expect(gates.open({ name: 'spec', rule: rule(), summary: 'v2' }, now).round).toBe(2);
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'lead', round: 1 }))).toBe('GateNotPending');
  gates.apply({ gate: 'spec', decision: 'approve', approver: 'lead', round: 2 }, now);
  expect(state.approvals.map((a) => [a.decision, a.round, a.via])).toEqual([
    ['reject', 1, 'slack'],
    ['approve', 2, 'api'],
  ]);
});

test("a person's step found incomplete reopens with the problems; closing a run closes what still waits", () => {
  const { state, gates } = newGates();
  const first = gates.open({ name: 'plan', rule: rule({ deadline: 60_000 }), summary: 'write plan.md', personStep: true }, now);
  gates.apply({ gate: 'plan', decision: 'approve', approver: 'lead' }, now);
  const reopened = gates.reopen(first, ['plan.md names services that are not configured: billing'], 'write plan.md', new Date(now.getTime() + 1_000));
  expect(reopened).toMatchObject({ status: 'pending', round: 2, personStep: true, deadlineAt: '2026-11-25T10:01:01.000Z' });
  expect(reopened.summary).toMatch(/^Slipway checked what was committed and found:\n- plan\.md names services that are not configured: billing\n\nwrite plan\.md$/);
  expect(state.approvals.at(-1)).toMatchObject({ decision: 'reopen', by: 'slipway', comment: 'plan.md names services that are not configured: billing' });

  const closed = gates.closePending('cancelled by alice', now);
  expect(closed.map((g) => g.name)).toEqual(['plan']);
  expect(state.gates.plan).toMatchObject({ status: 'closed', comment: 'cancelled by alice' });
  expect(state.approvals.at(-1)).toMatchObject({ gate: 'plan', decision: 'close', by: 'run', via: 'run' });
  expect(gates.closePending('again', now)).toEqual([]);
});

test('a summary too long for the state is clipped, saying how much was cut', () => {
  const { gates } = newGates();
  const record = gates.open({ name: 'migration-review', rule: rule(), summary: 'x'.repeat(20_000) }, now);
  expect(record.summary.length).toBeLessThanOrEqual(8_000);
  expect(record.summary).toMatch(/… \(\d+ more\)$/);
});

test('a gate that needs two approvals stays pending after the first, records each, and opens on the second distinct one', () => {
  const { state, gates } = newGates();
  const opened = gates.open({ name: 'spec', rule: rule({ approvals: 2 }), summary: 's' }, now);
  expect(opened).toMatchObject({ status: 'pending', approvalsRequired: 2, approvedBy: [] });
  expect(progressOf(opened)).toBe('0 of 2 approvals');

  const first = gates.apply({ gate: 'spec', decision: 'approve', approver: 'lead', comment: ' looks right ', via: 'slack' }, later(1));
  expect(first.status).toBe('pending');
  expect(progressOf(first)).toBe('1 of 2 approvals: lead');
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'lead' }))).toBe('AlreadyApproved');
  // The requester never counts toward several approvals, even where four-eyes is not set.
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'alice' }))).toBe('FourEyes');
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'sre' }))).toBeUndefined();

  const second = gates.apply({ gate: 'spec', decision: 'approve', approver: 'sre' }, later(2));
  expect(second).toMatchObject({ status: 'approved', decidedBy: 'lead, sre', decidedAt: later(2).toISOString() });
  expect(second.approvedBy).toEqual([
    { by: 'lead', at: later(1).toISOString(), comment: 'looks right', via: 'slack' },
    { by: 'sre', at: later(2).toISOString(), via: 'api' },
  ]);
  expect(state.approvals.map((a) => [a.decision, a.by, a.at, a.comment, a.via])).toEqual([
    ['approve', 'lead', later(1).toISOString(), 'looks right', 'slack'],
    ['approve', 'sre', later(2).toISOString(), undefined, 'api'],
  ]);
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'ops' }))).toBe('GateNotPending');
});

test('an override approves alone: only by the gate\'s overrideBy, never the requester, only with a reason, audited as an override', () => {
  const { state, gates } = newGates();
  const opened = gates.open({ name: 'production', rule: rule({ approvals: 3, approvers: ['lead', 'sre', 'ops', 'dana'], overrideBy: ['sre-lead', 'alice'] }), summary: 's', fourEyes: true }, now);
  expect(opened.overrideBy).toEqual(['sre-lead', 'alice']);
  gates.apply({ gate: 'production', decision: 'approve', approver: 'lead' }, later(1));

  const override = (approver: string, extra: object = {}) => ({ gate: 'production', decision: 'approve' as const, approver, comment: 'payments are down; the fix cannot wait', override: true, ...extra });
  // Not named for it, even an allowed approver.
  expect(refusal(() => gates.validate(override('sre')))).toBe('ApproverNotAllowed');
  // Named for it, but the requester.
  expect(refusal(() => gates.validate(override('alice')))).toBe('FourEyes');
  expect(refusal(() => gates.validate(override('sre-lead', { comment: '  ' })))).toBe('CommentRequired');
  expect(refusal(() => gates.validate(override('sre-lead', { decision: 'reject' })))).toBe('InvalidDecision');
  expect(refusal(() => gates.validate({ ...override('sre-lead'), override: 'yes' } as never))).toBe('InvalidDecision');
  expect(refusal(() => gates.validate(override('sre-lead')))).toBeUndefined();

  const decided = gates.apply(override('sre-lead', { via: 'temporal' }), later(2));
  expect(decided).toMatchObject({ status: 'approved', decidedBy: 'sre-lead', comment: 'override: payments are down; the fix cannot wait' });
  expect(state.approvals.map((a) => `${a.decision}:${a.by}:${a.via}`)).toEqual(['approve:lead:api', 'override:sre-lead:temporal']);
  // A gate whose policy names nobody cannot be overridden.
  gates.open({ name: 'spec', rule: rule({ approvals: 2, approvers: ['lead', 'sre', 'ops'] }), summary: 's' }, now);
  expect(refusal(() => gates.validate({ ...override('lead'), gate: 'spec' }))).toBe('ApproverNotAllowed');
});

test('a rejection by any allowed approver rejects at once, even after approvals; a new round starts with none', () => {
  const { gates } = newGates();
  gates.open({ name: 'production', rule: rule({ approvals: 2, approvers: ['lead', 'sre', 'ops'] }), summary: 's', fourEyes: true }, now);
  gates.apply({ gate: 'production', decision: 'approve', approver: 'lead' }, now);
  // Four-eyes is about letting a change through: the requester may still reject, like anyone allowed.
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'reject', approver: 'mallory', comment: 'no' }))).toBe('ApproverNotAllowed');
  const rejected = gates.apply({ gate: 'production', decision: 'reject', approver: 'sre', comment: 'error budget spent' }, now);
  expect(rejected).toMatchObject({ status: 'rejected', decidedBy: 'sre', comment: 'error budget spent' });
  const round2 = gates.open({ name: 'production', rule: rule({ approvals: 2, approvers: ['lead', 'sre', 'ops'] }), summary: 's', fourEyes: true }, now);
  expect(round2).toMatchObject({ round: 2, status: 'pending', approvedBy: [] });
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'approve', approver: 'lead' }))).toBeUndefined();
});

test('one approval is what it always was: decided by the first, the requester free to approve where four-eyes is off', () => {
  const { gates } = newGates();
  const opened = gates.open({ name: 'spec', rule: { required: true, approvers: [], deadline: 60_000 }, summary: 's' }, now);
  expect(opened).not.toHaveProperty('approvalsRequired');
  expect(opened).not.toHaveProperty('approvedBy');
  expect(refusal(() => gates.validate({ gate: 'spec', decision: 'approve', approver: 'alice' }))).toBeUndefined();
  expect(gates.apply({ gate: 'spec', decision: 'approve', approver: 'alice' }, now)).toMatchObject({ status: 'approved', decidedBy: 'alice' });
});

test("a person's step reopened keeps the number of approvals it needs", () => {
  const { gates } = newGates();
  const first = gates.open({ name: 'plan', rule: rule({ approvals: 2 }), summary: 'write plan.md', personStep: true }, now);
  gates.apply({ gate: 'plan', decision: 'approve', approver: 'lead' }, now);
  gates.apply({ gate: 'plan', decision: 'approve', approver: 'sre' }, now);
  expect(gates.reopen(first, ['missing'], 'write plan.md', now)).toMatchObject({ round: 2, approvalsRequired: 2, approvedBy: [] });
});

test('the Slack gate message says how far the approvals have got, with their comments, and keeps its buttons until the gate opens', () => {
  const { gates } = newGates();
  gates.open({ name: 'production', rule: rule({ approvals: 2, approvers: ['lead', 'sre', 'ops'] }), summary: 'deploy', fourEyes: true }, now);
  const pending = gates.apply({ gate: 'production', decision: 'approve', approver: 'lead', comment: 'dashboards fine' }, now);
  const shown = JSON.stringify(gateBlocks({ runId: 'run-1', feature: 'f', gate: pending }).blocks);
  expect(shown).toContain('1 of 2 approvals: lead\\nlead: dashboards fine');
  expect(shown).toContain('slipway_gate_approve');
  const approved = gates.apply({ gate: 'production', decision: 'approve', approver: 'sre' }, now);
  const done = JSON.stringify(gateBlocks({ runId: 'run-1', feature: 'f', gate: approved }).blocks);
  expect(done).toContain('Approved by *lead, sre*');
  expect(done).not.toContain('slipway_gate_approve');
});
