import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { loadConfig } from '../config/load';
import { configPath, fatal, logger } from '../config/runtime';
import { checkSandbox } from '../activities/sandbox';
import { ensureBubblewrap } from '../scripts/bubblewrap';
import { ensureCrane } from '../scripts/crane';
import { ensurePrometheus } from '../scripts/prometheus';
import { connectExplained, connectionOptions } from '../config/temporal';
import { setUpTracing } from '../config/tracing';
import { buildWorker } from './build';
import { prebuiltWorkflowBundle } from './bundle';
import { pruneClosedWorktrees } from './prune';
import { startMetricsServer, WorkerMetrics } from './metrics';
import { registerSearchAttributes } from './searchAttributes';
import { addressFromEnv, installRuntime, workerTelemetry } from './telemetry';

async function main(): Promise<void> {
  const file = configPath();
  const config = await loadConfig(file);
  const temporal = config.temporal;
  const tracing = setUpTracing('slipway-worker');
  const metrics = new WorkerMetrics();
  // The SDK's own metrics (task slots, schedule-to-start latency) on one port, Slipway's on another.
  installRuntime(addressFromEnv(process.env.SLIPWAY_SDK_METRICS_ADDRESS, '127.0.0.1:9465'));
  const options = connectionOptions(temporal);
  const operator = await connectExplained(temporal, options, () => Connection.connect(options));
  const added = await registerSearchAttributes(operator, temporal.namespace);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  if (config.worker.pruneWorktrees) {
    await pruneClosedWorktrees(operator, config, logger).catch((err: Error) => logger.warn({ err: err.message }, 'could not prune the worktrees of ended runs'));
  }
  await operator.close();
  const connection = await connectExplained(temporal, options, () => NativeConnection.connect(options));
  const bundle = prebuiltWorkflowBundle();
  // No sandbox, no run: without one the agent and command activities refuse (unless sandbox.mode is none, said loudly).
  if (config.sandbox.mode === 'bubblewrap') await ensureBubblewrap((line) => logger.info(line)).catch((err: Error) => logger.error({ err: err.message }, 'bubblewrap could not be installed'));
  await checkSandbox(config.sandbox, logger);
  const worker = await buildWorker({
    connection,
    namespace: temporal.namespace,
    taskQueue: temporal.taskQueue,
    activities: createActivities({
      logger,
      // Tools are located (and installed, for a local start) here, never inside an activity.
      promtool: process.env.SLIPWAY_PROMTOOL ?? (await ensurePrometheus((line) => logger.info(line))).promtool,
      namespace: temporal.namespace,
      sandbox: config.sandbox,
      // Images are built and found with crane when the config says where they go.
      ...(config.images !== undefined ? { crane: process.env.SLIPWAY_CRANE ?? (await ensureCrane((line) => logger.info(line))) } : {}),
      ...(config.slack ? { slack: config.slack } : {}),
      ...(process.env.SLIPWAY_TEMPORAL_UI_URL || temporal.uiUrl ? { temporalUiUrl: process.env.SLIPWAY_TEMPORAL_UI_URL ?? temporal.uiUrl } : {}),
    }),
    telemetry: workerTelemetry({ metrics, tracing }),
    ...(bundle !== undefined ? { workflowBundle: bundle } : {}),
    // Set on purpose: parked runs beyond this are evicted and replayed when their decision comes.
    options: { maxCachedWorkflows: config.worker.maxCachedWorkflows },
  });
  const metricsAddress = addressFromEnv(process.env.SLIPWAY_WORKER_METRICS_ADDRESS, '127.0.0.1:9464');
  const server = metricsAddress !== undefined ? await startMetricsServer(metricsAddress, metrics.registry, () => worker.getState() === 'RUNNING') : undefined;
  logger.info(
    { taskQueue: temporal.taskQueue, maxCachedWorkflows: config.worker.maxCachedWorkflows, address: temporal.address, tls: options.tls !== undefined, metrics: server?.url, traces: tracing.endpoint, prebuiltBundle: bundle?.codePath },
    'worker started',
  );
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM: running activities finish or are handed back.
  await worker.run();
  await server?.close();
  await tracing.shutdown();
  await connection.close();
  logger.info('worker stopped');
}

main().catch(fatal);
