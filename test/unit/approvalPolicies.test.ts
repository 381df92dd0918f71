import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/load';
import { gateBlocks } from '../../activities/slack/messages';
import { resolveRunSettings } from '../../config/settings';
import { Gates } from '../../workflows/gates';
import { progressOf, type RunState } from '../../workflows/state';

const now = new Date('2026-11-25T10:00:00.000Z');
const later = (s: number) => new Date(now.getTime() + s * 1_000);
const rule = (approvals: number, approvers: string[] = []) => ({ required: true, approvers, approvals, deadline: 3_600_000 });

function newGates() {
  const state: Pick<RunState, 'runId' | 'requester' | 'gates' | 'approvals'> = { runId: 'run-1', requester: 'alice', gates: {}, approvals: [] };
  return { state, gates: new Gates(state, () => undefined) };
}

const refusal = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return (err as { type?: string }).type;
  }
  return undefined;
};

test('a gate that needs two approvals stays pending after the first, records each, and opens on the second distinct one', () => {
  const { state, gates } = newGates();
  const opened = gates.open({ name: 'spec', rule: rule(2), summary: 's' }, now);
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

test('a rejection by any allowed approver rejects at once, even after approvals; a new round starts with none', () => {
  const { gates } = newGates();
  gates.open({ name: 'production', rule: rule(2, ['lead', 'sre', 'ops']), summary: 's', fourEyes: true }, now);
  gates.apply({ gate: 'production', decision: 'approve', approver: 'lead' }, now);
  // Four-eyes is about letting a change through: the requester may still reject, like anyone allowed.
  expect(refusal(() => gates.validate({ gate: 'production', decision: 'reject', approver: 'mallory', comment: 'no' }))).toBe('ApproverNotAllowed');
  const rejected = gates.apply({ gate: 'production', decision: 'reject', approver: 'sre', comment: 'error budget spent' }, now);
  expect(rejected).toMatchObject({ status: 'rejected', decidedBy: 'sre', comment: 'error budget spent' });
  const round2 = gates.open({ name: 'production', rule: rule(2, ['lead', 'sre', 'ops']), summary: 's', fourEyes: true }, now);
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
  const first = gates.open({ name: 'plan', rule: rule(2), summary: 'write plan.md', personStep: true }, now);
  gates.apply({ gate: 'plan', decision: 'approve', approver: 'lead' }, now);
  gates.apply({ gate: 'plan', decision: 'approve', approver: 'sre' }, now);
  expect(gates.reopen(first, ['missing'], 'write plan.md', now)).toMatchObject({ round: 2, approvalsRequired: 2, approvedBy: [] });
});

test('the Slack gate message says how far the approvals have got, with their comments, and keeps its buttons until the gate opens', () => {
  const { gates } = newGates();
  gates.open({ name: 'production', rule: rule(2, ['lead', 'sre', 'ops']), summary: 'deploy', fourEyes: true }, now);
  const pending = gates.apply({ gate: 'production', decision: 'approve', approver: 'lead', comment: 'dashboards fine' }, now);
  const shown = JSON.stringify(gateBlocks({ runId: 'run-1', feature: 'f', gate: pending }).blocks);
  expect(shown).toContain('1 of 2 approvals: lead\\nlead: dashboards fine');
  expect(shown).toContain('slipway_gate_approve');
  const approved = gates.apply({ gate: 'production', decision: 'approve', approver: 'sre' }, now);
  const done = JSON.stringify(gateBlocks({ runId: 'run-1', feature: 'f', gate: approved }).blocks);
  expect(done).toContain('Approved by *lead, sre*');
  expect(done).not.toContain('slipway_gate_approve');
});

const write = async (text: string) => {
  const file = join(await mkdtemp(join(tmpdir(), 'slipway-policies-')), 'slipway.config.yaml');
  await writeFile(file, text);
  return file;
};

const withGroups = `
repository: { path: . }
services: [{ name: messages, path: services/messages }]
environments:
  - name: production
    gate: { required: true, approvers: [team-leads, sre], approvals: 2, deadline: 24h }
approvers: [{ id: lead, slackUserId: U0LEAD }, { id: ana }, { id: sam }, { id: alice }]
approverGroups:
  team-leads: [lead, ana]
  sre: [sam, lead]
gates:
  spec: { approvers: [team-leads, alice], approvals: 2 }
`;

test('gates name groups; a run carries the approver ids they stand for', async () => {
  const config = await loadConfig(await write(withGroups));
  expect(config.environments[0]?.gate).toEqual({ required: true, approvers: ['team-leads', 'sre'], approvals: 2, deadline: 86_400_000 });
  const settings = resolveRunSettings(config);
  expect(settings.environments[0]?.gate.approvers).toEqual(['lead', 'ana', 'sam']);
  expect(settings.gates.spec).toMatchObject({ approvers: ['lead', 'ana', 'alice'], approvals: 2 });
  expect(settings.gates['migration-review']).toMatchObject({ approvers: [], approvals: 1 });
});

test.each([
  ['an unknown group or approver', withGroups.replace('[team-leads, sre]', '[team-leads, dba]'), /environments\.0\.gate\.approvers\.1: "dba" is not listed under approvers nor under approverGroups/],
  ['a group member not listed', withGroups.replace('sre: [sam, lead]', 'sre: [sam, bob]'), /approverGroups\.sre\.1: "bob" is not listed under approvers/],
  ['a group named like an approver', withGroups.replace('sre: [sam, lead]', 'sre: [sam, lead]\n  ana: [lead]'), /approverGroups\.ana: "ana" is both an approver id and a group name/],
  ['an empty group', withGroups.replace('sre: [sam, lead]', 'sre: []'), /approverGroups\.sre: a group needs at least one approver/],
  // lead is in both groups: three people, and the requester may be one of them.
  ['more approvals than people besides the requester', withGroups.replace('approvals: 2, deadline: 24h', 'approvals: 3, deadline: 24h'), /environments\.0\.gate\.approvals: 3 approvals need 4 people who may approve \(the requester never counts\), but only 3 may: lead, ana, sam/],
  ['several approvals with no approvers listed', withGroups.replace('approvers: [{ id: lead, slackUserId: U0LEAD }, { id: ana }, { id: sam }, { id: alice }]', 'approvers: []').replace(/approverGroups:[\s\S]*?gates:/, 'gates:').replace('[team-leads, sre]', '[]').replace('[team-leads, alice]', '[]'), /gates\.spec\.approvals: 2 approvals need 3 people who may approve \(the requester never counts\), but no approvers are listed/],
  ['zero approvals', withGroups.replace('approvals: 2, deadline: 24h', 'approvals: 0, deadline: 24h'), /environments\.0\.gate\.approvals: /],
])('%s fails naming the field and why', async (_name, text, message) => {
  const file = await write(text);
  await expect(loadConfig(file)).rejects.toThrow(ConfigError);
  await expect(loadConfig(file)).rejects.toThrow(message);
});
