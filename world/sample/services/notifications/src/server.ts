import { startNotificationsServer } from './app';
import { listenConfig } from './config';
import { createLogger } from './log';
import { exitOnSignals } from './serve';

const log = createLogger('notifications');

async function main(): Promise<void> {
  const running = await startNotificationsServer({ listen: listenConfig(), log });
  log.info('serving', { grpcPort: running.grpcPort, httpPort: running.httpPort });
  exitOnSignals(() => running.stop(), log);
}

main().catch((err: Error) => {
  log.error('failed to start', { error: err.message });
  process.exit(1);
});
