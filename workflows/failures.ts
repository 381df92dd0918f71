import { ApplicationFailure } from '@temporalio/workflow';

/** The innermost failure message: what a person needs, not "Activity task failed". */
export function failureReason(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  let current: unknown = err instanceof Error ? err.cause : undefined;
  while (current instanceof Error) {
    if (current.message) message = current.message;
    current = current.cause;
  }
  return message;
}

/** The ApplicationFailure at the bottom of a chain of activity/child failures, if any. */
export function rootApplicationFailure(err: unknown): ApplicationFailure | undefined {
  let current: unknown = err;
  let found: ApplicationFailure | undefined;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure) found = current;
    current = current.cause;
  }
  return found;
}
