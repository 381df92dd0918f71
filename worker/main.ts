import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { loadConfig } from '../config/load';
import { configPath, fatal, logger } from '../config/runtime';
import { ensurePrometheus } from '../scripts/prometheus';
import { buildWorker } from './build';
import { registerSearchAttributes } from './searchAttributes';

async function main(): Promise<void> {
  const config = await loadConfig(configPath());
  const operator = await Connection.connect({ address: config.temporal.address });
  const added = await registerSearchAttributes(operator, config.temporal.namespace);
  if (added.length > 0) logger.info({ added }, 'registered search attributes');
  await operator.close();
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await buildWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({
      logger,
      // Tools are located (and installed, for a local start) here, never inside an activity.
      promtool: process.env.SLIPWAY_PROMTOOL ?? (await ensurePrometheus((line) => logger.info(line))).promtool,
      namespace: config.temporal.namespace,
      ...(config.slack ? { slack: config.slack } : {}),
      ...(process.env.SLIPWAY_TEMPORAL_UI_URL || config.temporal.uiUrl ? { temporalUiUrl: process.env.SLIPWAY_TEMPORAL_UI_URL ?? config.temporal.uiUrl } : {}),
    }),
  });
  logger.info({ taskQueue: config.temporal.taskQueue, address: config.temporal.address }, 'worker started');
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM: running activities finish or are handed back.
  await worker.run();
  await connection.close();
  logger.info('worker stopped');
}

main().catch(fatal);
