import { proxyActivities } from '@temporalio/workflow';
import type {
  AgentActivities,
  CommandActivities,
  KubernetesActivities,
  MigrationActivities,
  ObservabilityActivities,
  PrometheusActivities,
  RepoActivities,
  SlackActivities,
} from '../activities';

/** Activity proxies grouped by timeout profile. */

/** LLM agents: long, alive through heartbeats, few retries (each costs tokens). */
export const agents = proxyActivities<AgentActivities>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '5m',
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

/** Git, commands, migrations: minutes, with heartbeats while commands run. */
export const repo = proxyActivities<RepoActivities>({
  startToCloseTimeout: '10m',
  retry: { maximumAttempts: 5 },
});
export const commands = proxyActivities<CommandActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 3 },
});
export const migrations = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 5 },
});
export const observability = proxyActivities<ObservabilityActivities>({
  startToCloseTimeout: '10m',
  retry: { maximumAttempts: 3 },
});

/** Kubernetes: as long as a rollout may take, heartbeating while it waits. */
export const kubernetes = proxyActivities<KubernetesActivities>({
  startToCloseTimeout: '45m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 5 },
});

/** Prometheus: short queries; the soak loop itself is the schedule. */
export const prometheus = proxyActivities<PrometheusActivities>({
  startToCloseTimeout: '1m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

/** Notifications: short, retried many times, never allowed to fail a run. */
export const notifications = proxyActivities<SlackActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, maximumInterval: '1m' },
});
