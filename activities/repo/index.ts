import type { SlipwayConfig } from '../../config/schema';
import type { RunState } from '../../workflows/state';
import type { Workspace } from '../agents';
import { ApplicationFailure } from '@temporalio/common';
import { writeWorktreeFile } from '../sandbox/worktreeFs';
import { runReport } from './report';
import { commitPaths, prepareWorkspace } from './workspace';

export function createRepoActivities(deps: { config: SlipwayConfig }) {
  return {
    /** Feature branch NNN-short-name and a worktree for this run (idempotent per run). */
    async prepareWorkspace(input: { runId: string; feature: string }): Promise<Workspace> {
      return prepareWorkspace(deps.config.repository, input.runId, input.feature);
    },
    /** The final run report, next to the spec on the feature branch. */
    async writeReport(input: { state: RunState }): Promise<{ path: string }> {
      const workspace = input.state.workspace;
      if (workspace === undefined) throw ApplicationFailure.nonRetryable(`run ${input.state.runId} has no workspace to write its report in`, 'NoWorkspace');
      const path = `${workspace.specDir}/report.md`;
      // The worktree is the agents': a symlink planted at this path must not redirect Slipway's write.
      await writeWorktreeFile(workspace.path, path, runReport(input.state), 16 * 1024 * 1024);
      await commitPaths(workspace, [path], `report: ${workspace.branch}\n\nRun ${input.state.runId}, ${input.state.status}.`, deps.config.repository.remote);
      return { path };
    },
  };
}
export type RepoActivities = ReturnType<typeof createRepoActivities>;
