import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import type { RunPolicy } from '../../config/policy';
import type { SoakSample, TokenUsage } from '../../workflows/state';

/** Every call an activity double received, in order. */
export interface Call {
  name: keyof Activities;
  input: unknown;
}

const usage = (tokens: number): TokenUsage => ({ inputTokens: tokens, outputTokens: tokens / 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: tokens / 1e6 });

/**
 * Activity doubles for workflow tests: each records its call and returns a plausible
 * result; `overrides` replaces any of them (e.g. a failing soak verdict).
 */
export function activityDoubles(overrides: Partial<Activities> = {}, onCall?: (call: Call) => void): { activities: Activities; calls: Call[] } {
  const calls: Call[] = [];
  const workspace = { branch: '001-feature', path: '/tmp/worktree', specDir: 'specs/001-feature' };
  const base: Activities = {
    prepareWorkspace: async () => workspace,
    writeSpec: async (input) => ({
      specPath: `${input.workspace.specDir}/spec.md`,
      checklistPath: `${input.workspace.specDir}/checklists/requirements.md`,
      summary: `spec round ${input.comments.length + 1}`,
      clarifications: [],
      usage: usage(1000),
    }),
    writePlan: async (input) => ({
      planPath: `${input.workspace.specDir}/plan.md`,
      dataModelPath: `${input.workspace.specDir}/data-model.md`,
      services: input.services.length > 0 ? input.services : ['messages', 'notifications'],
      integrations: { messages: ['grpc', 'schema'], notifications: ['events'] },
      summary: 'plan',
      usage: usage(2000),
    }),
    writeTasks: async (input) => ({ tasksPath: `${input.workspace.specDir}/tasks.md`, taskCount: 12, usage: usage(500) }),
    buildGrpc: async (input) => ({ commits: [], summary: `gRPC for ${input.service}`, usage: usage(0) }),
    integrateEvents: async (input) => ({ commits: [], summary: `events for ${input.service}`, usage: usage(0) }),
    implementService: async (input) => ({ commits: [`commit-${input.service}`], summary: `implemented ${input.service}`, usage: usage(5000) }),
    writeDocs: async (input) => ({ paths: [`${input.workspace.specDir}/runbook.md`], usage: usage(800) }),
    writeReport: async () => ({ path: 'specs/001-feature/report.md' }),
    runPreDeployChecks: async () => ({ ok: true, summary: 'all checks passed' }),
    auditPerformance: async () => ({ ok: true, summary: 'no regression against baseline' }),
    prepareMigrations: async (input) => ({ files: [`services/${input.service}/migrations/0001_add.up.sql`], findings: [], summary: 'no lint findings', blocking: false }),
    applyMigrations: async (input) => ({ versions: [`${input.service}-${input.environment}-0001`] }),
    revertMigrations: async () => undefined,
    prepareManifests: async () => ({ paths: ['deploy/messages.yaml'], summary: 'dry-run ok', valid: true }),
    deployService: async () => ({ revision: 2, previousRevision: 1 }),
    rollbackService: async () => undefined,
    analyzeSlo: async (input): Promise<SoakSample> => ({
      service: input.service,
      environment: input.environment,
      at: new Date().toISOString(),
      verdict: 'pass',
      detail: `sample ${input.sample}: error ratio 0.1% <= 5%`,
    }),
    writeObservability: async () => ({ paths: ['specs/001-feature/alerts.yaml', 'specs/001-feature/dashboard.json'] }),
    notifyGate: async () => ({ delivered: false, reason: 'test' }),
    notifyMilestone: async () => ({ delivered: false, reason: 'test' }),
  };
  const merged = { ...base, ...overrides };
  const recorded = Object.fromEntries(
    Object.entries(merged).map(([name, fn]) => [
      name,
      async (input: unknown) => {
        const call = { name: name as keyof Activities, input };
        calls.push(call);
        onCall?.(call);
        return (fn as (i: unknown) => Promise<unknown>)(input);
      },
    ]),
  ) as Activities;
  return { activities: recorded, calls };
}

export const failingVerdict = (detail = 'error ratio 12% > 5%'): Partial<Activities> => ({
  analyzeSlo: async (input) => ({ service: input.service, environment: input.environment, at: new Date().toISOString(), verdict: 'fail', detail }),
});

export const nonRetryable = (message: string, type = 'TestFailure') => ApplicationFailure.nonRetryable(message, type);

/** A policy with every gate auto-approved, two services, three environments and a short production soak. */
export function testPolicy(
  overrides: { gates?: Partial<Record<string, boolean>>; soakMs?: number; intervalMs?: number; deadlineMs?: number; productionApprovers?: string[]; consecutiveFailures?: number } = {},
): RunPolicy {
  const gate = (required: boolean | undefined, approvers: string[] = []) => ({ required: required ?? false, approvers, deadlineMs: overrides.deadlineMs ?? 60_000 });
  return {
    gates: {
      spec: gate(overrides.gates?.spec),
      'migration-review': gate(overrides.gates?.['migration-review']),
      'manifest-review': gate(overrides.gates?.['manifest-review']),
    },
    services: [
      { name: 'messages', hasDatabase: true, hasDeployment: true },
      { name: 'notifications', hasDatabase: false, hasDeployment: true },
    ],
    environments: [
      { name: 'dev', namespace: 'dev', gate: gate(false) },
      { name: 'staging', namespace: 'staging', gate: gate(false) },
      {
        name: 'production',
        namespace: 'production',
        soak: { durationMs: overrides.soakMs ?? 1_500, intervalMs: overrides.intervalMs ?? 500 },
        gate: gate(overrides.gates?.production, overrides.productionApprovers),
      },
    ],
    analysis: { consecutiveFailures: overrides.consecutiveFailures ?? 2, unreachableLimit: 3 },
  };
}
