import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { loadConfig } from '../config/load';
import { configPath, fatal, logger } from '../config/runtime';
import { buildWorker } from './build';

async function main(): Promise<void> {
  const config = await loadConfig(configPath());
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await buildWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities: createActivities({ config, logger }),
  });
  logger.info({ taskQueue: config.temporal.taskQueue, address: config.temporal.address }, 'worker started');
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM: running activities finish or are handed back.
  await worker.run();
  await connection.close();
  logger.info('worker stopped');
}

main().catch(fatal);
