import type { ListenConfig } from './config';
import { notificationsHandlers } from './handlers';
import type { Logger } from './log';
import { loadService } from './protos';
import { serve, type RunningServer } from './serve';
import { NotificationStore } from './store';

export const SERVICE_NAME = 'sample.notifications.v1.Notifications';

/** The notifications service on its gRPC and HTTP ports; ready as soon as it listens. */
export function startNotificationsServer(options: { listen: ListenConfig; log: Logger; store?: NotificationStore }): Promise<RunningServer> {
  const store = options.store ?? new NotificationStore();
  return serve({
    listen: options.listen,
    log: options.log,
    services: [{ definition: loadService('notifications.proto', SERVICE_NAME), implementation: notificationsHandlers(store, options.log) }],
    probes: { ready: async () => true },
  });
}
