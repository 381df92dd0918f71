import type { Logger } from 'pino';
import type { SandboxSettings } from '../../config/sandbox';
import type { RepositorySettings } from '../../config/settings';
import type { RunState, Workspace } from '../../workflows/state';
import { writeWorktreeFile } from '../sandbox/worktreeFs';
import { runReport } from './report';
import { commitPaths, prepareWorkspace, removeWorkspace } from './workspace';

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
    /** The final run report, next to the spec on the feature branch. */
    async writeReport(input: { runId: string; workspace: Workspace; repository: RepositorySettings; state: RunState }): Promise<{ path: string }> {
      const { workspace } = input;
      const path = `${workspace.specDir}/report.md`;
      // The worktree is the agents': a symlink planted at this path must not redirect Slipway's write.
      await writeWorktreeFile(workspace.path, path, runReport(input.state, { sandbox: deps.sandbox?.mode ?? 'bubblewrap' }), 16 * 1024 * 1024);
      await commitPaths(workspace, [path], `report: ${workspace.branch}\n\nRun ${input.runId}, ${input.state.status}.`, input.repository.remote);
      return { path };
    },
  };
}
export type RepoActivities = ReturnType<typeof createRepoActivities>;
