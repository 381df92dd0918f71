import { ApplicationFailure } from '@temporalio/workflow';
import { agents, commands, quick } from '../activities';
import type { Run } from '../run';

/** 5. Prepare deploy: manifests written and validated against each cluster, reviewed; performance audited. */
export async function prepareDeploy(run: Run): Promise<void> {
  run.enter('prepare-deploy');
  const { settings } = run;
  const deployed = run.services.filter((s) => s.kubernetes !== undefined);
  if (deployed.length > 0) {
    await run.gated({ name: 'manifest-review', rule: settings.gates['manifest-review'], revisable: true }, async (comments) => {
      const written = await agents.writeManifests({
        ...run.inWorkspace,
        services: deployed,
        environments: settings.environments,
        comments,
        tokensUsed: run.tokensUsed,
        ...(settings.llm ? { llm: settings.llm } : {}),
      });
      run.recordUsage('prepare-deploy', written.usage);
      written.paths.forEach((path) => run.artifact('prepare-deploy', 'manifest', path));
      const review = await quick.validateManifests({ runId: run.runId, services: deployed, environments: settings.environments, workspace: run.workspace });
      // Manifests the API server rejected are never approved by policy.
      return { result: review, summary: review.summary, needsPerson: !review.valid };
    });
  }
  const audit = await commands.auditPerformance({ runId: run.runId, services: run.services, workspace: run.workspace });
  run.event('prepare-deploy', 'performance audit', audit.summary);
  if (!audit.ok) throw ApplicationFailure.nonRetryable(`performance audit failed: ${audit.summary}`, 'PerformanceAuditFailed');
}
