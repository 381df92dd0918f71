import type { Logger } from 'pino';
import type { SandboxSettings } from '../config/sandbox';
import { createAgentActivities } from './agents';
import { createBuildActivities } from './build';
import { createCommandActivities } from './commands';
import { createKubernetesActivities } from './kubernetes';
import { createMigrationActivities } from './migrations';
import { createObservabilityActivities } from './observability';
import { createPrometheusActivities } from './prometheus';
import { createRepoActivities } from './repo';
import { createSlackActivities, type SlackSettings } from './slack';

/**
 * What activities are built from: clients and process-level settings. What a run acts on
 * (services, environments, thresholds) is never here: it arrives in each activity's input,
 * resolved when the run started.
 */
export interface ActivityDeps {
  logger: Logger;
  /** promtool's path, located at start-up. */
  promtool: string;
  /** How commands from a run's branch are confined (the worker's `sandbox:` section). */
  sandbox?: SandboxSettings;
  /** crane's path, located at start-up: images are built and found with it. */
  crane?: string;
  slack?: SlackSettings;
  /** For links in notifications. */
  temporalUiUrl?: string;
  namespace: string;
}

/** The one place that wires every activity to its clients. */
export function createActivities(deps: ActivityDeps) {
  const { logger } = deps;
  const sandbox = deps.sandbox !== undefined ? { sandbox: deps.sandbox } : {};
  return {
    ...createAgentActivities({ logger, ...sandbox }),
    ...createRepoActivities({ logger, ...sandbox }),
    ...createCommandActivities({ logger, ...sandbox }),
    ...createBuildActivities({ logger, ...sandbox, ...(deps.crane !== undefined ? { crane: deps.crane } : {}) }),
    ...createMigrationActivities({ logger, ...sandbox }),
    ...createKubernetesActivities({ logger, ...sandbox }),
    ...createPrometheusActivities({ logger }),
    ...createObservabilityActivities({ logger, promtool: deps.promtool }),
    ...createSlackActivities({ logger, namespace: deps.namespace, ...(deps.slack ? { slack: deps.slack } : {}), ...(deps.temporalUiUrl ? { temporalUiUrl: deps.temporalUiUrl } : {}) }),
  };
}
export type Activities = ReturnType<typeof createActivities>;

export type { AgentActivities, PlanResult } from './agents';
export type { BuildActivities } from './build';
export type { CommandActivities } from './commands';
export type { KubernetesActivities } from './kubernetes';
export type { MigrationActivities } from './migrations';
export type { ObservabilityActivities } from './observability';
export type { PrometheusActivities } from './prometheus';
export type { RepoActivities } from './repo';
export type { SlackActivities } from './slack';
