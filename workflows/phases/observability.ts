import { quick } from '../activities';
import type { Run } from '../run';

/** 7. Observability: alert rules and a Grafana dashboard for the delivered services, checked with promtool. */
export async function observability(run: Run): Promise<void> {
  const written = await quick.writeObservability({
    ...run.inWorkspace,
    feature: run.feature,
    services: run.services,
    environment: run.production,
    analysis: run.settings.analysis,
  });
  written.paths.forEach((path) => run.artifact('observability', 'observability', path));
}
