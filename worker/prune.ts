import { Client, WorkflowNotFoundError, type Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { pruneWorkspaces } from '../activities/repo/workspace';
import type { SlipwayConfig } from '../config/schema';
import { rollbackIdOf } from '../workflows/rollbackState';

/**
 * At a worker's start: removes the worktrees of runs that are no longer open (they ended while no
 * worker was there to clean up, or a clean-up was lost to a crash). A run Temporal still lists as
 * running keeps its worktree; so does one whose state cannot be read (the answer is unknown, and
 * deleting a running run's work is worse than leaving a folder for the next start).
 */
export async function pruneClosedWorktrees(connection: Connection, config: Pick<SlipwayConfig, 'repository' | 'temporal'>, logger: Logger): Promise<string[]> {
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const running = async (workflowId: string): Promise<boolean> => {
    try {
      return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  };
  // A delivered run's worktree comes back while a later rollback of it reads its migrations and writes its record.
  const isOpen = async (folder: string): Promise<boolean> => {
    try {
      return (await running(folder)) || (await running(rollbackIdOf(folder)));
    } catch (err) {
      logger.warn({ err: (err as Error).message, folder }, 'could not tell whether the run of a worktree is open; keeping it');
      return true;
    }
  };
  const removed = await pruneWorkspaces(config.repository, isOpen);
  if (removed.length > 0) logger.info({ removed: removed.length, worktreesDir: config.repository.worktreesDir }, 'removed the worktrees of runs that have ended');
  return removed;
}
