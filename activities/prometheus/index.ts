import type { SlipwayConfig } from '../../config/schema';
import type { SoakSample } from '../../workflows/state';
import { adapterMissing } from '../missing';

export function createPrometheusActivities(_deps: { config: SlipwayConfig }) {
  return {
    /** One sample of the service's SLO checks in one environment. */
    async analyzeSlo(_input: { runId: string; service: string; environment: string; sample: number }): Promise<SoakSample> {
      adapterMissing('analyzeSlo', 'Prometheus analysis (issue #6) is required, so no soak can pass');
    },
  };
}
export type PrometheusActivities = ReturnType<typeof createPrometheusActivities>;
