import { z } from 'zod';

export const errorSchema = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
});

export const runIdParams = z.object({ id: z.string().min(1).max(300) });
export const gateParams = runIdParams.extend({ gate: z.string().min(1).max(100) });

export const startRunBody = z.object({
  feature: z.string().trim().min(10, 'describe the feature in at least 10 characters').max(1000),
  services: z.array(z.string().regex(/^[a-z][a-z0-9-]*$/)).max(50).optional(),
  idempotencyKey: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,64}$/, 'use up to 64 letters, digits, dots, dashes or underscores')
    .optional(),
});

export const startRunReply = z.object({
  runId: z.string(),
  created: z.boolean(),
  temporalUiUrl: z.string().optional(),
});

export const listRunsQuery = z.object({
  status: z.enum(['running', 'awaiting-approval', 'succeeded', 'failed', 'rolled-back', 'cancelled']).optional(),
  phase: z
    .string()
    .regex(/^[a-z][a-z0-9:-]*$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

export const runSummary = z.object({
  runId: z.string(),
  feature: z.string().optional(),
  status: z.string().optional(),
  phase: z.string().optional(),
  services: z.array(z.string()),
  startedAt: z.string(),
  temporalStatus: z.string(),
});

const gateRecord = z.object({
  name: z.string(),
  status: z.enum(['pending', 'approved', 'rejected', 'expired', 'closed']),
  round: z.number(),
  openedAt: z.string(),
  deadlineAt: z.string(),
  summary: z.string(),
  approvers: z.array(z.string()),
  fourEyes: z.boolean(),
  decidedBy: z.string().optional(),
  decidedAt: z.string().optional(),
  comment: z.string().optional(),
  message: z.object({ channel: z.string(), ts: z.string() }).optional(),
});

const usage = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  costUsd: z.number(),
});

const checkResult = z.object({
  name: z.string(),
  query: z.string(),
  value: z.number().optional(),
  threshold: z.number(),
  failWhen: z.enum(['above', 'below']),
  status: z.enum(['pass', 'fail', 'no-data', 'error']),
  noData: z.enum(['pass', 'fail', 'inconclusive']),
  detail: z.string(),
});

const soakSample = z.object({
  service: z.string(),
  environment: z.string(),
  at: z.string(),
  sample: z.number().optional(),
  verdict: z.enum(['pass', 'fail', 'inconclusive']),
  detail: z.string(),
  error: z.string().optional(),
  requests: z.number().optional(),
  checks: z.array(checkResult).optional(),
  decision: z.enum(['continue', 'fail', 'inconclusive']).optional(),
});

export const runStateSchema = z.object({
  runId: z.string(),
  feature: z.string(),
  requester: z.string(),
  services: z.array(z.string()),
  status: z.string(),
  phase: z.string(),
  environment: z.string().optional(),
  reason: z.string().optional(),
  workspace: z.object({ branch: z.string(), path: z.string(), specDir: z.string() }).optional(),
  slackThread: z.object({ channel: z.string(), ts: z.string() }).optional(),
  activeRollout: z.object({ workflowId: z.string(), service: z.string(), environment: z.string() }).optional(),
  gates: z.record(z.string(), gateRecord),
  approvals: z.array(
    z.object({
      gate: z.string(),
      round: z.number(),
      decision: z.string(),
      by: z.string(),
      at: z.string(),
      comment: z.string().optional(),
      via: z.string(),
    }),
  ),
  artifacts: z.array(z.object({ phase: z.string(), kind: z.string(), path: z.string(), service: z.string().optional() })),
  timeline: z.array(z.object({ at: z.string(), phase: z.string(), event: z.string(), detail: z.string().optional() })),
  verdicts: z.array(soakSample),
  compensations: z.array(z.object({ name: z.string(), status: z.string(), error: z.string().optional() })),
  cost: z.object({ total: usage, byPhase: z.record(z.string(), usage) }),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  /** Live soak samples of the rollout running now, from the child workflow's own query. */
  liveRollout: z
    .object({ step: z.string(), samples: z.array(soakSample), soakEndsAt: z.string().optional() })
    .optional(),
});

export const decisionBody = z
  .object({ comment: z.string().trim().max(4000).optional() })
  .default({});
export const rejectBody = z.object({
  comment: z.string().trim().min(1, 'a rejection needs a comment saying what to change').max(4000),
});
export const cancelBody = z.object({ reason: z.string().trim().max(1000).optional() }).default({});

export const gateReply = z.object({ runId: z.string(), gate: gateRecord });
export const cancelReply = z.object({ runId: z.string(), cancelRequested: z.boolean() });
