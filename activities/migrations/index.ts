import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';

export interface MigrationReview {
  files: string[];
  /** Lint findings and dry-run output shown at the migration-review gate. */
  summary: string;
  blocking: boolean;
}

export interface MigrationTarget {
  runId: string;
  service: string;
  environment: string;
}

const needsMigrations = 'PostgreSQL migrations (issue #4) are required';

export function createMigrationActivities(_deps: { config: SlipwayConfig }) {
  return {
    async prepareMigrations(_input: { runId: string; service: string; workspace: Workspace; comments: string[] }): Promise<MigrationReview> {
      adapterMissing('prepareMigrations', needsMigrations);
    },
    /** Returns the versions this call applied (none when all were already applied). */
    async applyMigrations(_input: MigrationTarget & { workspace: Workspace }): Promise<{ versions: string[] }> {
      adapterMissing('applyMigrations', needsMigrations);
    },
    async revertMigrations(_input: MigrationTarget & { versions: string[] }): Promise<void> {
      adapterMissing('revertMigrations', needsMigrations);
    },
  };
}
export type MigrationActivities = ReturnType<typeof createMigrationActivities>;
