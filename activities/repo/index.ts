import type { SlipwayConfig } from '../../config/schema';
import type { RunState } from '../../workflows/state';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';

export function createRepoActivities(_deps: { config: SlipwayConfig }) {
  return {
    /** Feature branch NNN-short-name and a worktree for this run. */
    async prepareWorkspace(_input: { runId: string; feature: string }): Promise<Workspace> {
      adapterMissing('prepareWorkspace', 'the git workspace (issue #3) is required');
    },
    /** Final run report written next to the spec. */
    async writeReport(_input: { state: RunState }): Promise<{ path: string }> {
      adapterMissing('writeReport', 'the git workspace (issue #3) is required');
    },
  };
}
export type RepoActivities = ReturnType<typeof createRepoActivities>;
