/** Small tools the benchmarks share: bounded concurrency, timing, waiting on Temporal visibility. */
import type { Client } from '@temporalio/client';

/** Runs `work` for each item with at most `concurrency` at once; results in item order. */
export async function pool<T, R>(items: T[], concurrency: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T, i);
  });
  await Promise.all(lanes);
  return results;
}

export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

/** Waits until visibility counts at least `count` executions for the query. */
export async function waitForCount(client: Client, query: string, count: number, what: string, timeoutMs: number, progress?: (n: number) => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const n = (await client.workflow.count(query)).count;
    if (n !== last) progress?.(n);
    last = n;
    if (n >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${n} of ${count} ${what} after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

/** Terminates every open execution the query finds (a benchmark leaves nothing running). */
export async function terminateAll(client: Client, query: string): Promise<number> {
  const ids: string[] = [];
  for await (const execution of client.workflow.list({ query: `${query} AND ExecutionStatus = 'Running'` })) ids.push(execution.workflowId);
  await pool(ids, 20, (id) => client.workflow.getHandle(id).terminate('benchmark over').catch(() => undefined));
  return ids.length;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
