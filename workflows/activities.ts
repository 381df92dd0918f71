import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

/**
 * Activity proxies grouped by what the activity does, each with timeouts that fit it. Every
 * activity that can run for minutes heartbeats on a timer while it works (a child process, a
 * streamed model answer), so its heartbeat timeout only fires when the worker is really gone.
 */

/** LLM agents (or, without one, the scaffold a person completes): long, alive through heartbeats, few retries (each costs tokens). */
export const agents = proxyActivities<
  Pick<Activities, 'writeSpec' | 'writePlan' | 'writeTasks' | 'buildGrpc' | 'integrateEvents' | 'implementService' | 'writeDocs' | 'draftMigrations' | 'writeManifests'>
>({
  startToCloseTimeout: '2h',
  heartbeatTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

/** Git work in the run's worktree: seconds; lock contention and remotes are retried with backoff. */
export const git = proxyActivities<
  Pick<
    Activities,
    'prepareWorkspace' | 'checkSpec' | 'scaffoldPlan' | 'checkPlan' | 'scaffoldTasks' | 'checkTasks' | 'scaffoldImplementation' | 'pullImplementation' | 'writeReport' | 'removeWorkspace' | 'writeRollbackRecord'
  >
>({
  startToCloseTimeout: '5m',
  retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '30s' },
});

/** Commands from the branch (tests, checks, audits, image builds): up to half an hour a step, heartbeating while the child runs. */
export const commands = proxyActivities<Pick<Activities, 'runServiceTests' | 'runPreDeployChecks' | 'auditPerformance' | 'buildImage' | 'verifyDeployment'>>({
  startToCloseTimeout: '45m',
  heartbeatTimeout: '1m',
  // A failing command is a result, not a throw: retries are for a worker that died mid-command.
  retry: { maximumAttempts: 5 },
});

/** Database migrations: rehearse, apply, revert; a big index can take a while, heartbeating all along. */
export const database = proxyActivities<Pick<Activities, 'reviewMigrations' | 'applyMigrations' | 'revertMigrations'>>({
  startToCloseTimeout: '30m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 5 },
});

/** Kubernetes rollouts: as long as a rollout may take, heartbeating while they wait. */
export const rollouts = proxyActivities<Pick<Activities, 'deployService' | 'rollbackService'>>({
  startToCloseTimeout: '45m',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 5 },
});

/** Short calls to outside APIs (the API server's dry run, promtool, reading a Deployment or a migration record). */
export const quick = proxyActivities<Pick<Activities, 'validateManifests' | 'writeObservability' | 'inspectDeployment' | 'inspectMigrations'>>({
  startToCloseTimeout: '2m',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

/**
 * One soak or watch sample (a few Prometheus queries). It heartbeats, so a sample on a worker that
 * died is retried after seconds and the soak keeps its schedule.
 */
export const sampling = proxyActivities<Pick<Activities, 'analyzeSlo'>>({
  startToCloseTimeout: '2m',
  heartbeatTimeout: '15s',
  retry: { maximumAttempts: 3, initialInterval: '2s' },
});

/** Notifications: short, retried many times, never allowed to fail a run. */
export const notifications = proxyActivities<Pick<Activities, 'notifyGate' | 'notifyMilestone'>>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 10, maximumInterval: '1m' },
});
