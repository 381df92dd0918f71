import {
  ApplicationFailure,
  ChildWorkflowFailure,
  CancellationScope,
  executeChild,
  isCancellation,
  log,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { GateRule, RunPolicy, ServiceRule } from '../config/policy';
import type { Workspace } from '../activities';
import { agents, commands, kubernetes, migrations, notifications, observability, repo } from './activities';
import { failureReason, rootApplicationFailure } from './failures';
import { Gates } from './gates';
import { cancelRequestSignal, decideSignal, decideUpdate, statusQuery, type CancelRequestV1 } from './messages';
import { Saga } from './saga';
import { SlipwayPhase, SlipwayServices, SlipwayStatus } from './search-attributes';
import { postDeployWatch, WATCH_FAILED, type WatchReport } from './postDeployWatch';
import { pushCompensation, ROLLOUT_FAILED, serviceRollout, type RolloutReport } from './serviceRollout';
import { addUsage, emptyUsage, TERMINAL_STATUSES, type Phase, type RunState, type SlackMessageRef, type TokenUsage } from './state';

export interface FeatureDeliveryInputV1 {
  feature: string;
  /** Identity that started the run; the four-eyes rule keeps it from approving production. */
  requester: string;
  /** Services the requester named; empty lets the architect decide. */
  services: string[];
  policy: RunPolicy;
}

/** How often a gate may be rejected and its phase redone before the run gives up. */
const MAX_REVISIONS = 5;

export async function featureDelivery(input: FeatureDeliveryInputV1): Promise<RunState> {
  const { policy } = input;
  const runId = workflowInfo().workflowId;
  const state: RunState = {
    runId,
    feature: input.feature,
    requester: input.requester,
    services: [...input.services],
    status: 'running',
    phase: 'specify',
    gates: {},
    approvals: [],
    artifacts: [],
    timeline: [],
    verdicts: [],
    compensations: [],
    cost: { total: emptyUsage(), byPhase: {} },
    startedAt: new Date().toISOString(),
  };
  const saga = new Saga(state.compensations);
  const published = { phase: '', status: '', services: '' };

  /** Makes the run readable in the Temporal UI: search attributes and current details. */
  const publish = (): void => {
    const phaseLabel = state.phase === 'deploy' && state.environment ? `deploy:${state.environment}` : state.phase;
    const services = state.services.join(',');
    const updates = [];
    if (published.phase !== phaseLabel) updates.push({ key: SlipwayPhase, value: phaseLabel });
    if (published.status !== state.status) updates.push({ key: SlipwayStatus, value: state.status });
    if (published.services !== services) updates.push({ key: SlipwayServices, value: [...state.services] });
    if (updates.length > 0) upsertSearchAttributes(updates);
    Object.assign(published, { phase: phaseLabel, status: state.status, services });
    setCurrentDetails(currentDetails(state));
  };
  const event = (phase: Phase | 'run', what: string, detail?: string): void => {
    state.timeline.push({ at: new Date().toISOString(), phase, event: what, ...(detail !== undefined ? { detail } : {}) });
  };
  const gates = new Gates(state, publish);
  let cancelRequest: CancelRequestV1 | undefined;

  setHandler(statusQuery, () => state);
  setHandler(decideUpdate, (decision) => gates.apply(decision, new Date()), {
    validator: (decision) => gates.validate(decision),
  });
  setHandler(decideSignal, (decision) => {
    const viaTemporal = { ...decision, via: decision.via ?? ('temporal' as const) };
    try {
      gates.validate(viaTemporal);
      gates.apply(viaTemporal, new Date());
    } catch (err) {
      event('run', 'decision signal ignored', failureReason(err));
    }
  });
  setHandler(cancelRequestSignal, (request) => {
    cancelRequest = request;
  });

  /** Best effort: a notification that cannot be delivered is noted, never fatal. */
  const notify = async (send: () => Promise<{ delivered: boolean; message?: SlackMessageRef }>): Promise<SlackMessageRef | undefined> => {
    try {
      const message = (await send()).message;
      // The run's first message becomes the thread its milestones reply in.
      if (message !== undefined && state.slackThread === undefined) state.slackThread = message;
      return message;
    } catch (err) {
      event(state.phase, 'notification failed', failureReason(err));
      return undefined;
    }
  };
  const milestone = (text: string) =>
    notify(() => notifications.notifyMilestone({ runId, feature: state.feature, text, ...(state.slackThread ? { thread: state.slackThread } : {}) }));
  /** Notifications sent without holding the run up; settled before the run ends. */
  const background: Promise<unknown>[] = [];
  /** Phases that failed after the release was live and healthy; they fail the run but roll nothing back. */
  const postDeployFailures: string[] = [];

  const enterPhase = (phase: Phase, environment?: string): void => {
    state.phase = phase;
    if (environment !== undefined) state.environment = environment;
    else delete state.environment;
    state.status = 'running';
    event(phase, environment !== undefined ? `started (${environment})` : 'started');
    publish();
  };
  /** Tokens the run has spent so far, which the agents hold against the run's budget. */
  const tokensUsed = (): number => {
    const t = state.cost.total;
    return t.inputTokens + t.outputTokens + t.cacheReadTokens + t.cacheWriteTokens;
  };
  const recordUsage = (phase: Phase, usage: TokenUsage): void => {
    addUsage(state.cost.total, usage);
    addUsage((state.cost.byPhase[phase] ??= emptyUsage()), usage);
  };

  /**
   * Produces something for review, opens the gate, and waits. A rejection sends the
   * reviewer's comments back to `produce` for another round, when the gate allows it.
   */
  async function gated<T>(
    gate: { name: string; rule: GateRule; fourEyes?: boolean; revisable: boolean },
    produce: (comments: string[]) => Promise<{ result: T; summary: string; needsPerson?: boolean }>,
  ): Promise<T> {
    const comments: string[] = [];
    for (;;) {
      const { result, summary, needsPerson } = await produce(comments);
      // What was produced can demand a person even where config would let policy approve.
      const rule = needsPerson ? { ...gate.rule, required: true } : gate.rule;
      const record = gates.open({ name: gate.name, rule, summary, fourEyes: gate.fourEyes ?? false }, new Date());
      if (record.status === 'pending') {
        state.status = 'awaiting-approval';
        event(state.phase, `gate ${gate.name} opened`, `round ${record.round}`);
        publish();
        const message = await notify(() => notifications.notifyGate({ runId, feature: state.feature, gate: { ...record } }));
        if (message !== undefined) record.message = message;
      }
      let outcome;
      try {
        outcome = await gates.wait(record);
      } finally {
        // The decision updates the gate's message in the background: people never wait on Slack.
        // A gate still pending here means the run is ending; concludeFailure closes it.
        if (record.decidedBy !== 'policy' && record.status !== 'pending') {
          background.push(notify(() => notifications.notifyGate({ runId, feature: state.feature, gate: { ...record } })));
        }
      }
      state.status = 'running';
      event(state.phase, `gate ${gate.name} ${record.status}`, record.decidedBy !== undefined ? `by ${record.decidedBy}` : undefined);
      publish();
      if (outcome.approved) return result;
      if (!gate.revisable) {
        throw ApplicationFailure.nonRetryable(`gate "${gate.name}" rejected by ${record.decidedBy}: ${outcome.comment}`, 'GateRejected');
      }
      comments.push(outcome.comment);
      if (comments.length >= MAX_REVISIONS) {
        throw ApplicationFailure.nonRetryable(`gate "${gate.name}" rejected ${comments.length} times; giving up`, 'GateRejected');
      }
    }
  }

  publish();
  event('run', 'started', `requested by ${input.requester}`);
  try {
    // 1. Specify
    enterPhase('specify');
    const workspace: Workspace = await repo.prepareWorkspace({ runId, feature: state.feature });
    state.workspace = workspace;
    await gated({ name: 'spec', rule: policy.gates.spec, revisable: true }, async (comments) => {
      const spec = await agents.writeSpec({ runId, feature: state.feature, workspace, comments, tokensUsed: tokensUsed() });
      recordUsage('specify', spec.usage);
      state.artifacts.push({ phase: 'specify', kind: 'spec', path: spec.specPath }, { phase: 'specify', kind: 'checklist', path: spec.checklistPath });
      const open = spec.clarifications.length > 0 ? `\nOpen clarifications:\n${spec.clarifications.map((c) => `- ${c}`).join('\n')}` : '';
      return { result: spec, summary: `${spec.summary}${open}` };
    });

    // 2. Architect
    enterPhase('architect');
    const plan = await agents.writePlan({ runId, feature: state.feature, workspace, services: input.services, tokensUsed: tokensUsed() });
    recordUsage('architect', plan.usage);
    state.artifacts.push({ phase: 'architect', kind: 'plan', path: plan.planPath }, { phase: 'architect', kind: 'data-model', path: plan.dataModelPath });
    const services = plannedServices(policy, plan.services, input.services);
    state.services = services.map((s) => s.name);
    publish();

    // 3. Tasks
    enterPhase('tasks');
    const tasks = await agents.writeTasks({ runId, workspace, tokensUsed: tokensUsed() });
    recordUsage('tasks', tasks.usage);
    state.artifacts.push({ phase: 'tasks', kind: 'tasks', path: tasks.tasksPath });

    // 4. Implement, service by service; migrations are reviewed before anything runs them
    enterPhase('implement');
    for (const service of services) {
      // The plan says how each service is touched: gRPC and event work first, then the rest of its tasks.
      const touches = plan.integrations[service.name] ?? [];
      const steps = [
        ...(touches.includes('grpc') ? [['gRPC built', agents.buildGrpc] as const] : []),
        ...(touches.includes('events') ? [['events integrated', agents.integrateEvents] as const] : []),
        ['implemented', agents.implementService] as const,
      ];
      for (const [done, step] of steps) {
        const work = await step({ runId, service: service.name, workspace, tokensUsed: tokensUsed() });
        recordUsage('implement', work.usage);
        event('implement', `${service.name}: ${done}`, work.summary);
      }
    }
    const withDatabase = services.filter((s) => s.hasDatabase);
    if (withDatabase.length > 0) {
      await gated({ name: 'migration-review', rule: policy.gates['migration-review'], revisable: true }, async (comments) => {
        const reviews = [];
        let blocking = false;
        for (const service of withDatabase) {
          const review = await migrations.prepareMigrations({ runId, service: service.name, workspace, comments, feature: state.feature, tokensUsed: tokensUsed() });
          if (review.usage) recordUsage('implement', review.usage);
          review.files.forEach((path) => state.artifacts.push({ phase: 'implement', kind: 'migration', path, service: service.name }));
          reviews.push(`${service.name}: ${review.summary}`);
          blocking ||= review.blocking;
        }
        const warning = blocking ? 'BLOCKING lint findings: approve only if you accept each of them.\n' : '';
        return { result: reviews, summary: `${warning}${reviews.join('\n')}`, needsPerson: blocking };
      });
    }

    // 5. Prepare deploy: manifests reviewed, performance audited
    enterPhase('prepare-deploy');
    const deployed = services.filter((s) => s.hasDeployment);
    if (deployed.length > 0) {
      await gated({ name: 'manifest-review', rule: policy.gates['manifest-review'], revisable: true }, async (comments) => {
        const review = await kubernetes.prepareManifests({
          runId,
          services: deployed.map((s) => s.name),
          environments: policy.environments.map((e) => e.name),
          workspace,
          comments,
          tokensUsed: tokensUsed(),
        });
        if (review.usage) recordUsage('prepare-deploy', review.usage);
        review.paths.forEach((path) => state.artifacts.push({ phase: 'prepare-deploy', kind: 'manifest', path }));
        // Manifests the API server rejected are never approved by policy.
        return { result: review, summary: review.summary, needsPerson: !review.valid };
      });
    }
    const audit = await commands.auditPerformance({ runId, services: state.services, workspace });
    event('prepare-deploy', 'performance audit', audit.summary);
    if (!audit.ok) throw ApplicationFailure.nonRetryable(`performance audit failed: ${audit.summary}`, 'PerformanceAuditFailed');

    // 6. Deploy, environment by environment; the last one is production
    for (const [index, environment] of policy.environments.entries()) {
      const production = index === policy.environments.length - 1;
      enterPhase('deploy', environment.name);
      await gated(
        { name: environment.name, rule: environment.gate, fourEyes: production, revisable: false },
        async () => ({
          result: undefined,
          summary: `Deploy ${state.services.join(', ')} to ${environment.name}${environment.soak ? ` with a ${Math.round(environment.soak.durationMs / 60000)}-minute soak per service` : ''}.`,
        }),
      );
      const checks = await commands.runPreDeployChecks({ runId, environment: environment.name, services: state.services, workspace });
      event('deploy', `pre-deploy checks (${environment.name})`, checks.summary);
      if (!checks.ok) throw ApplicationFailure.nonRetryable(`pre-deploy checks for ${environment.name} failed: ${checks.summary}`, 'PreDeployChecksFailed');
      if (production) await milestone(`Production deploy of ${state.services.join(', ')} started.`);

      for (const service of services) {
        const workflowId = `${runId}/rollout/${environment.name}/${service.name}`;
        state.activeRollout = { workflowId, service: service.name, environment: environment.name };
        event('deploy', `rollout of ${service.name} to ${environment.name} started`);
        let report: RolloutReport;
        try {
          report = await executeChild(serviceRollout, { workflowId, args: [{ runId, service, environment, workspace, analysis: policy.analysis }] });
        } catch (err) {
          const failed = childReportOf<RolloutReport>(err, ROLLOUT_FAILED);
          if (failed !== undefined) {
            state.verdicts.push(...failed.samples);
            state.compensations.push(...(failed.compensations ?? []));
          }
          throw err;
        } finally {
          delete state.activeRollout;
        }
        report.changes.forEach((change) => pushCompensation(saga, { runId, service: service.name, environment, workspace }, change));
        state.verdicts.push(...report.samples);
        if (report.inconclusive !== undefined) {
          // No data to decide on: a person looks at the evidence; a rejection rolls back.
          event('deploy', `soak of ${service.name} in ${environment.name} inconclusive`, report.inconclusive);
          await gated({ name: `soak-${environment.name}-${service.name}`, rule: { ...environment.gate, required: true }, fourEyes: production, revisable: false }, async () => ({
            result: undefined,
            summary: `The soak of ${service.name} in ${environment.name} could not decide: ${report.inconclusive}. Approve to keep the deployment, reject to roll back.`,
          }));
          continue;
        }
        event('deploy', `rollout of ${service.name} to ${environment.name} finished`, report.samples.length > 0 ? `soak passed after ${report.samples.length} samples` : undefined);
        if (production && environment.soak !== undefined) await milestone(`${service.name}: production soak passed.`);
      }
    }

    // The release is live and healthy. From here, a failing phase is recorded and the run ends
    // failed, but nothing is rolled back for it — except by the post-deploy watch, which is about health.
    const afterDelivery = async (phase: Phase, work: () => Promise<void>): Promise<void> => {
      enterPhase(phase);
      try {
        await work();
      } catch (err) {
        if (isCancellation(err)) throw err;
        postDeployFailures.push(`${phase}: ${failureReason(err)}`);
        event(phase, 'failed; the delivery stays in place', failureReason(err));
      }
    };

    // 7. Observability
    await afterDelivery('observability', async () => {
      const dashboards = await observability.writeObservability({ runId, feature: state.feature, services: state.services, workspace });
      dashboards.paths.forEach((path) => state.artifacts.push({ phase: 'observability', kind: 'observability', path }));
    });

    // 8. Docs
    await afterDelivery('docs', async () => {
      const docs = await agents.writeDocs({ runId, feature: state.feature, workspace, tokensUsed: tokensUsed() });
      recordUsage('docs', docs.usage);
      docs.paths.forEach((path) => state.artifacts.push({ phase: 'docs', kind: 'doc', path }));
    });

    // Optional: the post-deploy watch, every production service at once.
    const production = policy.environments.at(-1);
    if (policy.watch !== undefined && production !== undefined) {
      enterPhase('watch', production.name);
      await milestone(`Post-deploy watch started for ${state.services.join(', ')}.`);
      const watch = policy.watch;
      const scope = new CancellationScope();
      let reports: WatchReport[];
      try {
        reports = await scope.run(() =>
          Promise.all(
            services.map((service) =>
              executeChild(postDeployWatch, {
                workflowId: `${runId}/watch/${service.name}`,
                args: [{ runId, service: service.name, environment: production.name, analysis: policy.analysis, watch }],
              }),
            ),
          ),
        );
      } catch (err) {
        scope.cancel(); // one failing watch is enough: stop the others before rolling back
        const failed = childReportOf<WatchReport>(err, WATCH_FAILED);
        if (failed !== undefined) state.verdicts.push(...failed.samples);
        throw err;
      }
      for (const report of reports) {
        state.verdicts.push(...report.samples);
        if (report.inconclusive !== undefined) {
          await gated({ name: `watch-${production.name}-${report.service}`, rule: { ...production.gate, required: true }, fourEyes: true, revisable: false }, async () => ({
            result: undefined,
            summary: `The post-deploy watch of ${report.service} could not decide: ${report.inconclusive}. Approve to keep the deployment, reject to roll back.`,
          }));
        }
      }
      event('watch', 'post-deploy watch passed');
    }

    // 9. Report, written with the run's final status
    enterPhase('report');
    const settle = () => {
      state.status = postDeployFailures.length === 0 ? 'succeeded' : 'failed';
      if (postDeployFailures.length > 0) state.reason = `delivered and kept, but ${postDeployFailures.join('; ')}`;
    };
    settle();
    state.endedAt = new Date().toISOString();
    event('run', state.status, state.reason);
    try {
      const report = await repo.writeReport({ state });
      state.artifacts.push({ phase: 'report', kind: 'report', path: report.path });
    } catch (err) {
      if (isCancellation(err)) throw err;
      postDeployFailures.push(`report: ${failureReason(err)}`);
      settle();
    }
    if (postDeployFailures.length === 0) {
      publish();
      await milestone('Run finished: delivered.');
      await Promise.all(background);
      return state;
    }
  } catch (err) {
    return await CancellationScope.nonCancellable(() => concludeFailure(err));
  }

  // Delivered, but a later phase failed: the run fails without rolling anything back.
  publish();
  await milestone(`Run failed after delivery (nothing rolled back): ${state.reason}`);
  await Promise.all(background);
  throw ApplicationFailure.create({
    message: `run failed: ${state.reason}`,
    type: 'PostDeployFailed',
    nonRetryable: true,
    details: [{ status: state.status, reason: state.reason }],
  });

  async function concludeFailure(err: unknown): Promise<never> {
    const cancelled = isCancellation(err);
    state.reason = cancelled
      ? `cancelled by ${cancelRequest?.by ?? 'a Temporal cancel request'}${cancelRequest?.reason ? `: ${cancelRequest.reason}` : ''}`
      : failureReason(err);
    log.warn('run failed', { runId, reason: state.reason });
    for (const gate of gates.closePending(state.reason, new Date())) {
      background.push(notify(() => notifications.notifyGate({ runId, feature: state.feature, gate: { ...gate } })));
    }
    if (saga.size > 0) {
      event('run', 'rolling back', state.reason);
      await milestone(`Rolling back: ${state.reason}`);
      const failed = await saga.compensate();
      if (failed.length > 0) state.reason += ` (compensation failed: ${failed.join('; ')})`;
    }
    // Compensations recorded here include those a failed rollout already ran for itself.
    const rolledBack = state.compensations.some((c) => c.status !== 'armed');
    state.status = rolledBack ? 'rolled-back' : cancelled ? 'cancelled' : 'failed';
    state.endedAt = new Date().toISOString();
    event('run', state.status, state.reason);
    publish();
    await milestone(`Run ${state.status}: ${state.reason}`);
    await Promise.all(background);
    if (cancelled) throw err;
    const type = rootApplicationFailure(err)?.type ?? 'RunFailed';
    throw ApplicationFailure.create({
      message: `run ${state.status}: ${state.reason}`,
      type: state.status === 'rolled-back' ? 'RolledBack' : type,
      nonRetryable: true,
      details: [{ status: state.status, reason: state.reason }],
    });
  }
}

/** The affected services in the architect's order, limited to configured ones (and to the requested ones, if any). */
function plannedServices(policy: RunPolicy, fromPlan: string[], requested: string[]): ServiceRule[] {
  const byName = new Map(policy.services.map((s) => [s.name, s]));
  const order = fromPlan.length > 0 ? fromPlan : requested.length > 0 ? requested : policy.services.map((s) => s.name);
  const chosen: ServiceRule[] = [];
  for (const name of order) {
    const service = byName.get(name);
    if (service === undefined) {
      throw ApplicationFailure.nonRetryable(`the plan names service "${name}", which is not in the config`, 'UnknownService');
    }
    if ((requested.length === 0 || requested.includes(name)) && !chosen.includes(service)) chosen.push(service);
  }
  if (chosen.length === 0) throw ApplicationFailure.nonRetryable('the plan affects none of the requested services', 'NoServices');
  return chosen;
}

/** The report a child workflow attached to its failure, when it failed with `type`. */
function childReportOf<T>(err: unknown, type: string): T | undefined {
  if (!(err instanceof ChildWorkflowFailure)) return undefined;
  const root = rootApplicationFailure(err);
  if (root?.type !== type) return undefined;
  return root.details?.[0] as T | undefined;
}

function currentDetails(state: RunState): string {
  const lines = [`**${state.feature}**`, '', `Status: **${state.status}** · phase: **${state.phase}${state.environment ? ` (${state.environment})` : ''}**`];
  const pending = Object.values(state.gates).filter((g) => g.status === 'pending');
  for (const gate of pending) lines.push(`Waiting for approval of gate **${gate.name}** until ${gate.deadlineAt}`);
  if (state.services.length > 0) lines.push(`Services: ${state.services.join(', ')}`);
  if (state.reason !== undefined && TERMINAL_STATUSES.includes(state.status)) lines.push(`Reason: ${state.reason}`);
  return lines.join('\n');
}
