import type { SlipwayConfig } from '../../config/schema';
import type { RunState } from '../../workflows/state';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';
import { prepareWorkspace } from './workspace';

export function createRepoActivities(deps: { config: SlipwayConfig }) {
  return {
    /** Feature branch NNN-short-name and a worktree for this run (idempotent per run). */
    async prepareWorkspace(input: { runId: string; feature: string }): Promise<Workspace> {
      return prepareWorkspace(deps.config.repository, input.runId, input.feature);
    },
    /** Final run report written next to the spec. */
    async writeReport(_input: { state: RunState }): Promise<{ path: string }> {
      adapterMissing('writeReport', 'the git workspace (issue #3) is required');
    },
  };
}
export type RepoActivities = ReturnType<typeof createRepoActivities>;
