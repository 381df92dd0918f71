import { ApplicationFailure, ChildWorkflowFailure, executeChild, patched } from '@temporalio/workflow';
import ms from 'ms';
import type { EndpointService } from '../../activities/commands/endpoints';
import type { EnvironmentSettings, ServiceSettings } from '../../config/settings';
import { commands } from '../activities';
import { checksForGate, verificationDetail } from '../checksReport';
import { pushCompensation } from '../compensations';
import { rootApplicationFailure } from '../failures';
import type { Run } from '../run';
import { ROLLOUT_FAILED, serviceRollout, type RolloutResult } from '../serviceRollout';
import { LIMITS, type PreDeployCheck, type RolloutSummary } from '../state';

/**
 * 6. Deploy to one environment: its gate, its checks, then each service in the plan's order —
 * migrations, rollout, soak, verification — in a child workflow that undoes its own changes when
 * it fails. Before production the checks (tests, audit, outdated report) come before the gate, so
 * the approver sees them.
 */
export async function deploy(run: Run, environment: EnvironmentSettings): Promise<void> {
  const production = environment.name === run.production.name;
  run.enter('deploy', environment.name);
  const soak = environment.soak ? ` with a soak of ${ms(environment.soak.duration, { long: true })} per service` : '';
  const checksFirst = production && patched('production-checks-before-gate');
  const checks = checksFirst ? await preDeployChecks(run, environment, true) : [];
  await run.gated({ name: environment.name, rule: environment.gate, fourEyes: production, revisable: false }, async () => ({
    result: undefined,
    summary: [`Deploy ${run.state.services.join(', ')} to ${environment.name}${soak}.`, checksForGate(checks)].filter((part) => part !== '').join('\n\n'),
  }));
  if (!checksFirst) await preDeployChecks(run, environment, false);
  if (production) await run.milestone(`Production deploy of ${run.state.services.join(', ')} started.`);

  for (const service of run.services) {
    // No production rollout starts while production is frozen; runs from before freezes existed never asked.
    if (production && patched('production-freeze')) await run.freeze.hold(service.name);
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

/** The checks before an environment, kept in the run state; a blocking failure stops the run (and rolls back what it changed). */
async function preDeployChecks(run: Run, environment: EnvironmentSettings, production: boolean): Promise<PreDeployCheck[]> {
  const result = await commands.runPreDeployChecks({ runId: run.runId, environment: environment.name, services: run.services, workspace: run.workspace, ...(production ? { production } : {}) });
  run.event('deploy', `pre-deploy checks (${environment.name})`, result.summary);
  const checks = (result.checks as PreDeployCheck[] | undefined) ?? [];
  if (checks.length > 0) run.state.preDeployChecks = [...(run.state.preDeployChecks ?? []).filter((c) => c.environment !== environment.name), ...checks];
  if (!result.ok) throw ApplicationFailure.nonRetryable(`pre-deploy checks for ${environment.name} failed: ${result.summary}`, 'PreDeployChecksFailed');
  return checks;
}

/** What a verification needs of every configured service to find it in an environment. */
function endpointServices(services: ServiceSettings[]): EndpointService[] {
  return services.map((s) => ({
    name: s.name,
    ...(s.kubernetes ? { kubernetes: { deployment: s.kubernetes.deployment, port: s.kubernetes.port, ...(s.kubernetes.grpcPort !== undefined ? { grpcPort: s.kubernetes.grpcPort } : {}) } } : {}),
  }));
}

/** The verification's outcome in the timeline, with the tail of its output. */
function recordVerification(run: Run, summary: Pick<RolloutSummary, 'service' | 'environment' | 'verification'>): void {
  const verification = summary.verification;
  if (verification === undefined || verification.status === 'running') return;
  run.event('deploy', `verification of ${summary.service} in ${summary.environment} ${verification.status}`, verificationDetail(verification, LIMITS.detail));
}

/** One service's rollout as a child workflow; its summary lands in the run state either way. */
async function rollout(run: Run, service: ServiceSettings, environment: EnvironmentSettings): Promise<RolloutSummary> {
  const workflowId = `${run.runId}/rollout/${environment.name}/${service.name}`;
  const image = run.state.images.find((i) => i.service === service.name);
  const live: RolloutSummary = { service: service.name, environment: environment.name, workflowId, status: 'running', migrations: [], startedAt: new Date().toISOString() };
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
          endpoints: endpointServices(run.settings.services),
        },
      ],
    });
  } catch (err) {
    const failed = failedRollout(err);
    if (failed !== undefined) {
      Object.assign(live, failed.summary);
      run.state.compensations.push(...failed.compensations);
      recordVerification(run, live);
    }
    throw err;
  }
  Object.assign(live, result.summary);
  recordVerification(run, live);
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
