/**
 * The run's state and evidence: one zod schema per shape, types inferred from it. The workflow
 * keeps only summaries (bounded whatever the run's length); per-sample evidence stays with the
 * child workflow that took it and is read page by page. The API serves these schemas as they are.
 */
import { z } from 'zod';

export const PHASES = [
  'specify',
  'architect',
  'tasks',
  'implement',
  'build',
  'prepare-deploy',
  'deploy',
  'observability',
  'docs',
  /** Only when config asks for the post-deploy watch. */
  'watch',
  'report',
] as const;
export const phaseSchema = z.enum(PHASES);
export type Phase = z.infer<typeof phaseSchema>;

export const RUN_STATUSES = ['running', 'awaiting-approval', 'succeeded', 'failed', 'rolled-back', 'cancelled'] as const;
export const runStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof runStatusSchema>;
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'rolled-back', 'cancelled'];

/** Bounds that keep the state small for the longest run. */
export const LIMITS = {
  timeline: 200,
  detail: 1_000,
  gateSummary: 8_000,
  artifacts: 300,
  /** Samples one analysis child keeps; a longer soak or watch runs several children in turn. */
  samplesPerSegment: 100,
  evidencePageSize: 20,
  /** A page of samples with their evidence stays well under Temporal's payload limits. */
  evidencePageMax: 50,
  /** The summary report's lists: entries kept per list (the rest are counted, not listed). */
  reportFiles: 40,
  reportMethods: 40,
  reportAlerts: 60,
  reportTimeline: 40,
  /** The tail of a check's or verification's output that the run keeps and shows. */
  commandOutput: 2_000,
} as const;

export const workspaceSchema = z.object({
  branch: z.string(),
  /** The run's git worktree. */
  path: z.string(),
  /** specs/NNN-name, relative to the worktree. */
  specDir: z.string(),
  /** The worktree's admin folder in the main repository: Slipway's git never trusts the worktree's own `.git`. */
  gitDir: z.string().optional(),
});
export type Workspace = z.infer<typeof workspaceSchema>;

export const slackMessageSchema = z.object({ channel: z.string(), ts: z.string() });
export type SlackMessageRef = z.infer<typeof slackMessageSchema>;

/** `closed`: the run ended (failed, cancelled) while the gate still waited. */
export const gateStatusSchema = z.enum(['pending', 'approved', 'rejected', 'expired', 'closed']);
export type GateStatus = z.infer<typeof gateStatusSchema>;

export const gateRecordSchema = z.object({
  name: z.string(),
  status: gateStatusSchema,
  /** 1 for the first time the gate opens; a rejected or reopened gate opens again with round + 1. */
  round: z.number().int(),
  openedAt: z.string(),
  deadlineAt: z.string(),
  /** What the approver is asked to review (or, for a person's step, what to do). */
  summary: z.string(),
  /** Approver ids allowed to decide; empty means any approver. */
  approvers: z.array(z.string()),
  /** The run's requester may not approve this gate (four-eyes). */
  fourEyes: z.boolean(),
  /** Distinct approvals the gate needs, when more than one (the requester never counts); absent means 1. */
  approvalsRequired: z.number().int().optional(),
  /** Who may approve this gate alone, with a comment, whatever it needs otherwise (an emergency override); absent means nobody. */
  overrideBy: z.array(z.string()).optional(),
  /** The approvals so far of a gate that needs more than one, in order. */
  approvedBy: z.array(z.object({ by: z.string(), at: z.string(), comment: z.string().optional(), via: z.enum(['api', 'slack', 'temporal']) })).optional(),
  /** A person's step (no LLM configured): approving says the work is committed; Slipway then checks it. */
  personStep: z.boolean().optional(),
  decidedBy: z.string().optional(),
  decidedAt: z.string().optional(),
  comment: z.string().optional(),
  /** Slack message of this gate, so later updates replace it instead of posting anew. */
  message: slackMessageSchema.optional(),
});
export type GateRecord = z.infer<typeof gateRecordSchema>;

/** How far a gate that needs several approvals has got, e.g. "1 of 2 approvals: lead". */
export function progressOf(gate: Pick<GateRecord, 'approvalsRequired' | 'approvedBy'>): string {
  const approvals = gate.approvedBy ?? [];
  return `${approvals.length} of ${gate.approvalsRequired ?? 1} approvals${approvals.length > 0 ? `: ${approvals.map((a) => a.by).join(', ')}` : ''}`;
}

/** One decision on one gate: the audit trail of who let the run through. */
export const auditRecordSchema = z.object({
  gate: z.string(),
  round: z.number().int(),
  decision: z.enum(['approve', 'reject', 'auto-approve', 'expire', 'close', 'reopen', 'override']),
  by: z.string(),
  at: z.string(),
  comment: z.string().optional(),
  via: z.enum(['api', 'slack', 'temporal', 'policy', 'timer', 'run']),
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

export const artifactSchema = z.object({
  phase: phaseSchema,
  kind: z.string(),
  path: z.string(),
  service: z.string().optional(),
});
export type Artifact = z.infer<typeof artifactSchema>;

export const timelineEventSchema = z.object({
  at: z.string(),
  phase: z.union([phaseSchema, z.literal('run')]),
  event: z.string(),
  detail: z.string().optional(),
});
export type TimelineEvent = z.infer<typeof timelineEventSchema>;

export const checkStatusSchema = z.enum(['pass', 'fail', 'no-data', 'error']);
export type CheckStatus = z.infer<typeof checkStatusSchema>;
export const noDataPolicySchema = z.enum(['pass', 'fail', 'inconclusive']);

/** One SLO check in one sample: the evidence behind a verdict. */
export const checkResultSchema = z.object({
  name: z.string(),
  /** The PromQL as sent, placeholders filled in. */
  query: z.string(),
  value: z.number().optional(),
  threshold: z.number(),
  failWhen: z.enum(['above', 'below']),
  status: checkStatusSchema,
  noData: noDataPolicySchema,
  detail: z.string(),
});
export type CheckResult = z.infer<typeof checkResultSchema>;

/**
 * One metric of the new version against its baseline in one sample: a one-sided Mann-Whitney U
 * test over every point so far, and how much worse the mean is. Only statistics: the points stay in Prometheus.
 */
export const baselineComparisonSchema = z.object({
  metric: z.string(),
  /** `pods`: the previous image's pods during the soak; `window`: the service before the rollout. */
  source: z.enum(['pods', 'window']).optional(),
  /**
   * `pending`: too few points of the new version yet; `skipped`: nothing to compare with (the
   * rollout created the service); `no-data`: too few points when there should be enough.
   */
  status: z.enum(['pending', 'skipped', 'pass', 'worse', 'no-data']),
  detail: z.string(),
  /** The range queries as sent (one point per `step`), and the time each covers. */
  newQuery: z.string().optional(),
  baselineQuery: z.string().optional(),
  newRange: z.object({ from: z.string(), to: z.string() }).optional(),
  baselineRange: z.object({ from: z.string(), to: z.string() }).optional(),
  step: z.string(),
  points: z.object({ new: z.number().int(), baseline: z.number().int() }),
  means: z.object({ new: z.number(), baseline: z.number() }).optional(),
  /** U of the new version's points (pairs where its point is the higher, ties half), its z and the one-sided p-value that it is worse. */
  u: z.number().optional(),
  z: z.number().optional(),
  pValue: z.number().optional(),
  /** How much worse the new mean is: a fraction of the baseline's mean (relative) or in the metric's unit; absent when the baseline's mean is 0. */
  effect: z.number().optional(),
  effectKind: z.enum(['relative', 'absolute']),
  minEffect: z.number(),
  confidence: z.number(),
  noData: noDataPolicySchema,
});
export type BaselineComparison = z.infer<typeof baselineComparisonSchema>;

export const soakDecisionSchema = z.enum(['continue', 'fail', 'inconclusive']);
export type SoakDecision = z.infer<typeof soakDecisionSchema>;

/** One analysis sample taken during a soak or the watch. */
export const soakSampleSchema = z.object({
  service: z.string(),
  environment: z.string(),
  at: z.string(),
  sample: z.number().int().optional(),
  /** This sample alone: fail if a check failed; inconclusive for no data under that policy. */
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  detail: z.string(),
  /** Set when Prometheus could not answer (unreachable, or the query was refused). */
  error: z.string().optional(),
  requests: z.number().optional(),
  checks: z.array(checkResultSchema).optional(),
  /** The new version against its baseline, when the soak compares them. */
  comparisons: z.array(baselineComparisonSchema).optional(),
  /** What the analysis decided after this sample. */
  decision: soakDecisionSchema.optional(),
});
export type SoakSample = z.infer<typeof soakSampleSchema>;

/** What an analysis (a soak or the watch) amounts to so far; its samples are evidence, paged separately. */
export const analysisSummarySchema = z.object({
  kind: z.enum(['soak', 'watch']),
  /** Samples the analysis will take in all. */
  planned: z.number().int(),
  samples: z.number().int(),
  /** Child workflows holding the samples, in order (`<workflowId>/analysis-<n>`). */
  segments: z.number().int(),
  failing: z.number().int(),
  startedAt: z.string().optional(),
  endsAt: z.string().optional(),
  decision: z.enum(['running', 'passed', 'failed', 'inconclusive']),
  reason: z.string().optional(),
  last: z
    .object({
      at: z.string(),
      verdict: z.enum(['pass', 'fail', 'inconclusive']),
      detail: z.string(),
      errorRatio: z.number().optional(),
      p99Seconds: z.number().optional(),
      /** The watch's own checks: resident memory growth per hour (a fraction), database load as a multiple of its baseline. */
      memoryGrowthPerHour: z.number().optional(),
      dbConnectionsRatio: z.number().optional(),
      dbQueryTimeRatio: z.number().optional(),
    })
    .optional(),
});
export type AnalysisSummary = z.infer<typeof analysisSummarySchema>;

export const compensationRecordSchema = z.object({
  name: z.string(),
  status: z.enum(['armed', 'done', 'failed']),
  error: z.string().optional(),
  /** When it finished (done or failed). */
  at: z.string().optional(),
});
export type CompensationRecord = z.infer<typeof compensationRecordSchema>;

export const imageSchema = z.object({
  service: z.string(),
  /** The pushed reference, e.g. 127.0.0.1:5001/messages:3f2a…; deployments use `<repository>@<digest>`. */
  reference: z.string(),
  digest: z.string(),
  commit: z.string(),
});
export type ImageRecord = z.infer<typeof imageSchema>;

/** What Kubernetes did for one service in one environment; the saga's rollback goes back to `previousRevision`. */
export const deploymentSchema = z.object({
  deployment: z.string(),
  namespace: z.string(),
  /** Revision number the rollout produced. */
  revision: z.number().int(),
  /** The revision to return to on rollback; absent when this run created the Deployment. */
  previousRevision: z.number().int().optional(),
  /** The image the rollout runs, and the one it replaced. */
  image: z.string().optional(),
  previousImage: z.string().optional(),
  /** When the rollout became available. */
  at: z.string().optional(),
});
export type Deployment = z.infer<typeof deploymentSchema>;

/** A service's post-deploy verification in one environment (services[].verify). */
export const verificationSchema = z.object({
  command: z.string(),
  status: z.enum(['running', 'passed', 'failed']),
  exitCode: z.number().int().nullable().optional(),
  ms: z.number().optional(),
  /** The tail of its output (LIMITS.commandOutput), secrets it was given replaced by their names. */
  output: z.string().optional(),
  /** Why it failed: exit code, timeout, or why it could not run. */
  reason: z.string().optional(),
});
export type Verification = z.infer<typeof verificationSchema>;

/** One check of one service before an environment: its predeploy command, or, before production, tests, audit, outdated report. */
export const preDeployCheckSchema = z.object({
  service: z.string(),
  environment: z.string(),
  check: z.enum(['predeploy', 'test', 'audit', 'outdated']),
  command: z.string(),
  /**
   * `fail` and `unavailable` (an audit that could not reach its database) block unless `blocking`
   * is false; `report` is the outdated-dependency report: recorded, never blocking.
   */
  status: z.enum(['pass', 'fail', 'unavailable', 'report']),
  blocking: z.boolean(),
  exitCode: z.number().int().nullable(),
  ms: z.number(),
  /** The tail of its output (LIMITS.commandOutput). */
  output: z.string(),
  reason: z.string().optional(),
});
export type PreDeployCheck = z.infer<typeof preDeployCheckSchema>;

export const rolloutSummarySchema = z.object({
  service: z.string(),
  environment: z.string(),
  /** The serviceRollout child workflow: its query shows live progress, its analysis children hold the evidence. */
  workflowId: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'inconclusive']),
  step: z.enum(['migrate', 'deploy', 'verify', 'soak', 'done', 'rolling-back']).optional(),
  migrations: z.array(z.string()),
  deployment: deploymentSchema.optional(),
  soak: analysisSummarySchema.optional(),
  verification: verificationSchema.optional(),
  /** When the rollout began: the post-deploy watch compares database load with the time before it. */
  startedAt: z.string().optional(),
  reason: z.string().optional(),
});
export type RolloutSummary = z.infer<typeof rolloutSummarySchema>;

/** The post-deploy watch of one production service. */
export const watchSummarySchema = z.object({
  service: z.string(),
  environment: z.string(),
  workflowId: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'inconclusive']),
  analysis: analysisSummarySchema,
  reason: z.string().optional(),
});
export type WatchSummary = z.infer<typeof watchSummarySchema>;

export const tokenUsageSchema = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  costUsd: z.number(),
});
export type TokenUsage = z.infer<typeof tokenUsageSchema>;

/** Why a production rollout is not starting: a freeze, by hand or by a window. */
export const frozenWaitSchema = z.object({
  /** When the run began to wait, and for which service's rollout. */
  since: z.string(),
  service: z.string(),
  /** One line for people: "waiting: production frozen by lead — reason". */
  detail: z.string(),
  /** A freeze by hand: who, and why. */
  by: z.string().optional(),
  reason: z.string().optional(),
  /** Scheduled windows open now, and when the last of them closes. */
  windows: z.array(z.string()).optional(),
  until: z.string().optional(),
});
export type FrozenWait = z.infer<typeof frozenWaitSchema>;

export const runStateSchema = z.object({
  runId: z.string(),
  feature: z.string(),
  requester: z.string(),
  services: z.array(z.string()),
  /** How the plan touches each service (grpc, events, schema, cache, analytics); set by the architect phase. */
  integrations: z.record(z.string(), z.array(z.string())).optional(),
  /** `agents` with an llm section; `person` when people write and Slipway checks. */
  mode: z.enum(['agents', 'person']),
  status: runStatusSchema,
  phase: phaseSchema,
  environment: z.string().optional(),
  /** Why the run failed, rolled back or was cancelled. */
  reason: z.string().optional(),
  workspace: workspaceSchema.optional(),
  /** The run's first Slack message; milestones are posted as replies in its thread. */
  slackThread: slackMessageSchema.optional(),
  gates: z.record(z.string(), gateRecordSchema),
  approvals: z.array(auditRecordSchema),
  artifacts: z.array(artifactSchema),
  timeline: z.array(timelineEventSchema),
  /** Timeline events dropped from the front to keep the state bounded. */
  timelineDropped: z.number().int(),
  images: z.array(imageSchema),
  rollouts: z.array(rolloutSummarySchema),
  watches: z.array(watchSummarySchema),
  compensations: z.array(compensationRecordSchema),
  /** The latest checks before each environment (tests, audit, outdated report, predeploy), per service. */
  preDeployChecks: z.array(preDeployCheckSchema).optional(),
  /** Set while a production rollout waits for a freeze to lift (by hand, or a scheduled window until `until`). */
  frozen: frozenWaitSchema.optional(),
  /** An approver other than the requester let this run through production freezes. */
  freezeOverride: z.object({ by: z.string(), at: z.string(), comment: z.string() }).optional(),
  cost: z.object({ total: tokenUsageSchema, byPhase: z.record(z.string(), tokenUsageSchema) }),
  startedAt: z.string(),
  endedAt: z.string().optional(),
});
export type RunState = z.infer<typeof runStateSchema>;

/** One page of an analysis's samples. */
export const evidencePageSchema = z.object({
  samples: z.array(soakSampleSchema),
  /** Samples this child holds in all. */
  total: z.number().int(),
  offset: z.number().int(),
});
export type EvidencePage = z.infer<typeof evidencePageSchema>;

export function emptyUsage(): TokenUsage {
  return { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 };
}

export function addUsage(into: TokenUsage, add: TokenUsage): void {
  into.inputTokens += add.inputTokens;
  into.outputTokens += add.outputTokens;
  into.cacheReadTokens += add.cacheReadTokens;
  into.cacheWriteTokens += add.cacheWriteTokens;
  into.costUsd += add.costUsd;
}

/** Keeps the last `max` characters of a command's output, saying how much went before. */
export function clipTail(text: string, max: number): string {
  if (text.length <= max) return text;
  const note = `… (${text.length - max} earlier characters)\n`;
  return note + text.slice(text.length - Math.max(0, max - note.length));
}

/** Cuts a text to `max` characters, saying so. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 20)}… (${text.length - max + 20} more)`;
}

/** A run's state before anything happened: what the workflow starts from, and what the API publishes as its memo at start. */
export function initialRunState(run: { runId: string; feature: string; requester: string; services: string[]; mode: RunState['mode']; startedAt: string }): RunState {
  return {
    ...run,
    services: [...run.services],
    status: 'running',
    phase: 'specify',
    gates: {},
    approvals: [],
    artifacts: [],
    timeline: [],
    timelineDropped: 0,
    images: [],
    rollouts: [],
    watches: [],
    compensations: [],
    cost: { total: emptyUsage(), byPhase: {} },
  };
}
