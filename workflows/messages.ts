import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { RunReport } from './report';
import type { GateRecord, RunState } from './state';

/**
 * A person's decision on a gate. Versioned: running workflows outlive deploys,
 * so a change of shape gets a new type rather than a changed one.
 */
export interface DecisionV1 {
  gate: string;
  decision: 'approve' | 'reject';
  /** Approver identity (from the API token, the Slack user mapping, or typed in the Temporal UI). */
  approver: string;
  comment?: string;
  via?: 'api' | 'slack' | 'temporal';
  /** The round the decider saw (a Slack button carries it); a decision for an older round is refused. */
  round?: number;
  /** An approval that stands alone, whatever the gate needs otherwise: only by the gate's `overrideBy`, with a comment. */
  override?: boolean;
}

export interface CancelRequestV1 {
  by: string;
  reason?: string;
}

/** Failure types the `decide` validator raises; the API maps them to HTTP statuses. */
export const DecisionRejection = {
  UnknownGate: 'UnknownGate',
  GateNotPending: 'GateNotPending',
  ApproverNotAllowed: 'ApproverNotAllowed',
  CommentRequired: 'CommentRequired',
  FourEyes: 'FourEyes',
  /** The approver already approved this round of a gate that needs several. */
  AlreadyApproved: 'AlreadyApproved',
  InvalidDecision: 'InvalidDecision',
} as const;

/** An approver lets one run through production freezes (four-eyes: never its requester). */
export interface FreezeOverrideV1 {
  approver: string;
  comment: string;
  via?: 'api' | 'temporal';
}

export const decideUpdate = defineUpdate<GateRecord, [DecisionV1]>('decide');
/** The same decision as a Signal, for the Temporal UI and CLI (invalid ones are recorded and ignored). */
export const decideSignal = defineSignal<[DecisionV1]>('decideSignal');
/** Who asked for a cancel and why; sent just before the cancel request itself. */
export const cancelRequestSignal = defineSignal<[CancelRequestV1]>('cancelRequest');
export const freezeOverrideUpdate = defineUpdate<NonNullable<RunState['freezeOverride']>, [FreezeOverrideV1]>('freezeOverride');
export const statusQuery = defineQuery<RunState>('status');
/** The summary report as it stands (final once the run has ended), computed from the run's state. */
export const reportQuery = defineQuery<RunReport>('report');

/** The memo key holding the run's trimmed state (with `asOf`), kept current by the workflow. */
export const RUN_MEMO = 'slipwayRun';
/** The memo key holding the final summary report (bounded), set once the run has written it. */
export const REPORT_MEMO = 'slipwayReport';
