/**
 * A worker in its own process, so a test can SIGKILL it. Every activity call is
 * appended synchronously to SLIPWAY_TEST_CALLS_FILE before it returns.
 */
import { appendFileSync } from 'node:fs';
import { Context } from '@temporalio/activity';
import { activityDoubles } from './doubles';
import { connectTestTemporal, testWorker } from './temporal';

async function main(): Promise<void> {
  const callsFile = process.env.SLIPWAY_TEST_CALLS_FILE;
  const taskQueue = process.env.SLIPWAY_TEST_TASK_QUEUE;
  if (!callsFile || !taskQueue) throw new Error('SLIPWAY_TEST_CALLS_FILE and SLIPWAY_TEST_TASK_QUEUE are required');
  const env = await connectTestTemporal();
  const { activities } = activityDoubles({}, (call) => appendFileSync(callsFile, `${JSON.stringify({ pid: process.pid, attempt: Context.current().info.attempt, ...call })}\n`));
  const worker = await testWorker(env, taskQueue, activities);
  process.stdout.write('worker ready\n');
  await worker.run();
}

main().catch((err: Error) => {
  console.error(err);
  process.exit(1);
});
