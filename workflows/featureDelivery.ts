import { architect } from './phases/architect';
import { build } from './phases/build';
import { deploy } from './phases/deploy';
import { docs } from './phases/docs';
import { implement } from './phases/implement';
import { observability } from './phases/observability';
import { prepareDeploy } from './phases/prepareDeploy';
import { specify } from './phases/specify';
import { tasks } from './phases/tasks';
import { watch } from './phases/watch';
import { Run, type FeatureDeliveryInputV1 } from './run';
import type { RunState } from './state';

export type { FeatureDeliveryInputV1 } from './run';

/**
 * One feature, from a sentence to a monitored release: the seed's phases in order. Each phase is
 * a function of the run context (workflows/phases/); a failure anywhere before the release is
 * healthy rolls back what the run changed, newest first.
 */
export async function featureDelivery(input: FeatureDeliveryInputV1): Promise<RunState> {
  const run = new Run(input);
  try {
    await specify(run);
    const plan = await architect(run);
    await tasks(run);
    await implement(run, plan);
    await build(run);
    await prepareDeploy(run);
    for (const environment of run.settings.environments) await deploy(run, environment);
    // The release is live and healthy: from here a failing phase fails the run without rolling it back.
    await run.afterDelivery('observability', () => observability(run));
    await run.afterDelivery('docs', () => docs(run));
    await watch(run);
  } catch (err) {
    return run.conclude(err);
  }
  return run.finish();
}
