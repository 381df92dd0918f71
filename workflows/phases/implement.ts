import type { PlanResult } from '../../activities';
import { agents, commands, database, git } from '../activities';
import type { Run } from '../run';

/** 4. Implement, service by service; then the migrations are reviewed before anything runs them. */
export async function implement(run: Run, plan: PlanResult): Promise<void> {
  run.enter('implement');
  const { settings } = run;
  if (settings.llm !== undefined) {
    for (const service of run.services) {
      // The plan says how each service is touched: gRPC and event work first, then the rest of its tasks.
      const touches = plan.integrations[service.name] ?? [];
      const steps = [
        ...(touches.includes('grpc') ? [['gRPC built', agents.buildGrpc] as const] : []),
        ...(touches.includes('events') ? [['events integrated', agents.integrateEvents] as const] : []),
        ['implemented', agents.implementService] as const,
      ];
      for (const [done, step] of steps) {
        const work = await step({ ...run.inWorkspace, service, llm: settings.llm, tokensUsed: run.tokensUsed });
        run.recordUsage('implement', work.usage);
        run.event('implement', `${service.name}: ${done}`, work.summary);
      }
    }
  } else {
    const { instructions } = await git.scaffoldImplementation({ ...run.inWorkspace, services: run.services });
    await run.personStep({ name: 'implement', rule: settings.gates.implement }, instructions, async () => {
      const pulled = await git.pullImplementation(run.inWorkspace);
      if (!pulled.ok) return pulled;
      const tests = await commands.runServiceTests({ runId: run.runId, services: run.services, workspace: run.workspace });
      run.event('implement', tests.ok ? 'tests pass' : 'tests fail', tests.summary);
      return { ok: tests.ok, problems: tests.ok ? [] : [`the services' tests fail:\n${tests.summary}`], result: true };
    });
  }
  await reviewMigrations(run);
}

async function reviewMigrations(run: Run): Promise<void> {
  const { settings } = run;
  const withDatabase = run.services.filter((s) => s.database !== undefined);
  if (withDatabase.length === 0) return;
  await run.gated({ name: 'migration-review', rule: settings.gates['migration-review'], revisable: true }, async (comments) => {
    const reviews = [];
    let blocking = false;
    for (const service of withDatabase) {
      const draft = await agents.draftMigrations({ ...run.inWorkspace, feature: run.feature, service, comments, tokensUsed: run.tokensUsed, ...(settings.llm ? { llm: settings.llm } : {}) });
      run.recordUsage('implement', draft.usage);
      const review = await database.reviewMigrations({
        runId: run.runId,
        service,
        workspace: run.workspace,
        baseBranch: settings.repository.baseBranch,
        environments: settings.environments.map((e) => e.name),
        blockingRules: settings.migrations.blockingRules,
      });
      review.files.forEach((path) => run.artifact('implement', 'migration', path, service.name));
      reviews.push(`${service.name}: ${review.summary}`);
      blocking ||= review.blocking;
    }
    const warning = blocking ? 'BLOCKING lint findings: approve only if you accept each of them.\n' : '';
    return { result: reviews, summary: `${warning}${reviews.join('\n')}`, needsPerson: blocking };
  });
}
