/**
 * The state of a later rollback of a delivered run: what it will undo, what it found in the world,
 * who let it through, and what each step did. One zod schema per shape, as in ./state.ts.
 */
import { z } from 'zod';
import { auditRecordSchema, deploymentSchema, gateRecordSchema, timelineEventSchema } from './state';

export const ROLLBACK_STATUSES = ['checking', 'refused', 'awaiting-approval', 'rolling-back', 'rolled-back', 'failed', 'rejected', 'expired', 'cancelled'] as const;
export const rollbackStatusSchema = z.enum(ROLLBACK_STATUSES);
export type RollbackStatus = z.infer<typeof rollbackStatusSchema>;

/** One undo: a Deployment back to the revision before the run, or the run's migrations reverted. */
export const rollbackStepSchema = z.object({
  service: z.string(),
  environment: z.string(),
  kind: z.enum(['deployment', 'migrations']),
  /** What the step does, for people: "back to revision 3 (image …)", "revert 20260101000000". */
  detail: z.string(),
  /** The run's own record of the rollout (deployment steps). */
  deployment: deploymentSchema.optional(),
  /** The versions the run applied (migration steps). */
  versions: z.array(z.string()).optional(),
  status: z.enum(['pending', 'done', 'failed']),
  /** Done before this rollback ran it: the world already showed what the step leaves. */
  already: z.boolean().optional(),
  error: z.string().optional(),
  at: z.string().optional(),
});
export type RollbackStep = z.infer<typeof rollbackStepSchema>;

/** Something a later change did to what the run delivered: the reason a rollback is refused unless forced. */
export const rollbackConflictSchema = z.object({
  service: z.string(),
  environment: z.string(),
  kind: z.enum(['deployment', 'migrations']),
  /** What the world shows now, and (when forced) what the rollback takes away from it. */
  detail: z.string(),
  loses: z.string(),
});
export type RollbackConflict = z.infer<typeof rollbackConflictSchema>;

export const deliveredRollbackStateSchema = z.object({
  /** This rollback's workflow id: `<runId>.rollback`. */
  rollbackId: z.string(),
  /** The delivered run it rolls back. */
  runId: z.string(),
  feature: z.string(),
  branch: z.string(),
  /** Who asked for it, and why; four-eyes keeps them from approving it. */
  requester: z.string(),
  reason: z.string(),
  status: rollbackStatusSchema,
  /** In the order they run: production first, then the other environments, each in reverse rollout order. */
  steps: z.array(rollbackStepSchema),
  /** Later changes found in the world when the rollback was checked (and again after its approval). */
  conflicts: z.array(rollbackConflictSchema),
  /** Asked with --force: the conflicts are accepted, and what they lose is shown at the gate. */
  forced: z.object({ by: z.string(), comment: z.string() }).optional(),
  gates: z.record(z.string(), gateRecordSchema),
  approvals: z.array(auditRecordSchema),
  timeline: z.array(timelineEventSchema),
  /** Why it ended as it did (refused, rejected, failed steps). */
  outcome: z.string().optional(),
  /** The record committed on the run's branch. */
  recordPath: z.string().optional(),
  startedAt: z.string(),
  endedAt: z.string().optional(),
});
export type DeliveredRollbackState = z.infer<typeof deliveredRollbackStateSchema>;

/** A rollback's workflow id, from the run it rolls back (one at a time per run). */
export const rollbackIdOf = (runId: string): string => `${runId}.rollback`;
