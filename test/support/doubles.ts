import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import { parseConfig } from '../../config/load';
import type { SlipwayConfigInput } from '../../config/schema';
import { resolveRunSettings, type EnvironmentSettings, type RunSettings, type ServiceSettings } from '../../config/settings';
import { emptyUsage, type SoakSample, type TokenUsage } from '../../workflows/state';

/** Every call an activity double received, in order. */
export interface Call {
  name: keyof Activities;
  input: unknown;
}

const usage = (tokens: number): TokenUsage => ({ inputTokens: tokens, outputTokens: tokens / 10, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: tokens / 1e6 });

/** Run settings from a config, exactly as the API resolves them when a run starts. */
export function settingsFrom(config: SlipwayConfigInput): RunSettings {
  return resolveRunSettings(parseConfig(config));
}

export function serviceIn(settings: Pick<RunSettings, 'services'>, name: string): ServiceSettings {
  const service = settings.services.find((s) => s.name === name);
  if (service === undefined) throw new Error(`no service ${name} in these settings`);
  return service;
}

export function environmentIn(settings: Pick<RunSettings, 'environments'>, name: string): EnvironmentSettings {
  const environment = settings.environments.find((e) => e.name === name);
  if (environment === undefined) throw new Error(`no environment ${name} in these settings`);
  return environment;
}

/**
 * Activity doubles for workflow tests: each records its call and returns a plausible
 * result; `overrides` replaces any of them (e.g. a failing soak verdict).
 */
export function activityDoubles(overrides: Partial<Activities> = {}, onCall?: (call: Call) => void): { activities: Activities; calls: Call[] } {
  const calls: Call[] = [];
  const workspace = { branch: '001-feature', path: '/tmp/worktree', specDir: 'specs/001-feature' };
  const plan = (specDir: string, services: string[]) => ({
    planPath: `${specDir}/plan.md`,
    dataModelPath: `${specDir}/data-model.md`,
    services,
    integrations: { messages: ['grpc', 'schema'], notifications: ['events'] },
    summary: 'plan',
    usage: usage(2000),
  });
  const base: Activities = {
    prepareWorkspace: async () => workspace,
    writeSpec: async (input) => ({
      specPath: `${input.workspace.specDir}/spec.md`,
      checklistPath: `${input.workspace.specDir}/checklists/requirements.md`,
      summary: `spec round ${input.comments.length + 1}`,
      clarifications: [],
      usage: usage(1000),
    }),
    checkSpec: async () => ({ ok: true, problems: [], clarifications: [] }),
    writePlan: async (input) => plan(input.workspace.specDir, input.services),
    scaffoldPlan: async () => ({ instructions: 'write plan.md' }),
    checkPlan: async (input) => ({ ok: true, problems: [], plan: { ...plan(input.workspace.specDir, input.services), usage: emptyUsage() } }),
    writeTasks: async (input) => ({ tasksPath: `${input.workspace.specDir}/tasks.md`, taskCount: 12, usage: usage(500) }),
    scaffoldTasks: async () => ({ instructions: 'write tasks.md' }),
    checkTasks: async (input) => ({ ok: true, problems: [], tasks: { tasksPath: `${input.workspace.specDir}/tasks.md`, taskCount: 3, usage: emptyUsage() } }),
    scaffoldImplementation: async () => ({ instructions: 'implement' }),
    pullImplementation: async () => ({ ok: true, problems: [] }),
    buildGrpc: async (input) => ({ summary: `gRPC for ${input.service.name}`, usage: usage(0) }),
    integrateEvents: async (input) => ({ summary: `events for ${input.service.name}`, usage: usage(0) }),
    implementService: async (input) => ({ summary: `implemented ${input.service.name}`, usage: usage(5000) }),
    writeDocs: async (input) => ({ paths: [`${input.workspace.specDir}/runbook.md`], usage: usage(800) }),
    writeReport: async (input) => ({
      path: 'specs/001-feature/report.md',
      facts: {
        baseCommit: 'b'.repeat(40),
        headCommit: 'h'.repeat(40),
        services: input.state.services.map((service) => ({ service, files: [], filesTotal: 0, protoFiles: [], grpc: [], grpcTotal: 0, events: { produces: [], consumes: [] }, migrations: [], problems: [] })),
        otherFiles: [],
        otherFilesTotal: 0,
        docs: [],
        docsTotal: 0,
        observability: { alerts: [], alertsTotal: 0 },
        sandbox: 'bubblewrap' as const,
        problems: [],
      },
    }),
    removeWorkspace: async () => undefined,
    runServiceTests: async () => ({ ok: true, summary: 'tests pass' }),
    buildImage: async (input) => ({ service: input.service.name, reference: `${input.images.registry}/${input.service.name}:0123abc`, digest: `sha256:${'0'.repeat(64)}`, commit: '0123abc' }),
    runPreDeployChecks: async () => ({ ok: true, summary: 'all checks passed', checks: [] }),
    verifyDeployment: async (input) => ({ command: input.command, status: 'passed', exitCode: 0, ms: 1200, output: `# pass 3\n# fail 0` }),
    auditPerformance: async () => ({ ok: true, summary: 'no regression against baseline' }),
    draftMigrations: async () => ({ drafted: false }),
    reviewMigrations: async (input) => ({ files: [`services/${input.service.name}/migrations/0001_add.up.sql`], findings: [], summary: 'no lint findings', blocking: false }),
    applyMigrations: async (input) => ({ versions: [`${input.service.name}-${input.environment}-0001`] }),
    revertMigrations: async () => undefined,
    writeManifests: async (input) => ({ paths: input.services.map((s) => `deploy/${s.name}.yaml`) }),
    validateManifests: async () => ({ summary: 'dry-run ok', valid: true }),
    deployService: async (input) => ({ deployment: input.service.name, namespace: input.environment.namespace, revision: 2, previousRevision: 1 }),
    rollbackService: async () => undefined,
    inspectDeployment: async () => ({ exists: true, revision: 2 }),
    inspectMigrations: async (input) => ({ applied: [...input.versions], later: [] }),
    writeRollbackRecord: async (input) => ({ path: `${input.workspace.specDir}/rollback.md` }),
    analyzeSlo: async (input): Promise<SoakSample> => ({
      service: input.service.name,
      environment: input.environment.name,
      at: new Date().toISOString(),
      sample: input.sample,
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
  analyzeSlo: async (input) => ({ service: input.service.name, environment: input.environment.name, at: new Date().toISOString(), verdict: 'fail', detail }),
});

export const nonRetryable = (message: string, type = 'TestFailure') => ApplicationFailure.nonRetryable(message, type);

export interface TestSettingsOptions {
  gates?: Partial<Record<string, boolean>>;
  soakMs?: number;
  intervalMs?: number;
  deadlineMs?: number;
  productionApprovers?: string[];
  consecutiveFailures?: number;
  /** Give the run an llm section (agents mode); without it the run is in person mode. */
  llm?: boolean;
  watch?: { durationMs: number; intervalMs: number };
}

/** Settings with every gate auto-approved, two services, three environments and a short production soak. */
export function testSettings(options: TestSettingsOptions = {}): RunSettings {
  const gate = (required: boolean | undefined, approvers: string[] = []) => ({ required: required ?? false, approvers, deadline: `${options.deadlineMs ?? 60_000}ms` });
  const settings = settingsFrom({
    repository: { path: '/tmp/repo' },
    services: [
      { name: 'messages', path: 'services/messages', database: { urlEnv: 'MESSAGES_DATABASE_URL' }, kubernetes: { deployment: 'messages' } },
      { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications' } },
    ],
    environments: [
      { name: 'dev', namespace: 'dev', gate: gate(false) },
      { name: 'staging', namespace: 'staging', gate: gate(false) },
      {
        name: 'production',
        namespace: 'production',
        soak: { duration: `${options.soakMs ?? 1_500}ms`, interval: `${options.intervalMs ?? 500}ms` },
        gate: gate(options.gates?.production, options.productionApprovers),
      },
    ],
    approvers: [...new Set(['lead', 'alice', ...(options.productionApprovers ?? [])])].map((id) => ({ id })),
    gates: {
      spec: gate(options.gates?.spec),
      migrationReview: gate(options.gates?.['migration-review']),
      manifestReview: gate(options.gates?.['manifest-review']),
      personSteps: { deadline: `${options.deadlineMs ?? 60_000}ms` },
    },
    analysis: { consecutiveFailures: options.consecutiveFailures ?? 2, ...(options.watch ? { watch: { duration: `${options.watch.durationMs}ms`, interval: `${options.watch.intervalMs}ms` } } : {}) },
    prometheus: { url: 'http://127.0.0.1:9' },
    ...(options.llm === false ? {} : { llm: { model: 'claude-sonnet-5' } }),
  });
  return settings;
}
