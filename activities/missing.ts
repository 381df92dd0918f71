import { ApplicationFailure } from '@temporalio/common';

export const ADAPTER_MISSING = 'AdapterMissing';

/**
 * The honest answer of an activity whose real adapter has not been built:
 * a non-retryable failure naming what is missing, never a pretend success.
 */
export function adapterMissing(activity: string, missing: string): never {
  throw ApplicationFailure.nonRetryable(`${activity}: not built yet — ${missing}`, ADAPTER_MISSING);
}
