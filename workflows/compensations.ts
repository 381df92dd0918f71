import type { EnvironmentSettings, ServiceSettings } from '../config/settings';
import { database, rollouts } from './activities';
import { deploymentUndoName, migrationsUndoName } from './compensationNames';
import type { Saga } from './saga';
import type { Deployment, Workspace } from './state';

/** A change a rollout made to the world, and so something the saga may have to undo. */
export type RolloutChange = { kind: 'migrations'; versions: string[] } | { kind: 'deployment'; deployment: Deployment };

export interface ChangeTarget {
  runId: string;
  service: ServiceSettings;
  environment: EnvironmentSettings;
  workspace: Workspace;
}

/** Arms the undo of one change: a deployment goes back to its previous revision, migrations revert exactly these versions. */
export function pushCompensation(saga: Saga, target: ChangeTarget, change: RolloutChange): void {
  const { runId, service, environment, workspace } = target;
  if (change.kind === 'deployment') {
    saga.push(deploymentUndoName(service.name, environment.name), () => rollouts.rollbackService({ runId, service, environment, deployment: change.deployment }));
  } else {
    saga.push(migrationsUndoName(change.versions, service.name, environment.name), () =>
      database.revertMigrations({ runId, service, environment: environment.name, workspace, versions: change.versions }),
    );
  }
}
