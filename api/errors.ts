import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { DecisionRejection } from '../workflows/messages';
import type { Identity } from './auth';
import { FreezeRejection } from '../workflows/productionFreeze';

/** An error that is the caller's to fix, with the HTTP status that says so. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const rejectionStatus: Record<string, number> = {
  [DecisionRejection.UnknownGate]: 404,
  [DecisionRejection.GateNotPending]: 409,
  [DecisionRejection.ApproverNotAllowed]: 403,
  [DecisionRejection.FourEyes]: 403,
  [DecisionRejection.AlreadyApproved]: 409,
  [DecisionRejection.CommentRequired]: 400,
  [DecisionRejection.InvalidDecision]: 400,
  [FreezeRejection.AlreadyFrozen]: 409,
  [FreezeRejection.NotFrozen]: 409,
  [FreezeRejection.NotWaitingForFreeze]: 409,
  [FreezeRejection.ReasonRequired]: 400,
  [FreezeRejection.InvalidRequest]: 400,
};

/** The caller's identity from the bearer token the server checked; a request without one is a 401. */
export function identityOf(request: { identity?: Identity }): Identity {
  if (request.identity === undefined) throw new HttpError(401, 'missing bearer token');
  return request.identity;
}

/** Turns what Temporal said into an HttpError; returns undefined for errors it does not know. */
export function fromTemporal(err: unknown, runId: string): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof WorkflowNotFoundError) return new HttpError(404, `run ${runId} not found`);
  if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
    const status = rejectionStatus[err.cause.type ?? ''];
    if (status !== undefined) return new HttpError(status, err.cause.message);
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/workflow execution already completed|workflow.*(completed|closed)/i.test(message)) {
    return new HttpError(409, `run ${runId} has ended; its gates can no longer be decided`);
  }
  if (/deadline exceeded|UNAVAILABLE|ECONNREFUSED|failed to connect/i.test(message)) {
    return new HttpError(503, `Temporal did not answer in time for run ${runId}: is the server up and a worker running?`);
  }
  return undefined;
}
