import { agents, git } from '../activities';
import type { Run } from '../run';

/** 1. Specify: the feature branch and its spec, approved by a person (revised on rejection). */
export async function specify(run: Run): Promise<void> {
  run.enter('specify');
  const { settings } = run;
  run.state.workspace = await git.prepareWorkspace({ runId: run.runId, feature: run.feature, repository: settings.repository });
  const write = (comments: string[]) =>
    agents.writeSpec({ ...run.inWorkspace, feature: run.feature, comments, tokensUsed: run.tokensUsed, ...(settings.llm ? { llm: settings.llm } : {}) });

  if (settings.llm === undefined) {
    const scaffold = await write([]);
    run.artifact('specify', 'spec', scaffold.specPath);
    run.artifact('specify', 'checklist', scaffold.checklistPath);
    await run.personStep({ name: 'spec', rule: settings.gates.spec }, scaffold.summary, async () => {
      const checked = await git.checkSpec(run.inWorkspace);
      return { ...checked, result: true };
    });
    return;
  }
  await run.gated({ name: 'spec', rule: settings.gates.spec, revisable: true }, async (comments) => {
    const spec = await write(comments);
    run.recordUsage('specify', spec.usage);
    run.artifact('specify', 'spec', spec.specPath);
    run.artifact('specify', 'checklist', spec.checklistPath);
    const open = spec.clarifications.length > 0 ? `\nOpen clarifications:\n${spec.clarifications.map((c) => `- ${c}`).join('\n')}` : '';
    return { result: spec, summary: `${spec.summary}${open}` };
  });
}
