import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';

export interface CheckResult {
  ok: boolean;
  summary: string;
}

export function createCommandActivities(_deps: { config: SlipwayConfig }) {
  return {
    async runPreDeployChecks(_input: { runId: string; environment: string; services: string[] }): Promise<CheckResult> {
      adapterMissing('runPreDeployChecks', "running services' configured commands (issue #3) is required");
    },
    async auditPerformance(_input: { runId: string; services: string[]; workspace: Workspace }): Promise<CheckResult> {
      adapterMissing('auditPerformance', "running services' configured perf commands (issue #3) is required");
    },
  };
}
export type CommandActivities = ReturnType<typeof createCommandActivities>;
