import { ApplicationFailure, CancellationScope, defineQuery, isCancellation, log, setCurrentDetails, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import type { RunSettings } from '../config/settings';
import { productionOf } from '../config/settings';
import { database, git, notifications, quick, rollouts } from './activities';
import { failureReason } from './failures';
import { Gates } from './gates';
import { decideSignal, decideUpdate } from './messages';
import { conflictLines, deploymentConflict, initialRollbackState, migrationsConflict, rollbackGateSummary, rollbackRecordMarkdown } from './rollbackPlan';
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
  const state = initialRollbackState({ ...input, rollbackId: workflowInfo().workflowId, startedAt: new Date().toISOString() });
  const publish = () => {
    const pending = state.gates[ROLLBACK_GATE]?.status === 'pending' ? ` · waiting for approval of gate ${ROLLBACK_GATE}` : '';
    setCurrentDetails(`**Roll back ${state.runId}**\n\nStatus: **${state.status}**${pending}\n\n${state.steps.map((s) => `- ${s.environment}/${s.service}: ${s.detail} — ${s.status}`).join('\n')}`);
    upsertMemo({ [ROLLBACK_MEMO]: { ...state, timeline: state.timeline.slice(-10), asOf: new Date().toISOString() } });
  };
  const event = (what: string, detail?: string) => {
    state.timeline.push({ at: new Date().toISOString(), phase: 'run', event: what, ...(detail !== undefined ? { detail: clip(detail, LIMITS.detail) } : {}) });
    if (state.timeline.length > LIMITS.timeline) state.timeline.splice(0, state.timeline.length - LIMITS.timeline);
  };
  const gates = new Gates({ runId: state.rollbackId, requester: state.requester, gates: state.gates, approvals: state.approvals }, publish);
  setHandler(rollbackStatusQuery, () => state);
  setHandler(decideUpdate, (decision) => gates.apply(decision, new Date()), { validator: (decision) => gates.validate(decision) });
  setHandler(decideSignal, (decision) => {
    const viaTemporal = { ...decision, via: decision.via ?? ('temporal' as const) };
    try {
      gates.validate(viaTemporal);
      gates.apply(viaTemporal, new Date());
    } catch (err) {
      event('decision signal ignored', failureReason(err));
    }
  });
  const feature = `Roll back: ${input.feature}`;
  const notify = async (send: () => Promise<unknown>) => {
    try {
      await send();
    } catch (err) {
      event('notification failed', failureReason(err));
    }
  };
  const end = async (status: RollbackStatus, outcome: string, failureType?: string): Promise<DeliveredRollbackState> => {
    state.status = status;
    state.outcome = outcome;
    state.endedAt = new Date().toISOString();
    event(status, outcome);
    for (const gate of gates.closePending(outcome, new Date())) await notify(() => notifications.notifyGate({ runId: state.rollbackId, feature, gate: { ...gate } }));
    publish();
    await notify(() => notifications.notifyMilestone({ runId: state.rollbackId, feature, text: `Rollback of ${state.runId} ${status}: ${outcome}` }));
    if (failureType === undefined) return state;
    throw ApplicationFailure.create({ message: `rollback of ${state.runId} ${status}: ${outcome}`, type: failureType, nonRetryable: true, details: [state] });
  };

  event('asked', `by ${state.requester}: ${state.reason}${state.forced ? ` (forced: ${state.forced.comment})` : ''}`);
  publish();
  try {
    if (state.steps.length === 0) return await end('refused', `run ${state.runId} kept no rollout: there is nothing to roll back`, 'RollbackRefused');
    state.conflicts = await laterChanges(state.runId, state.steps, input.settings);
    if (state.conflicts.length > 0 && state.forced === undefined) {
      return await end('refused', `the world has moved on since run ${state.runId}:\n${conflictLines(state.conflicts, false).join('\n')}\nForce it (with a comment) to see what those changes would lose.`, 'RollbackRefused');
    }
    event('checked', state.conflicts.length === 0 ? 'the world still holds what the run left' : `${state.conflicts.length} later change(s), overridden by force`);

    // Gated like a production deploy, and always by a person: never the one who asked.
    const rule = { ...productionOf(input.settings).gate, required: true };
    state.status = 'awaiting-approval';
    const record = gates.open({ name: ROLLBACK_GATE, rule, summary: rollbackGateSummary(state), fourEyes: true }, new Date());
    event(`gate ${ROLLBACK_GATE} opened`);
    publish();
    await notify(async () => {
      const sent = await notifications.notifyGate({ runId: state.rollbackId, feature, gate: { ...record } });
      if (sent.message !== undefined) record.message = sent.message;
    });
    let outcome;
    try {
      outcome = await gates.wait(record, (progress) => {
        event(`gate ${ROLLBACK_GATE} approved by ${progress.approvedBy?.at(-1)?.by ?? 'someone'}`);
        publish();
      });
    } catch (err) {
      if (err instanceof ApplicationFailure && err.type === 'GateExpired') return await end('rejected', `gate ${ROLLBACK_GATE} expired at ${record.deadlineAt} with no decision`, 'RollbackRejected');
      throw err;
    }
    await notify(() => notifications.notifyGate({ runId: state.rollbackId, feature, gate: { ...record } }));
    if (!outcome.approved) return await end('rejected', `rejected by ${record.decidedBy}: ${outcome.comment}`, 'RollbackRejected');
    event(`gate ${ROLLBACK_GATE} approved`, `by ${record.decidedBy}`);

    // The world may have moved while the gate waited: what the approver did not see stops it.
    const now = await laterChanges(state.runId, state.steps, input.settings);
    const unseen = now.filter((c) => !state.conflicts.some((seen) => seen.environment === c.environment && seen.service === c.service && seen.kind === c.kind && seen.detail === c.detail));
    if (unseen.length > 0) {
      state.conflicts = now;
      return await end('refused', `the world changed while the rollback waited for approval:\n${conflictLines(unseen, false).join('\n')}\nAsk again to review it.`, 'RollbackRefused');
    }

    state.status = 'rolling-back';
    publish();
    await notify(() => notifications.notifyMilestone({ runId: state.rollbackId, feature, text: `Rolling back ${state.runId}, approved by ${record.decidedBy}.` }));
    // Nothing interrupts the undo once it started, as with a run's own rollback.
    const failed = await CancellationScope.nonCancellable(() => undo(state, input, event, publish));
    const done = failed.length === 0;
    return await end(done ? 'rolled-back' : 'failed', done ? `every step done (${state.steps.length})` : `${failed.length} of ${state.steps.length} step(s) failed: ${failed.join('; ')}`, done ? undefined : 'RollbackFailed');
  } catch (err) {
    if (err instanceof ApplicationFailure && ['RollbackRefused', 'RollbackRejected', 'RollbackFailed'].includes(err.type ?? '')) throw err;
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(() => end('cancelled', 'cancelled before any step ran'));
      throw err;
    }
    return await end('failed', failureReason(err), 'RollbackFailed');
  }
}

/** What later changes did to the run's Deployments and databases, as the world shows them now. */
async function laterChanges(runId: string, steps: RollbackStep[], settings: RunSettings): Promise<RollbackConflict[]> {
  const conflicts: RollbackConflict[] = [];
  for (const step of steps) {
    const { service, environment } = targetOf(step, settings);
    if (step.kind === 'deployment' && step.deployment !== undefined) {
      const now = await quick.inspectDeployment({ environment, deployment: step.deployment.deployment, namespace: step.deployment.namespace });
      const conflict = deploymentConflict(step, now);
      if (conflict !== undefined) conflicts.push(conflict);
    } else if (step.kind === 'migrations') {
      // The versions are recorded under the delivered run's id.
      const now = await quick.inspectMigrations({ runId, service, environment: environment.name, versions: step.versions ?? [] });
      const conflict = migrationsConflict(step, now);
      if (conflict !== undefined) conflicts.push(conflict);
    }
  }
  return conflicts;
}

function targetOf(step: RollbackStep, settings: RunSettings) {
  const service = settings.services.find((s) => s.name === step.service);
  const environment = settings.environments.find((e) => e.name === step.environment);
  if (service === undefined || environment === undefined) {
    throw ApplicationFailure.nonRetryable(`${step.environment}/${step.service} is no longer in the config: the rollback cannot reach it`, 'RollbackTargetUnknown');
  }
  return { service, environment };
}

/** Runs every step in order; a failing step is recorded and the rest still run. Returns the failures. */
async function undo(state: DeliveredRollbackState, input: DeliveredRollbackInputV1, event: (what: string, detail?: string) => void, publish: () => void): Promise<string[]> {
  const failed: string[] = [];
  const settings = input.settings;
  let workspace: Workspace | undefined;
  // Reverting needs the run's down migrations: its worktree, back on its branch.
  if (state.steps.some((s) => s.kind === 'migrations')) {
    try {
      workspace = await git.prepareWorkspace({ runId: state.runId, feature: state.feature, repository: settings.repository });
      if (workspace.branch !== input.branch) throw ApplicationFailure.nonRetryable(`the run's worktree came back on ${workspace.branch}, not its branch ${input.branch}`, 'WrongBranch');
    } catch (err) {
      event('worktree not available', failureReason(err));
      workspace = undefined;
    }
  }
  for (const step of state.steps) {
    try {
      const { service, environment } = targetOf(step, settings);
      if (step.kind === 'deployment' && step.deployment !== undefined) {
        await rollouts.rollbackService({ runId: state.runId, service, environment, deployment: step.deployment });
      } else {
        if (workspace === undefined) throw ApplicationFailure.nonRetryable(`the migrations of branch ${input.branch} could not be read`, 'NoWorkspace');
        await database.revertMigrations({ runId: state.runId, service, environment: environment.name, workspace, versions: step.versions ?? [] });
      }
      step.status = 'done';
    } catch (err) {
      step.status = 'failed';
      step.error = clip(failureReason(err), LIMITS.detail);
      failed.push(`${step.environment}/${step.service}: ${step.error}`);
      log.error('rollback step failed', { rollbackId: state.rollbackId, step: step.detail, error: step.error });
    }
    step.at = new Date().toISOString();
    event(`${step.environment}/${step.service}: ${step.detail}`, step.status === 'done' ? 'done' : `FAILED: ${step.error}`);
    publish();
  }
  // The run's branch records it, next to the report; the worktree goes again.
  try {
    workspace ??= await git.prepareWorkspace({ runId: state.runId, feature: state.feature, repository: settings.repository });
    const final = { ...state, status: failed.length === 0 ? ('rolled-back' as const) : ('failed' as const), ...(failed.length > 0 ? { outcome: failed.join('; ') } : {}) };
    const written = await git.writeRollbackRecord({ runId: state.runId, rollbackId: state.rollbackId, workspace, repository: settings.repository, markdown: rollbackRecordMarkdown(final) });
    state.recordPath = written.path;
    if (!settings.repository.keepWorktrees) await git.removeWorkspace({ runId: state.runId, workspace, repository: settings.repository });
  } catch (err) {
    event('record not written on the branch', failureReason(err));
  }
  return failed;
}
