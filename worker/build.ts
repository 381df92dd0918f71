import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Activities } from '../activities';

export interface WorkerDeps {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: Activities;
  /** Pre-bundled workflow code (tests bundle once per file); otherwise bundled from workflows/. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Interceptors and sinks for metrics and traces (worker/telemetry.ts). */
  telemetry?: Pick<WorkerOptions, 'interceptors' | 'sinks'>;
  /** Overrides for tests (e.g. a short sticky-queue timeout). */
  options?: Partial<WorkerOptions>;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** Builds the Slipway worker from explicit dependencies. */
export async function buildWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    activities: deps.activities,
    ...(deps.workflowBundle !== undefined ? { workflowBundle: deps.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    ...deps.telemetry,
    ...deps.options,
  });
}
