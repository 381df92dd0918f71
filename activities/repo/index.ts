import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import type { RepositorySettings } from '../../config/settings';
import { buildReport, reportMarkdown, type ReportFacts, type ReportSettings } from '../../workflows/report';
import type { RunState, Workspace } from '../../workflows/state';
import { writeWorktreeFile } from '../sandbox/worktreeFs';
import { gatherReportFacts } from './reportFacts';
import { commitPaths, prepareWorkspace, removeWorkspace } from './workspace';

export interface WriteReportInput {
  runId: string;
  workspace: Workspace;
  repository: RepositorySettings;
  state: RunState;
  /** The run's settings the report names things from; absent (an older caller), the report covers no service's files. */
  settings?: ReportSettings;
}

export function createRepoActivities(deps: { logger: Logger; sandbox?: SandboxSettings }) {
  return {
    /** Feature branch NNN-short-name and a worktree for this run (idempotent per run). */
    async prepareWorkspace(input: { runId: string; feature: string; repository: RepositorySettings }): Promise<Workspace> {
      const workspace = await prepareWorkspace(input.repository, input.runId, input.feature);
      deps.logger.info({ runId: input.runId, branch: workspace.branch }, 'workspace ready');
      return workspace;
    },
    /** The run's worktree goes when the run ends; its branch stays, it is the run's history. */
    async removeWorkspace(input: { runId: string; workspace: Workspace; repository: RepositorySettings }): Promise<void> {
      await removeWorkspace(input.repository, input.workspace);
      deps.logger.info({ runId: input.runId, path: input.workspace.path }, 'worktree removed');
    },
    /**
     * The summary report, next to the spec on the feature branch: the run's state plus what the
     * branch holds (files changed, gRPC methods, migrations, coverage, observability files). Returns
     * those facts, so the workflow can serve the same report as JSON.
     */
    async writeReport(input: WriteReportInput): Promise<{ path: string; facts: ReportFacts }> {
      const { workspace } = input;
      const settings: ReportSettings = input.settings ?? { services: [], environments: [] };
      const facts = await gatherReportFacts({
        workspace,
        baseBranch: input.repository.baseBranch,
        services: settings.services,
        runServices: input.state.services,
        production: settings.environments.at(-1)?.name ?? 'production',
        sandbox: deps.sandbox?.mode ?? 'bubblewrap',
      });
      const path = `${workspace.specDir}/report.md`;
      // The worktree is the agents': a symlink planted at this path must not redirect Slipway's write.
      await writeWorktreeFile(workspace.path, path, reportMarkdown(buildReport(input.state, facts, settings)), 16 * 1024 * 1024);
      await commitPaths(workspace, [path], `report: ${workspace.branch}\n\nRun ${input.runId}, ${input.state.status}.`, input.repository.remote);
      deps.logger.info({ runId: input.runId, path, services: facts.services.length, problems: facts.problems.length }, 'report written');
      return { path, facts };
    },
    /** A later rollback's record, next to the run's report on its branch. */
    async writeRollbackRecord(input: { runId: string; rollbackId: string; workspace: Workspace; repository: RepositorySettings; markdown: string }): Promise<{ path: string }> {
      const { workspace } = input;
      const path = `${workspace.specDir}/rollback.md`;
      await writeWorktreeFile(workspace.path, path, input.markdown, 1024 * 1024);
      await commitPaths(workspace, [path], `rollback: ${workspace.branch}\n\nRun ${input.runId}, rolled back by ${input.rollbackId}.`, input.repository.remote);
      deps.logger.info({ runId: input.runId, rollbackId: input.rollbackId, path }, 'rollback record written');
      return { path };
    },
  };
}
export type RepoActivities = ReturnType<typeof createRepoActivities>;
