import { ApplicationFailure, CancellationScope, defineQuery, isCancellation, log, setCurrentDetails, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { RunSettings } from '../config/settings';
import { productionOf } from '../config/settings';
import { database, git, notifications, quick, rollouts } from './activities';
import { failureReason } from './failures';
import { Gates } from './gates';
import { conflictLines, deploymentConflict, deploymentUndone, initialRollbackState, migrationsConflict, migrationsUndone, rollbackGateSummary, rollbackRecordMarkdown } from './rollbackPlan';
import type { DeliveredRollbackState, RollbackConflict, RollbackStatus, RollbackStep } from './rollbackState';
import { clip, LIMITS, type RolloutSummary, type Workspace } from './state';

/** What the API hands the rollback: the delivered run's own record, and today's settings to act with. */
export interface DeliveredRollbackInputV1 {
  runId: string;
  feature: string;
  /** The run's branch: the rollback's record goes next to its report there. */
  branch: string;
  /** The run's rollouts as it recorded them, in the order they happened. */
  rollouts: RolloutSummary[];
  requester: string;
  reason: string;
  /** Go ahead although later changes are found, showing the approver what they lose. */
  force?: { comment: string };
  settings: RunSettings;
}

export const rollbackStatusQuery = defineQuery<DeliveredRollbackState>('rollbackStatus');
/** The memo key holding the rollback's state, so the API can answer without a worker. */
export const ROLLBACK_MEMO = 'slipwayRollback';
export const ROLLBACK_GATE = 'rollback';

/**
 * Rolls a delivered run back, later: checks that the world still holds what the run left (no later
 * run changed its Deployments or built on its migrations), asks an approver other than the person
 * who asked (as a production deploy does), then restores each Deployment's previous revision and
 * reverts the run's migrations, production first, in reverse rollout order. Refused when the world
 * has moved on, unless forced; every step and decision is recorded here and on the run's branch.
 */
export async function deliveredRollback(input: DeliveredRollbackInputV1): Promise<DeliveredRollbackState> {
  const rollback = new Rollback(input);
  const { state } = rollback;
  rollback.event('asked', `by ${state.requester}: ${state.reason}${state.forced ? ` (forced: ${state.forced.comment})` : ''}`);
  rollback.publish();
  try {
    if (state.steps.length === 0) return await rollback.end('refused', `run ${state.runId} kept no rollout: there is nothing to roll back`, 'RollbackRefused');
    state.conflicts = await rollback.check();
    if (state.conflicts.length > 0 && state.forced === undefined) {
      return await rollback.end('refused', `the world has moved on since run ${state.runId}:\n${conflictLines(state.conflicts, false).join('\n')}\nForce it (with a comment) to see what those changes would lose.`, 'RollbackRefused');
    }
    const already = state.steps.filter((s) => s.already).length;
    rollback.event('checked', `${state.conflicts.length === 0 ? 'the world still holds what the run left' : `${state.conflicts.length} later change(s), overridden by force`}${already > 0 ? `; ${already} step(s) already undone` : ''}`);

    const approved = await rollback.approval();
    if (!approved.ok) return await rollback.end(approved.status, approved.outcome, 'RollbackRejected');

    // The world may have moved while the gate waited: what the approver did not see stops it.
    const now = await rollback.check();
    const unseen = now.filter((c) => !state.conflicts.some((seen) => seen.environment === c.environment && seen.service === c.service && seen.kind === c.kind && seen.detail === c.detail));
    if (unseen.length > 0) {
      state.conflicts = now;
      return await rollback.end('refused', `the world changed while the rollback waited for approval:\n${conflictLines(unseen, false).join('\n')}\nAsk again to review it.`, 'RollbackRefused');
    }

    state.status = 'rolling-back';
    rollback.publish();
    await rollback.notify(() => notifications.notifyMilestone({ runId: state.rollbackId, feature: rollback.feature, text: `Rolling back ${state.runId}, approved by ${approved.by}.` }));
    // Nothing interrupts the undo once it started, as with a run's own rollback.
    const failed = await CancellationScope.nonCancellable(() => rollback.undo());
    const done = failed.length === 0;
    return await rollback.end(done ? 'rolled-back' : 'failed', done ? `every step done (${state.steps.length})` : `${failed.length} of ${state.steps.length} step(s) failed: ${failed.join('; ')}`, done ? undefined : 'RollbackFailed');
  } catch (err) {
    if (err instanceof ApplicationFailure && ENDINGS.includes(err.type ?? '')) throw err;
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => rollback.end('cancelled', 'cancelled before any step ran'));
      throw err;
    }
    return await rollback.end('failed', failureReason(err), 'RollbackFailed');
  }
}

/** Failure types a rollback ends with; the API and the CLI read the state for the details. */
const ENDINGS = ['RollbackRefused', 'RollbackRejected', 'RollbackFailed'];

/** One rollback's state and the mechanics its steps share: timeline, publishing, its gate, notifications, the undo. */
class Rollback {
  readonly state: DeliveredRollbackState;
  readonly feature: string;
  private readonly gates: Gates;
  private published = '';

  constructor(private readonly input: DeliveredRollbackInputV1) {
    this.state = initialRollbackState({ ...input, rollbackId: workflowInfo().workflowId, startedAt: new Date().toISOString() });
    this.feature = `Roll back: ${input.feature}`;
    const { state } = this;
    this.gates = new Gates({ runId: state.rollbackId, requester: state.requester, gates: state.gates, approvals: state.approvals }, () => this.publish());
    setHandler(rollbackStatusQuery, () => state);
    this.gates.listen((reason) => this.event('decision signal ignored', reason));
  }

  /** The Temporal UI's details, and a copy in the memo the API reads without a worker: only when it changed. */
  publish(): void {
    const { state } = this;
    const pending = state.gates[ROLLBACK_GATE]?.status === 'pending' ? ` · waiting for approval of gate ${ROLLBACK_GATE}` : '';
    setCurrentDetails(`**Roll back ${state.runId}**\n\nStatus: **${state.status}**${pending}\n\n${state.steps.map((s) => `- ${s.environment}/${s.service}: ${s.detail} — ${s.status}`).join('\n')}`);
    const memo = { ...state, timeline: state.timeline.slice(-10) };
    const text = JSON.stringify(memo);
    if (text === this.published) return;
    this.published = text;
    upsertMemo({ [ROLLBACK_MEMO]: { ...memo, asOf: new Date().toISOString() } });
  }

  event(what: string, detail?: string): void {
    const { timeline } = this.state;
    timeline.push({ at: new Date().toISOString(), phase: 'run', event: what, ...(detail !== undefined ? { detail: clip(detail, LIMITS.detail) } : {}) });
    if (timeline.length > LIMITS.timeline) timeline.splice(0, timeline.length - LIMITS.timeline);
  }

  /** Best effort: a notification that cannot be delivered is noted, never fatal (a cancel still is). */
  async notify(send: () => Promise<unknown>): Promise<void> {
    try {
      await send();
    } catch (err) {
      if (isCancellation(err)) throw err;
      this.event('notification failed', failureReason(err));
    }
  }

  /** Ends the rollback with `status`; with a failure type it ends the workflow failed, so it may be asked again. */
  async end(status: RollbackStatus, outcome: string, failureType?: string): Promise<DeliveredRollbackState> {
    const { state } = this;
    state.status = status;
    state.outcome = outcome;
    state.endedAt = new Date().toISOString();
    this.event(status, outcome);
    for (const gate of this.gates.closePending(outcome, new Date())) await this.notify(() => notifications.notifyGate({ runId: state.rollbackId, feature: this.feature, gate: { ...gate } }));
    this.publish();
    await this.notify(() => notifications.notifyMilestone({ runId: state.rollbackId, feature: this.feature, text: `Rollback of ${state.runId} ${status}: ${outcome}` }));
    if (failureType === undefined) return state;
    throw ApplicationFailure.create({ message: `rollback of ${state.runId} ${status}: ${outcome}`, type: failureType, nonRetryable: true, details: [state] });
  }

  /**
   * What later changes did to the run's Deployments and databases, as the world shows them now.
   * Steps whose target already shows what they leave are marked done, so they are not run again.
   */
  async check(): Promise<RollbackConflict[]> {
    const conflicts: RollbackConflict[] = [];
    for (const step of this.state.steps) {
      if (step.status === 'done') continue;
      const { service, environment } = this.targetOf(step);
      if (step.kind === 'deployment' && step.deployment !== undefined) {
        const now = await quick.inspectDeployment({ environment, deployment: step.deployment.deployment, namespace: step.deployment.namespace });
        if (deploymentUndone(step, now)) this.markAlready(step);
        const conflict = deploymentConflict(step, now);
        if (conflict !== undefined) conflicts.push(conflict);
      } else if (step.kind === 'migrations') {
        // The versions are recorded under the delivered run's id.
        const now = await quick.inspectMigrations({ runId: this.state.runId, service, environment: environment.name, versions: step.versions ?? [] });
        if (migrationsUndone(now)) this.markAlready(step);
        const conflict = migrationsConflict(step, now);
        if (conflict !== undefined) conflicts.push(conflict);
      }
    }
    return conflicts;
  }

  private markAlready(step: RollbackStep): void {
    step.status = 'done';
    step.already = true;
    step.at = new Date().toISOString();
  }

  /** The four-eyes gate, decided like a production deploy's but always by a person. */
  async approval(): Promise<{ ok: true; by: string } | { ok: false; status: 'rejected' | 'expired'; outcome: string }> {
    const { state } = this;
    const rule = { ...productionOf(this.input.settings).gate, required: true };
    state.status = 'awaiting-approval';
    const record = this.gates.open({ name: ROLLBACK_GATE, rule, summary: rollbackGateSummary(state), fourEyes: true }, new Date());
    this.event(`gate ${ROLLBACK_GATE} opened`);
    this.publish();
    await this.notify(async () => {
      const sent = await notifications.notifyGate({ runId: state.rollbackId, feature: this.feature, gate: { ...record } });
      if (sent.message !== undefined) record.message = sent.message;
    });
    let outcome;
    try {
      outcome = await this.gates.wait(record, (progress) => {
        this.event(`gate ${ROLLBACK_GATE} approved by ${progress.approvedBy?.at(-1)?.by ?? 'someone'}`);
        this.publish();
      });
    } catch (err) {
      if (err instanceof ApplicationFailure && err.type === 'GateExpired') return { ok: false, status: 'expired', outcome: `gate ${ROLLBACK_GATE} expired at ${record.deadlineAt} with no decision` };
      throw err;
    }
    await this.notify(() => notifications.notifyGate({ runId: state.rollbackId, feature: this.feature, gate: { ...record } }));
    if (!outcome.approved) return { ok: false, status: 'rejected', outcome: `rejected by ${record.decidedBy}: ${outcome.comment}` };
    this.event(`gate ${ROLLBACK_GATE} approved`, `by ${record.decidedBy}`);
    return { ok: true, by: record.decidedBy ?? 'an approver' };
  }

  private targetOf(step: RollbackStep) {
    const { settings } = this.input;
    const service = settings.services.find((s) => s.name === step.service);
    const environment = settings.environments.find((e) => e.name === step.environment);
    if (service === undefined || environment === undefined) {
      throw ApplicationFailure.nonRetryable(`${step.environment}/${step.service} is no longer in the config: the rollback cannot reach it`, 'RollbackTargetUnknown');
    }
    return { service, environment };
  }

  /** The run's worktree, back on its own branch (never another one). */
  private async runWorkspace(): Promise<Workspace> {
    const { settings, branch } = this.input;
    const workspace = await git.prepareWorkspace({ runId: this.state.runId, feature: this.state.feature, repository: settings.repository });
    if (workspace.branch !== branch) throw ApplicationFailure.nonRetryable(`the run's worktree came back on ${workspace.branch}, not its branch ${branch}`, 'WrongBranch');
    return workspace;
  }

  /**
   * Runs every step not yet done, in order; a failing step is recorded and the rest still run, except
   * a rollout's migrations when its Deployment could not go back (the new code needs that schema).
   * Returns the failures.
   */
  async undo(): Promise<string[]> {
    const { state } = this;
    const { settings } = this.input;
    const failed: string[] = [];
    const stuck = new Set<string>();
    let workspace: Workspace | undefined;
    let workspaceProblem: string | undefined;
    // Reverting needs the run's down migrations: its worktree, back on its branch.
    if (state.steps.some((s) => s.kind === 'migrations' && s.status !== 'done')) {
      try {
        workspace = await this.runWorkspace();
      } catch (err) {
        workspaceProblem = failureReason(err);
        this.event('worktree not available', workspaceProblem);
      }
    }
    for (const step of state.steps) {
      if (step.status === 'done') continue;
      const where = `${step.environment}/${step.service}`;
      try {
        const { service, environment } = this.targetOf(step);
        if (step.kind === 'deployment' && step.deployment !== undefined) {
          await rollouts.rollbackService({ runId: state.runId, service, environment, deployment: step.deployment });
        } else {
          if (stuck.has(where)) throw ApplicationFailure.nonRetryable('not run: its Deployment is still on the new revision, which needs this schema', 'DeploymentNotRolledBack');
          if (workspace === undefined) throw ApplicationFailure.nonRetryable(`the migrations of branch ${this.input.branch} could not be read: ${workspaceProblem ?? 'no worktree'}`, 'NoWorkspace');
          await database.revertMigrations({ runId: state.runId, service, environment: environment.name, workspace, versions: step.versions ?? [] });
        }
        step.status = 'done';
      } catch (err) {
        step.status = 'failed';
        step.error = clip(failureReason(err), LIMITS.detail);
        if (step.kind === 'deployment') stuck.add(where);
        failed.push(`${where}: ${step.error}`);
        log.error('rollback step failed', { rollbackId: state.rollbackId, step: step.detail, error: step.error });
      }
      step.at = new Date().toISOString();
      this.event(`${where}: ${step.detail}`, step.status === 'done' ? 'done' : `FAILED: ${step.error}`);
      this.publish();
    }
    // The run's branch records it, next to the report; the worktree goes again.
    try {
      workspace ??= await this.runWorkspace();
      const final = { ...state, status: failed.length === 0 ? ('rolled-back' as const) : ('failed' as const), ...(failed.length > 0 ? { outcome: failed.join('; ') } : {}) };
      const written = await git.writeRollbackRecord({ runId: state.runId, rollbackId: state.rollbackId, workspace, repository: settings.repository, markdown: rollbackRecordMarkdown(final) });
      state.recordPath = written.path;
      if (!settings.repository.keepWorktrees) await git.removeWorkspace({ runId: state.runId, workspace, repository: settings.repository });
    } catch (err) {
      this.event('record not written on the branch', failureReason(err));
    }
    return failed;
  }
}
