import { ApplicationFailure, defineQuery, isCancellation, setHandler } from '@temporalio/workflow';
import type { AnalysisRule, EnvironmentRule, ServiceRule } from '../config/policy';
import type { Deployment, Workspace } from '../activities';
import { kubernetes, migrations } from './activities';
import { failureReason } from './failures';
import { Saga } from './saga';
import type { CompensationRecord, SoakSample } from './state';
import { soak } from './soak';

export interface RolloutInputV1 {
  runId: string;
  service: ServiceRule;
  environment: EnvironmentRule;
  workspace: Workspace;
  analysis: AnalysisRule;
}

/** A change this rollout made to the world, and so something the saga may have to undo. */
export type RolloutChange =
  | { kind: 'migrations'; versions: string[] }
  | { kind: 'deployment'; deployment: Deployment };

export interface RolloutReport {
  service: string;
  environment: string;
  changes: RolloutChange[];
  samples: SoakSample[];
  /** Set when the rollout failed; its own changes were already compensated. */
  reason?: string;
  /** Set when the soak ended without data to decide on: a person must look. Nothing was undone. */
  inconclusive?: string;
  compensations?: CompensationRecord[];
}

export interface RolloutProgress {
  step: 'migrate' | 'deploy' | 'soak' | 'done' | 'rolling-back';
  samples: SoakSample[];
  soakEndsAt?: string;
}

export const rolloutProgressQuery = defineQuery<RolloutProgress>('rolloutProgress');

export const ROLLOUT_FAILED = 'RolloutFailed';

/** Pushes the compensation of one change; used here and by featureDelivery for finished rollouts. */
export function pushCompensation(
  saga: Saga,
  target: { runId: string; service: string; environment: EnvironmentRule; workspace: Workspace },
  change: RolloutChange,
): void {
  const where = {
    runId: target.runId,
    service: target.service,
    environment: target.environment.name,
    namespace: target.environment.namespace,
    ...(target.environment.kubeContext !== undefined ? { kubeContext: target.environment.kubeContext } : {}),
  };
  if (change.kind === 'deployment') {
    saga.push(`roll back ${target.service} in ${target.environment.name}`, () =>
      kubernetes.rollbackService({ ...where, deployment: change.deployment }),
    );
  } else {
    saga.push(`revert migrations ${change.versions.join(', ')} of ${target.service} in ${target.environment.name}`, () =>
      migrations.revertMigrations({ runId: where.runId, service: where.service, environment: where.environment, versions: change.versions, workspace: target.workspace }),
    );
  }
}

/**
 * One service in one environment: migrate, deploy, soak, verdict.
 * On failure or cancel it undoes its own changes before failing, so the parent
 * only has to undo the rollouts that finished.
 */
export async function serviceRollout(input: RolloutInputV1): Promise<RolloutReport> {
  const { runId, service, environment, workspace } = input;
  const changes: RolloutChange[] = [];
  const compensations: CompensationRecord[] = [];
  const saga = new Saga(compensations);
  const progress: RolloutProgress = { step: 'migrate', samples: [] };
  setHandler(rolloutProgressQuery, () => progress);
  const target = { runId, service: service.name, environment, workspace };
  const record = (change: RolloutChange) => {
    changes.push(change);
    pushCompensation(saga, target, change);
  };

  try {
    if (service.hasDatabase) {
      const applied = await migrations.applyMigrations({ runId, service: service.name, environment: environment.name, workspace });
      if (applied.versions.length > 0) record({ kind: 'migrations', versions: applied.versions });
    }
    if (service.hasDeployment) {
      progress.step = 'deploy';
      const deployment = await kubernetes.deployService({
        runId,
        service: service.name,
        environment: environment.name,
        namespace: environment.namespace,
        ...(environment.kubeContext !== undefined ? { kubeContext: environment.kubeContext } : {}),
        workspace,
      });
      record({ kind: 'deployment', deployment });
    }
    let inconclusive: string | undefined;
    if (environment.soak !== undefined) {
      progress.step = 'soak';
      progress.soakEndsAt = new Date(Date.now() + environment.soak.durationMs).toISOString();
      inconclusive = await soak({ runId, service: service.name, environment: environment.name, analysis: input.analysis, rule: environment.soak, samples: progress.samples });
    }
    progress.step = 'done';
    return { service: service.name, environment: environment.name, changes, samples: progress.samples, ...(inconclusive ? { inconclusive } : {}) };
  } catch (err) {
    progress.step = 'rolling-back';
    await saga.compensate();
    if (isCancellation(err)) throw err;
    const report: RolloutReport = {
      service: service.name,
      environment: environment.name,
      changes,
      samples: progress.samples,
      reason: failureReason(err),
      compensations,
    };
    throw ApplicationFailure.nonRetryable(`${service.name} in ${environment.name}: ${report.reason}`, ROLLOUT_FAILED, report);
  }
}
