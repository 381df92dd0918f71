import { randomUUID } from 'node:crypto';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import { buildWorker } from '../../worker/build';
import { statusQuery } from '../../workflows/messages';
import type { RunState } from '../../workflows/state';

export interface TestTemporal {
  address: string;
  client: Client;
  native: NativeConnection;
  close(): Promise<void>;
}

/** Connects to the dev server that globalSetup started. */
export async function connectTestTemporal(): Promise<TestTemporal> {
  const address = process.env.SLIPWAY_TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('SLIPWAY_TEST_TEMPORAL_ADDRESS is not set: run the tests through jest (globalSetup starts Temporal)');
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  return {
    address,
    client: new Client({ connection }),
    native,
    async close() {
      await connection.close();
      await native.close();
    },
  };
}

export function uniqueTaskQueue(name: string): string {
  return `test-${name}-${randomUUID().slice(0, 8)}`;
}

export async function testWorker(env: TestTemporal, taskQueue: string, activities: Activities): Promise<Worker> {
  const codePath = process.env.SLIPWAY_TEST_WORKFLOW_BUNDLE;
  if (!codePath) throw new Error('SLIPWAY_TEST_WORKFLOW_BUNDLE is not set');
  return buildWorker({
    connection: env.native,
    namespace: 'default',
    taskQueue,
    activities,
    workflowBundle: { codePath },
    options: { stickyQueueScheduleToStartTimeout: '2s' },
  });
}

/** Polls until `check` returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function stateOf(handle: WorkflowHandle): Promise<RunState> {
  return handle.query(statusQuery);
}

/** Waits until the run has a pending gate of this name and returns the state. */
export function pendingGate(handle: WorkflowHandle, gate: string): Promise<RunState> {
  return eventually(async () => {
    const state = await stateOf(handle);
    return state.gates[gate]?.status === 'pending' ? state : undefined;
  }, `gate ${gate} to be pending`);
}

/**
 * Replays each workflow's history, as fetched from the dev server, against this test run's
 * workflow bundle: today's code must take the same steps. Returns how many replayed and, for each
 * that did not, "workflowId: error".
 */
export async function replayFailures(env: TestTemporal, workflowIds: string[]): Promise<{ replayed: number; failures: string[] }> {
  const histories = await Promise.all(workflowIds.map(async (workflowId) => ({ workflowId, history: await env.client.workflow.getHandle(workflowId).fetchHistory() })));
  const results = [];
  for await (const result of Worker.runReplayHistories({ workflowBundle: { codePath: process.env.SLIPWAY_TEST_WORKFLOW_BUNDLE as string } }, histories)) results.push(result);
  return { replayed: results.length, failures: results.filter((r) => r.error !== undefined).map((r) => `${r.workflowId}: ${r.error?.message}`) };
}
