import { ApplicationFailure, ChildWorkflowFailure, executeChild } from '@temporalio/workflow';
import type { EnvironmentSettings, ServiceSettings } from '../../config/settings';
import { commands } from '../activities';
import { pushCompensation } from '../compensations';
import { rootApplicationFailure } from '../failures';
import type { Run } from '../run';
import { ROLLOUT_FAILED, serviceRollout, type RolloutResult } from '../serviceRollout';
import type { RolloutSummary } from '../state';

/**
 * 6. Deploy to one environment: its gate, its checks, then each service in the plan's order —
 * migrations, rollout, soak — in a child workflow that undoes its own changes when it fails.
 */
export async function deploy(run: Run, environment: EnvironmentSettings): Promise<void> {
  const production = environment.name === run.production.name;
  run.enter('deploy', environment.name);
  const soak = environment.soak ? ` with a ${Math.round(environment.soak.duration / 60_000)}-minute soak per service` : '';
  await run.gated({ name: environment.name, rule: environment.gate, fourEyes: production, revisable: false }, async () => ({
    result: undefined,
    summary: `Deploy ${run.state.services.join(', ')} to ${environment.name}${soak}.`,
  }));
  const checks = await commands.runPreDeployChecks({ runId: run.runId, environment: environment.name, services: run.services, workspace: run.workspace });
  run.event('deploy', `pre-deploy checks (${environment.name})`, checks.summary);
  if (!checks.ok) throw ApplicationFailure.nonRetryable(`pre-deploy checks for ${environment.name} failed: ${checks.summary}`, 'PreDeployChecksFailed');
  if (production) await run.milestone(`Production deploy of ${run.state.services.join(', ')} started.`);

  for (const service of run.services) {
    const summary = await rollout(run, service, environment);
    if (summary.status === 'inconclusive') {
      // No data to decide on: a person looks at the evidence; a rejection rolls back.
      run.event('deploy', `soak of ${service.name} in ${environment.name} inconclusive`, summary.reason);
      await run.gated({ name: `soak-${environment.name}-${service.name}`, rule: { ...environment.gate, required: true }, fourEyes: production, revisable: false }, async () => ({
        result: undefined,
        summary: `The soak of ${service.name} in ${environment.name} could not decide: ${summary.reason}. Approve to keep the deployment, reject to roll back.`,
      }));
      continue;
    }
    run.event('deploy', `rollout of ${service.name} to ${environment.name} finished`, summary.soak ? `soak passed after ${summary.soak.samples} samples` : undefined);
    if (production && summary.soak !== undefined) await run.milestone(`${service.name}: production soak passed.`);
  }
}

/** One service's rollout as a child workflow; its summary lands in the run state either way. */
async function rollout(run: Run, service: ServiceSettings, environment: EnvironmentSettings): Promise<RolloutSummary> {
  const workflowId = `${run.runId}/rollout/${environment.name}/${service.name}`;
  const image = run.state.images.find((i) => i.service === service.name);
  const live: RolloutSummary = { service: service.name, environment: environment.name, workflowId, status: 'running', migrations: [] };
  run.state.rollouts.push(live);
  run.event('deploy', `rollout of ${service.name} to ${environment.name} started`);
  let result: RolloutResult;
  try {
    result = await executeChild(serviceRollout, {
      workflowId,
      args: [
        {
          runId: run.runId,
          service,
          environment,
          workspace: run.workspace,
          analysis: run.settings.analysis,
          ...(run.settings.prometheus ? { prometheus: run.settings.prometheus } : {}),
          ...(image ? { image: `${image.reference.replace(/:[^:/]+$/, '')}@${image.digest}` } : {}),
        },
      ],
    });
  } catch (err) {
    const failed = failedRollout(err);
    if (failed !== undefined) {
      Object.assign(live, failed.summary);
      run.state.compensations.push(...failed.compensations);
    }
    throw err;
  }
  Object.assign(live, result.summary);
  const target = { runId: run.runId, service, environment, workspace: run.workspace };
  if (result.summary.migrations.length > 0) pushCompensation(run.saga, target, { kind: 'migrations', versions: result.summary.migrations });
  if (result.summary.deployment !== undefined) pushCompensation(run.saga, target, { kind: 'deployment', deployment: result.summary.deployment });
  return live;
}

/** The result a failed rollout attached to its failure. */
function failedRollout(err: unknown): RolloutResult | undefined {
  if (!(err instanceof ChildWorkflowFailure)) return undefined;
  const root = rootApplicationFailure(err);
  return root?.type === ROLLOUT_FAILED ? (root.details?.[0] as RolloutResult | undefined) : undefined;
}
