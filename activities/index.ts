import type { Logger } from 'pino';
import type { SlipwayConfig } from '../config/schema';
import { createAgentActivities } from './agents';
import { createCommandActivities } from './commands';
import { createKubernetesActivities } from './kubernetes';
import { createMigrationActivities } from './migrations';
import { createObservabilityActivities } from './observability';
import { createPrometheusActivities } from './prometheus';
import { createRepoActivities } from './repo';
import { createSlackActivities } from './slack';

export interface ActivityDeps {
  config: SlipwayConfig;
  logger: Logger;
}

/** The one place that wires every activity to its clients. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createAgentActivities(deps),
    ...createRepoActivities(deps),
    ...createCommandActivities(deps),
    ...createMigrationActivities(deps),
    ...createKubernetesActivities(deps),
    ...createPrometheusActivities(deps),
    ...createObservabilityActivities(deps),
    ...createSlackActivities(deps),
  };
}
export type Activities = ReturnType<typeof createActivities>;

export type { AgentActivities, Workspace } from './agents';
export type { CommandActivities } from './commands';
export type { KubernetesActivities, Deployment } from './kubernetes';
export type { MigrationActivities } from './migrations';
export type { ObservabilityActivities } from './observability';
export type { PrometheusActivities } from './prometheus';
export type { RepoActivities } from './repo';
export type { SlackActivities } from './slack';
