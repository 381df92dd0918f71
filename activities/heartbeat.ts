import { Context } from '@temporalio/activity';

/** Heartbeats when running as a Temporal activity; a no-op when called directly (tests, scripts). */
export function heartbeatIfActivity(details?: unknown): void {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return;
  }
  context.heartbeat(details);
}
