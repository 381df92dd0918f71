import { Context } from '@temporalio/activity';

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Heartbeats when running as a Temporal activity; a no-op when called directly (tests, scripts). */
export function heartbeatIfActivity(details?: unknown): void {
  currentContext()?.heartbeat(details);
}

/**
 * Runs `work` while heartbeating on a timer, so an activity stays alive however long one step
 * takes (a child process, a streamed model answer). It beats three times per heartbeat timeout
 * (at most every 10 s), so one late beat never times the activity out.
 */
export async function whileHeartbeating<T>(work: () => Promise<T>, details: () => unknown = () => undefined): Promise<T> {
  const context = currentContext();
  if (context === undefined) return work();
  const timeoutMs = context.info.heartbeatTimeoutMs ?? 0;
  const everyMs = timeoutMs > 0 ? Math.min(10_000, Math.max(100, Math.floor(timeoutMs / 3))) : 10_000;
  context.heartbeat(details());
  const timer = setInterval(() => context.heartbeat(details()), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
