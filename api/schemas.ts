/** Request and reply schemas of the HTTP API; run shapes come from the workflow's own schemas. */
import { z } from 'zod';
import { runReportSchema } from '../workflows/report';
import { freezeEventSchema, freezeRecordSchema } from '../workflows/productionFreeze';
import { gateRecordSchema, LIMITS, RUN_STATUSES, runStateSchema, soakSampleSchema } from '../workflows/state';
import { deliveredRollbackStateSchema } from '../workflows/rollbackState';

export const errorSchema = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
});

/** Run ids are `feature-<slug>-<key>`; nothing else (no slashes, no control characters) reaches Temporal. */
const runId = z.string().min(1).max(300).regex(/^[A-Za-z0-9._-]+$/, 'a run id has only letters, digits, dots, dashes and underscores');
export const runIdParams = z.object({ id: runId });
export const gateParams = runIdParams.extend({ gate: z.string().min(1).max(100).regex(/^[a-z0-9-]+$/, 'a gate name has only lower-case letters, digits and dashes') });

/** Control characters never reach a branch name, a file or a Slack message. */
export function cleanText(text: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

/** The error replies every run and freeze route declares. */
export const errorReplies = { 400: errorSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema, 503: errorSchema };

export const startRunBody = z.object({
  feature: z
    .string()
    .max(1000)
    .transform(cleanText)
    .pipe(z.string().min(10, 'describe the feature in at least 10 characters (control characters and spaces do not count)')),
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
  status: z.enum(RUN_STATUSES).optional(),
  phase: z
    .string()
    .regex(/^[a-z][a-z0-9:-]*$/)
    .optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  /** From the previous page's nextPageToken. */
  pageToken: z.string().min(1).max(4000).regex(/^[A-Za-z0-9_-]+$/, 'pageToken is not a token this API gave out').optional(),
});

export const runSummary = z.object({
  runId: z.string(),
  feature: z.string().optional(),
  status: z.string().optional(),
  phase: z.string().optional(),
  services: z.array(z.string()),
  requester: z.string().optional(),
  branch: z.string().optional(),
  /** The gate the run waits at, if any. */
  waitingFor: z.object({ gate: z.string(), round: z.number().int(), since: z.string(), deadlineAt: z.string() }).optional(),
  /** Why a production rollout of the run waits: a freeze by hand or a scheduled window. */
  held: z.string().optional(),
  startedAt: z.string(),
  temporalStatus: z.string(),
});
export type RunSummary = z.infer<typeof runSummary>;

export const listRunsReply = z.object({ runs: z.array(runSummary), nextPageToken: z.string().optional() });

/**
 * The run state as the workflow keeps it; running rollouts and watches are filled in live from
 * their children. `stale`: no worker answered in time, so this is the copy the run last published
 * (`asOf`), with a shortened timeline.
 */
export const runReply = runStateSchema.extend({
  stale: z.boolean().optional(),
  asOf: z.string().optional(),
  /** A delivered run that was asked to be rolled back later: that rollback and where it stands. */
  rollback: z.object({ rollbackId: z.string(), status: z.string(), requester: z.string().optional() }).optional(),
});
export type RunReply = z.infer<typeof runReply>;

export const evidenceQuery = z.object({
  service: z.string().min(1).max(100),
  environment: z.string().min(1).max(100).optional(),
  kind: z.enum(['soak', 'watch']).default('soak'),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  pageSize: z.coerce.number().int().min(1).max(LIMITS.evidencePageMax).default(LIMITS.evidencePageSize),
});

export const evidenceReply = z.object({
  runId: z.string(),
  service: z.string(),
  environment: z.string(),
  kind: z.enum(['soak', 'watch']),
  page: z.number().int(),
  pageSize: z.number().int(),
  pages: z.number().int(),
  total: z.number().int(),
  samples: z.array(soakSampleSchema),
});

/**
 * The summary report, as JSON (`report`) and as the Markdown committed on the branch. `final` once the
 * run has ended (until then it says where the run stands). `stale`: no worker answered, so it was
 * made from the run's memo copy and today's config, without what the branch holds.
 */
export const reportReply = z.object({
  runId: z.string(),
  status: z.string(),
  final: z.boolean(),
  stale: z.boolean().optional(),
  report: runReportSchema,
  markdown: z.string(),
});

export const decisionBody = z
  .object({
    comment: z.string().trim().max(4000).optional(),
    /** Approve alone, whatever the gate needs otherwise: only its `overrideBy`, with a comment saying why. */
    override: z.boolean().optional(),
  })
  .default({});
export const rejectBody = z.object({
  comment: z.string().trim().min(1, 'a rejection needs a comment saying what to change').max(4000),
});
export const cancelBody = z.object({ reason: z.string().trim().max(1000).optional() }).default({});

export const gateReply = z.object({ runId: z.string(), gate: gateRecordSchema });
export const cancelReply = z.object({ runId: z.string(), cancelRequested: z.boolean() });

export const freezeBody = z.object({
  reason: z.string().max(1000).transform(cleanText).pipe(z.string().min(1, 'freezing production needs a reason people will read')),
});
export const unfreezeBody = z.object({ comment: z.string().max(1000).transform(cleanText).optional() }).default({});
export const freezeOverrideBody = z.object({
  comment: z.string().max(4000).transform(cleanText).pipe(z.string().min(1, 'overriding a production freeze needs a comment saying why this cannot wait')),
});

/**
 * Whether production is frozen. `manual`: frozen by hand (who, when, why); `windows`: scheduled
 * windows open now (today's config), until `windowsUntil`. `stale`: no worker answered, so the
 * freeze by hand comes from the freeze workflow's memo, without history.
 */
export const freezeReply = z.object({
  frozen: z.boolean(),
  manual: freezeRecordSchema.optional(),
  windows: z.array(z.object({ name: z.string(), timeZone: z.string(), reason: z.string().optional() })),
  windowsUntil: z.string().optional(),
  /** Freezes and unfreezes by hand, newest last. */
  history: z.array(freezeEventSchema),
  /** Runs held by the freeze by hand, waiting for it to lift. */
  waitingRuns: z.array(z.string()),
  stale: z.boolean().optional(),
});
export type FreezeReply = z.infer<typeof freezeReply>;

export const rollbackBody = z
  .object({
    reason: z.string().max(2000).transform(cleanText).pipe(z.string().min(1, 'a rollback needs a reason people will read')),
    /** Go ahead although later changes are found; needs a comment, and the gate shows what they lose. */
    force: z.boolean().optional(),
    comment: z.string().max(4000).transform(cleanText).optional(),
  })
  .refine((body) => !body.force || (body.comment ?? '') !== '', { message: 'forcing a rollback needs a comment saying why the later changes may go', path: ['comment'] });

/** A later rollback of a delivered run; `stale`: no worker answered, so this is the copy it last published. */
export const rollbackReply = deliveredRollbackStateSchema.extend({ stale: z.boolean().optional(), asOf: z.string().optional() });

export const freezeOverrideReply = z.object({ runId: z.string(), override: z.object({ by: z.string(), at: z.string(), comment: z.string() }) });
