import { Client, credentials, Metadata } from '@grpc/grpc-js';
import type { Deliver } from './outbox';
import { loadService } from './protos';
import { MESSAGE_SENT, type MessageSentEvent } from './store';

/**
 * Where notifications' gRPC port is: NOTIFICATIONS_ADDR (host:port), else the variables Kubernetes
 * sets for a Service named "notifications" with a port named "grpc"; undefined when neither is set.
 */
export function notificationsAddress(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.NOTIFICATIONS_ADDR) return env.NOTIFICATIONS_ADDR;
  const host = env.NOTIFICATIONS_SERVICE_HOST;
  const port = env.NOTIFICATIONS_SERVICE_PORT_GRPC ?? env.NOTIFICATIONS_SERVICE_PORT;
  return host && port ? `${host}:${port}` : undefined;
}

/** Delivers "message.sent" events as Notify calls for the recipient, keyed by message id so retries are harmless. */
export function notifyRecipients(address: string, deadlineMs = 2_000): { deliver: Deliver; close(): void } {
  const notify = loadService('notifications.proto', 'sample.notifications.v1.Notifications').Notify;
  if (notify === undefined) throw new Error('notifications.proto has no Notify method');
  const client = new Client(address, credentials.createInsecure());
  const deliver: Deliver = (event) => {
    if (event.topic !== MESSAGE_SENT) return Promise.reject(new Error(`no consumer for outbox topic ${event.topic}`));
    const sent = event.payload as MessageSentEvent;
    const request = {
      idempotencyKey: `${MESSAGE_SENT}:${sent.messageId}`,
      userId: sent.recipientId,
      kind: 'message.received',
      title: `New message from ${sent.senderId}`,
      body: sent.preview,
    };
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(notify.path, notify.requestSerialize, notify.responseDeserialize, request, new Metadata(), { deadline: Date.now() + deadlineMs }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  };
  return { deliver, close: () => client.close() };
}
