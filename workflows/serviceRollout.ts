import { ApplicationFailure, defineQuery, isCancellation, log, setHandler, workflowInfo } from '@temporalio/workflow';
import type { EndpointService } from '../activities/commands/endpoints';
import type { AnalysisSettings, EnvironmentSettings, PrometheusSettings, ServiceSettings } from '../config/settings';
import { commands, database, rollouts } from './activities';
import { baselineOf, emptyAnalysis, runAnalysis } from './analysis';
import { pushCompensation, type RolloutChange } from './compensations';
import { failureReason } from './failures';
import { Saga } from './saga';
import type { CompensationRecord, RolloutSummary, Workspace } from './state';

export interface RolloutInputV1 {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
  workspace: Workspace;
  analysis: AnalysisSettings;
  prometheus?: PrometheusSettings;
  /** The run's build of this service, by digest; absent: the manifests' own image. */
  image?: string;
  /** Every configured service whose address the verification command gets (absent in runs from before verification). */
  endpoints?: EndpointService[];
}

export const VERIFICATION_FAILED = 'VerificationFailed';

/** What the rollout did; on failure it also carries the compensations it already ran. */
export interface RolloutResult {
  summary: RolloutSummary;
  compensations: CompensationRecord[];
}

export interface RolloutProgress {
  summary: RolloutSummary;
  /** The analysis child taking samples now, whose own query shows the latest one. */
  analysisWorkflowId?: string;
}

export const rolloutProgressQuery = defineQuery<RolloutProgress>('rolloutProgress');

export const ROLLOUT_FAILED = 'RolloutFailed';

/**
 * One service in one environment: migrate, deploy, soak, verify, verdict. On failure or cancel it undoes
 * its own changes before failing, so the parent only has to undo the rollouts that finished.
 * Its soak evidence lives in its analysis children; it returns only the summary.
 */
export async function serviceRollout(input: RolloutInputV1): Promise<RolloutResult> {
  const { runId, service, environment, workspace } = input;
  const compensations: CompensationRecord[] = [];
  const saga = new Saga(compensations, (record) => log.error('compensation failed', { compensation: record.name, error: record.error }));
  const summary: RolloutSummary = { service: service.name, environment: environment.name, workflowId: workflowInfo().workflowId, status: 'running', step: 'migrate', migrations: [] };
  let analysisWorkflowId: string | undefined;
  setHandler(rolloutProgressQuery, () => ({ summary, ...(analysisWorkflowId ? { analysisWorkflowId } : {}) }));
  const record = (change: RolloutChange) => pushCompensation(saga, { runId, service, environment, workspace }, change);

  // The previous version's record ends before this rollout changes anything (migrations included).
  const rolloutStartedAtMs = Date.now();
  try {
    if (service.database !== undefined) {
      const applied = await database.applyMigrations({ runId, service, environment: environment.name, workspace });
      summary.migrations = applied.versions;
      if (applied.versions.length > 0) record({ kind: 'migrations', versions: applied.versions });
    }
    if (service.kubernetes !== undefined) {
      summary.step = 'deploy';
      const deployment = await rollouts.deployService({ runId, service, environment, workspace, ...(input.image ? { image: input.image } : {}) });
      summary.deployment = deployment;
      record({ kind: 'deployment', deployment });
    }
    let inconclusive: string | undefined;
    if (environment.soak !== undefined) {
      summary.step = 'soak';
      summary.soak = emptyAnalysis('soak');
      const soak = await runAnalysis(
        {
          parentId: summary.workflowId,
          runId,
          kind: 'soak',
          service,
          environment,
          analysis: input.analysis,
          ...(input.prometheus ? { prometheus: input.prometheus } : {}),
          durationMs: environment.soak.duration,
          intervalMs: environment.soak.interval,
          ...baselineOf(input.analysis, service, environment, rolloutStartedAtMs, summary.deployment),
        },
        summary.soak,
        (id) => (analysisWorkflowId = id),
      );
      analysisWorkflowId = undefined;
      if (soak.decision === 'failed') throw ApplicationFailure.nonRetryable(soak.reason ?? 'soak failed', 'SoakFailed');
      if (soak.decision === 'inconclusive') inconclusive = soak.reason ?? 'the soak could not decide';
    }
    // After the rollout and its soak: the environment's own verification (dev smoke, staging integration, production smoke).
    const verify = (service.verify as ServiceSettings['verify'] | undefined)?.[environment.name];
    if (verify !== undefined) {
      summary.step = 'verify';
      summary.verification = { command: verify, status: 'running' };
      const setup = service.commands.setup;
      summary.verification = await commands.verifyDeployment({
        runId,
        service,
        environment,
        endpoints: input.endpoints ?? [service],
        workspace,
        command: verify,
        ...(setup !== undefined ? { setup } : {}),
      });
      if (summary.verification.status === 'failed') throw ApplicationFailure.nonRetryable(`verification failed: ${summary.verification.reason ?? verify}`, VERIFICATION_FAILED);
    }
    summary.step = 'done';
    if (inconclusive !== undefined) {
      // No data to decide on: nothing is undone here; a person decides in the parent.
      summary.status = 'inconclusive';
      summary.reason = inconclusive;
      return { summary, compensations };
    }
    summary.status = 'succeeded';
    return { summary, compensations };
  } catch (err) {
    summary.step = 'rolling-back';
    await saga.compensate();
    if (isCancellation(err)) throw err;
    summary.status = 'failed';
    summary.reason = failureReason(err);
    const result: RolloutResult = { summary, compensations };
    throw ApplicationFailure.nonRetryable(`${service.name} in ${environment.name}: ${summary.reason}`, ROLLOUT_FAILED, result);
  }
}
