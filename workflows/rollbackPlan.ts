/**
 * The rules of rolling back a delivered run later: which undos, in which order, and when the world
 * has moved on since the run. Pure: the workflow gathers what the world shows and asks these.
 */
import type { DeliveredRollbackState, RollbackConflict, RollbackStep } from './rollbackState';
import type { RolloutSummary } from './state';

/** A Deployment as the cluster shows it now. */
export interface DeploymentNow {
  exists: boolean;
  revision?: number;
  image?: string;
  /** The `slipway.dev/run` label: the run whose apply it last carried. */
  run?: string;
}

/** A database's migration record as it stands now, against the versions a run applied. */
export interface MigrationsNow {
  /** The run's versions still applied (by that run). */
  applied: string[];
  /** Versions other runs applied after the run's last one. */
  later: { version: string; runId: string; appliedAt: string }[];
}

/**
 * The undo of every rollout the run kept, newest first: production before staging before dev, each
 * environment's services in reverse rollout order; within one rollout the Deployment before the
 * migrations (the reverse of how it went out).
 */
export function rollbackSteps(rollouts: RolloutSummary[]): RollbackStep[] {
  const kept = rollouts.filter((r) => r.status === 'succeeded' || r.status === 'inconclusive');
  const steps: RollbackStep[] = [];
  for (const rollout of [...kept].reverse()) {
    const where = { service: rollout.service, environment: rollout.environment };
    const d = rollout.deployment;
    if (d !== undefined) {
      const detail =
        d.previousRevision === undefined
          ? `delete Deployment ${d.namespace}/${d.deployment} (the run created it)`
          : `Deployment ${d.namespace}/${d.deployment} back to revision ${d.previousRevision}${d.previousImage ? ` (${d.previousImage})` : ''} from ${d.revision}`;
      steps.push({ ...where, kind: 'deployment', detail, deployment: d, status: 'pending' });
    }
    if (rollout.migrations.length > 0) {
      steps.push({ ...where, kind: 'migrations', detail: `revert migrations ${[...rollout.migrations].reverse().join(', ')}`, versions: [...rollout.migrations], status: 'pending' });
    }
  }
  return steps;
}

/** A rollback before it checked anything: what the workflow starts from, and what the API publishes as its memo at start. */
export function initialRollbackState(rollback: {
  rollbackId: string;
  runId: string;
  feature: string;
  branch: string;
  requester: string;
  reason: string;
  rollouts: RolloutSummary[];
  force?: { comment: string };
  startedAt: string;
}): DeliveredRollbackState {
  return {
    rollbackId: rollback.rollbackId,
    runId: rollback.runId,
    feature: rollback.feature,
    branch: rollback.branch,
    requester: rollback.requester,
    reason: rollback.reason,
    status: 'checking',
    steps: rollbackSteps(rollback.rollouts),
    conflicts: [],
    ...(rollback.force ? { forced: { by: rollback.requester, comment: rollback.force.comment } } : {}),
    gates: {},
    approvals: [],
    timeline: [],
    startedAt: rollback.startedAt,
  };
}

/**
 * Whether the world already shows what this step would leave (an earlier rollback that stopped half
 * way, or a person by hand): the Deployment gone that the run created, or back on its previous image.
 */
export function deploymentUndone(step: RollbackStep, now: DeploymentNow): boolean {
  const d = step.deployment;
  if (d === undefined) return false;
  if (d.previousRevision === undefined) return !now.exists;
  return now.exists && d.previousImage !== undefined && now.image === d.previousImage;
}

/** Whether none of the run's versions is applied any more, and nothing was applied on top. */
export function migrationsUndone(now: MigrationsNow): boolean {
  return now.applied.length === 0 && now.later.length === 0;
}

/** What a later change did to one step's target, or undefined when the world still holds what the run left there (or already what the step leaves). */
export function deploymentConflict(step: RollbackStep, now: DeploymentNow): RollbackConflict | undefined {
  const d = step.deployment;
  if (d === undefined || deploymentUndone(step, now)) return undefined;
  const where = { service: step.service, environment: step.environment, kind: 'deployment' as const };
  const name = `${d.namespace}/${d.deployment}`;
  if (!now.exists) {
    return { ...where, detail: `Deployment ${name} no longer exists (the run left revision ${d.revision})`, loses: 'nothing: there is no Deployment to roll back' };
  }
  if (now.revision === d.revision) return undefined;
  const by = now.run !== undefined ? ` by run ${now.run}` : '';
  return {
    ...where,
    detail: `Deployment ${name} is at revision ${now.revision ?? '?'}${now.image ? ` (${now.image})` : ''}${by}, changed since the run left revision ${d.revision}`,
    loses: `revision ${now.revision ?? '?'}${now.image ? ` (${now.image})` : ''}${by} is replaced by ${d.previousRevision === undefined ? 'nothing: the Deployment is deleted' : `revision ${d.previousRevision}${d.previousImage ? ` (${d.previousImage})` : ''}`}`,
  };
}

export function migrationsConflict(step: RollbackStep, now: MigrationsNow): RollbackConflict | undefined {
  const versions = step.versions ?? [];
  const where = { service: step.service, environment: step.environment, kind: 'migrations' as const };
  // Versions already reverted are no conflict: reverting skips them and undoes the rest.
  if (now.later.length === 0) return undefined;
  const gone = versions.filter((v) => !now.applied.includes(v));
  return {
    ...where,
    detail: `the database of ${step.service} in ${step.environment}: ${now.later.map((m) => `${m.version} (run ${m.runId})`).join(', ')} applied since${gone.length > 0 ? `; ${gone.join(', ')} already reverted` : ''}`,
    loses: `${now.later.map((m) => m.version).join(', ')} stay applied over a schema without ${now.applied.join(', ') || 'the run’s versions'}: what they build on is reverted`,
  };
}

/** One line per conflict, for a refusal and for the gate. */
export function conflictLines(conflicts: RollbackConflict[], forced: boolean): string[] {
  return conflicts.map((c) => `- ${c.environment}/${c.service}: ${c.detail}${forced ? `\n  loses: ${c.loses}` : ''}`);
}

/** What the approver of a rollback is asked to decide. */
export function rollbackGateSummary(state: Pick<DeliveredRollbackState, 'runId' | 'feature' | 'requester' | 'reason' | 'steps' | 'conflicts' | 'forced'>): string {
  const lines = [
    `Roll back run ${state.runId} (${state.feature}), asked by ${state.requester}: ${state.reason}`,
    '',
    'In this order:',
    ...state.steps.map((s, i) => `${i + 1}. ${s.environment}/${s.service}: ${s.detail}`),
  ];
  if (state.forced !== undefined) {
    lines.push('', `FORCED by ${state.forced.by}: ${state.forced.comment}`, 'The world has moved on since the run; this is what the rollback takes away:', ...conflictLines(state.conflicts, true));
  }
  return lines.join('\n');
}

/** The record committed next to the run's report: what was undone, by whom, and how each step went. */
export function rollbackRecordMarkdown(state: DeliveredRollbackState): string {
  const gate = state.gates.rollback;
  const lines = [
    `# Rollback of ${state.runId}`,
    '',
    `- Feature: ${state.feature}`,
    `- Asked by ${state.requester} at ${state.startedAt}: ${state.reason}`,
    ...(gate?.decidedBy !== undefined ? [`- Approved by ${gate.decidedBy} at ${gate.decidedAt ?? ''}${gate.comment ? `: ${gate.comment}` : ''}`] : []),
    ...(state.forced !== undefined ? [`- Forced by ${state.forced.by}: ${state.forced.comment}`] : []),
    `- Outcome: ${state.status}${state.outcome ? ` — ${state.outcome}` : ''}`,
    '',
    '## Steps',
    '',
    '| # | environment | service | step | status |',
    '|---|---|---|---|---|',
    ...state.steps.map((s, i) => `| ${i + 1} | ${s.environment} | ${s.service} | ${s.detail.replaceAll('|', '\\|')} | ${s.status}${s.already ? ' (already undone before this rollback)' : ''}${s.error ? `: ${s.error.replaceAll('|', '\\|').replace(/\n/g, ' ')}` : ''} |`),
  ];
  if (state.conflicts.length > 0) lines.push('', '## Later changes it overrode', '', ...conflictLines(state.conflicts, true));
  return `${lines.join('\n')}\n`;
}
