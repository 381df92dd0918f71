import { agents } from '../activities';
import type { Run } from '../run';

/** 8. Docs: README changes, the runbook and API docs. */
export async function docs(run: Run): Promise<void> {
  const { settings } = run;
  const written = await agents.writeDocs({ ...run.inWorkspace, feature: run.feature, services: run.state.services, tokensUsed: run.tokensUsed, ...(settings.llm ? { llm: settings.llm } : {}) });
  run.recordUsage('docs', written.usage);
  written.paths.forEach((path) => run.artifact('docs', 'doc', path));
}
