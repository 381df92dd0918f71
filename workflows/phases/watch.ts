import { CancellationScope, ChildWorkflowFailure, executeChild } from '@temporalio/workflow';
import { emptyAnalysis } from '../analysis';
import { rootApplicationFailure } from '../failures';
import { postDeployWatch, WATCH_FAILED } from '../postDeployWatch';
import type { Run } from '../run';
import type { WatchSummary } from '../state';

/** When the service's production rollout began: its database load before then is the watch's baseline. */
function baselineOf(run: Run, service: string): { baselineAtMs?: number } {
  const startedAt = run.state.rollouts.find((r) => r.environment === run.production.name && r.service === service)?.startedAt;
  const at = startedAt !== undefined ? Date.parse(startedAt) : NaN;
  return Number.isFinite(at) ? { baselineAtMs: at } : {};
}

/**
 * The optional post-deploy watch: every production service at once, each against the watch's own
 * thresholds (analysis.watch); a failing one rolls the delivery back.
 */
export async function watch(run: Run): Promise<void> {
  const { settings } = run;
  const watchSettings = settings.watch;
  if (watchSettings === undefined) return;
  const production = run.production;
  run.enter('watch', production.name);
  await run.milestone(`Post-deploy watch started for ${run.state.services.join(', ')}.`);
  // Listed before they start, so their live progress can be asked for.
  const entries = run.services.map((service) => {
    const entry: WatchSummary = { service: service.name, environment: production.name, workflowId: `${run.runId}/watch/${service.name}`, status: 'running', analysis: emptyAnalysis('watch') };
    run.state.watches.push(entry);
    return { service, entry };
  });
  const scope = new CancellationScope();
  try {
    const summaries = await scope.run(() =>
      Promise.all(
        entries.map(({ service, entry }) =>
          executeChild(postDeployWatch, {
            workflowId: entry.workflowId,
            args: [
              {
                runId: run.runId,
                service,
                environment: production,
                analysis: settings.analysis,
                watch: watchSettings,
                ...(settings.prometheus ? { prometheus: settings.prometheus } : {}),
                ...baselineOf(run, service.name),
              },
            ],
          }).then((summary) => Object.assign(entry, summary)),
        ),
      ),
    );
    for (const summary of summaries) {
      if (summary.status !== 'inconclusive') continue;
      await run.gated({ name: `watch-${production.name}-${summary.service}`, rule: { ...production.gate, required: true }, fourEyes: true, revisable: false }, async () => ({
        result: undefined,
        summary: `The post-deploy watch of ${summary.service} could not decide: ${summary.reason}. Approve to keep the deployment, reject to roll back.`,
      }));
    }
  } catch (err) {
    scope.cancel(); // one failing watch is enough: stop the others before rolling back
    const failed = err instanceof ChildWorkflowFailure ? rootApplicationFailure(err) : undefined;
    const summary = failed?.type === WATCH_FAILED ? (failed.details?.[0] as WatchSummary | undefined) : undefined;
    if (summary !== undefined) Object.assign(entries.find((e) => e.entry.workflowId === summary.workflowId)?.entry ?? {}, summary);
    throw err;
  }
  run.event('watch', 'post-deploy watch passed');
}
