import { commands } from '../activities';
import type { Run } from '../run';

/**
 * 5. Build: an image per planned service from the branch's commit, pushed and recorded by digest;
 * deployments run exactly that artifact, and a rollback restores the one before it. A build that
 * fails stops the run here, before anything is deployed, with its output.
 */
export async function build(run: Run): Promise<void> {
  const { images } = run.settings;
  const built = run.services.filter((s) => s.build !== undefined && s.kubernetes !== undefined);
  if (images === undefined || built.length === 0) return;
  run.enter('build');
  for (const service of built) {
    const image = await commands.buildImage({ runId: run.runId, service, workspace: run.workspace, images });
    run.state.images = [...run.state.images.filter((i) => i.service !== service.name), image];
    run.event('build', `${service.name}: image built`, `${image.reference.replace(/:[^:/]+$/, '')}@${image.digest}`);
  }
}
