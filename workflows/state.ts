/** RunState: everything the `status` query returns. Pure data, safe to import anywhere. */

export const PHASES = [
  'specify',
  'architect',
  'tasks',
  'implement',
  'prepare-deploy',
  'deploy',
  'observability',
  'docs',
  /** Only when config asks for the post-deploy watch. */
  'watch',
  'report',
] as const;
export type Phase = (typeof PHASES)[number];

export type RunStatus = 'running' | 'awaiting-approval' | 'succeeded' | 'failed' | 'rolled-back' | 'cancelled';
export const TERMINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'rolled-back', 'cancelled'];

/** `closed`: the run ended (failed, cancelled) while the gate still waited. */
export type GateStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'closed';

/** One decision on one gate: the audit trail of who let the run through. */
export interface AuditRecord {
  gate: string;
  round: number;
  decision: 'approve' | 'reject' | 'auto-approve' | 'expire' | 'close';
  by: string;
  at: string;
  comment?: string;
  via: 'api' | 'slack' | 'temporal' | 'policy' | 'timer' | 'run';
}

export interface GateRecord {
  name: string;
  status: GateStatus;
  /** 1 for the first time the gate opens; a rejected spec reopens it with round + 1. */
  round: number;
  openedAt: string;
  deadlineAt: string;
  /** What the approver is asked to review. */
  summary: string;
  /** Approver ids allowed to decide; empty means any approver. */
  approvers: string[];
  /** The run's requester may not approve this gate (four-eyes). */
  fourEyes: boolean;
  decidedBy?: string;
  decidedAt?: string;
  comment?: string;
  /** Slack message of this gate, so later updates replace it instead of posting anew. */
  message?: SlackMessageRef;
}

export interface SlackMessageRef {
  channel: string;
  ts: string;
}

export interface Artifact {
  phase: Phase;
  kind: string;
  path: string;
  service?: string;
}

export interface TimelineEvent {
  at: string;
  phase: Phase | 'run';
  event: string;
  detail?: string;
}

export type CheckStatus = 'pass' | 'fail' | 'no-data' | 'error';

/** One SLO check in one sample: the evidence behind a verdict. */
export interface CheckResult {
  name: string;
  /** The PromQL as sent, placeholders filled in. */
  query: string;
  value?: number;
  threshold: number;
  failWhen: 'above' | 'below';
  status: CheckStatus;
  noData: 'pass' | 'fail' | 'inconclusive';
  detail: string;
}

/** One analysis sample taken during a soak. */
export interface SoakSample {
  service: string;
  environment: string;
  at: string;
  sample?: number;
  /** This sample alone: fail if a check failed; inconclusive for no data under that policy. */
  verdict: 'pass' | 'fail' | 'inconclusive';
  detail: string;
  /** Set when Prometheus could not answer (unreachable, or the query was refused). */
  error?: string;
  requests?: number;
  checks?: CheckResult[];
  /** What the soak decided after this sample. */
  decision?: SoakDecision;
}

export type SoakDecision = 'continue' | 'fail' | 'inconclusive';

export interface CompensationRecord {
  name: string;
  status: 'armed' | 'done' | 'failed';
  error?: string;
}

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUsd: number;
}

export interface RunState {
  runId: string;
  feature: string;
  requester: string;
  services: string[];
  status: RunStatus;
  phase: Phase;
  environment?: string;
  /** Why the run failed, rolled back or was cancelled. */
  reason?: string;
  workspace?: { branch: string; path: string; specDir: string };
  /** The run's first Slack message; milestones are posted as replies in its thread. */
  slackThread?: SlackMessageRef;
  /** The serviceRollout child running now, whose own progress query shows live soak samples. */
  activeRollout?: { workflowId: string; service: string; environment: string };
  gates: Record<string, GateRecord>;
  approvals: AuditRecord[];
  artifacts: Artifact[];
  timeline: TimelineEvent[];
  verdicts: SoakSample[];
  compensations: CompensationRecord[];
  cost: { total: TokenUsage; byPhase: Partial<Record<Phase, TokenUsage>> };
  startedAt: string;
  endedAt?: string;
}

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
