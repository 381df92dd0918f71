import type { SlipwayConfig } from '../../config/schema';
import type { Workspace } from '../agents';
import { adapterMissing } from '../missing';

export function createObservabilityActivities(_deps: { config: SlipwayConfig }) {
  return {
    /** Prometheus alert rules and a Grafana dashboard for the feature. */
    async writeObservability(_input: { runId: string; feature: string; services: string[]; workspace: Workspace }): Promise<{ paths: string[] }> {
      adapterMissing('writeObservability', 'alert rules and dashboards (issue #6) are required');
    },
  };
}
export type ObservabilityActivities = ReturnType<typeof createObservabilityActivities>;
