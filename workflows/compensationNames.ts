/** The names a rollout's compensations carry: the saga records them, the report finds them again. Pure. */

export const deploymentUndoName = (service: string, environment: string): string => `roll back ${service} in ${environment}`;

export const migrationsUndoName = (versions: string[], service: string, environment: string): string =>
  `revert migrations ${versions.join(', ')} of ${service} in ${environment}`;
