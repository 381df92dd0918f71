import type { Registry } from 'prom-client';
import type { ListenConfig } from './config';
import { messagesHandlers } from './handlers';
import type { Logger } from './log';
import { loadService } from './protos';
import { serve, type RunningServer } from './serve';
import type { MessageStore } from './store';

export const SERVICE_NAME = 'sample.messages.v1.Messages';

/** The messages service on its gRPC and HTTP ports; ready while its store answers. */
export function startMessagesServer(options: { listen: ListenConfig; log: Logger; store: MessageStore; registry?: Registry }): Promise<RunningServer> {
  return serve({
    listen: options.listen,
    log: options.log,
    registry: options.registry,
    services: [{ definition: loadService('messages.proto', SERVICE_NAME), implementation: messagesHandlers(options.store, options.log) }],
    probes: { ready: () => options.store.ping().then(() => true) },
  });
}
