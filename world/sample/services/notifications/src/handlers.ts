import type { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from './log';
import type { Notification, NotificationStore } from './store';
import { failure, pageLimit, requireText } from './validate';

export interface NotifyRequest {
  idempotencyKey: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
}
export interface NotifyResponse {
  notification: Notification;
  duplicate: boolean;
}
export interface ListNotificationsRequest {
  userId: string;
  limit: number;
}
export interface ListNotificationsResponse {
  notifications: Notification[];
}

export interface NotificationsHandlers extends UntypedServiceImplementation {
  notify: handleUnaryCall<NotifyRequest, NotifyResponse>;
  listNotifications: handleUnaryCall<ListNotificationsRequest, ListNotificationsResponse>;
}

export function notificationsHandlers(store: NotificationStore, log: Logger): NotificationsHandlers {
  return {
    notify(call, callback) {
      try {
        const request = call.request;
        const result = store.record({
          idempotencyKey: requireText(request.idempotencyKey, 'idempotency_key', 200),
          userId: requireText(request.userId, 'user_id', 64),
          kind: requireText(request.kind, 'kind', 64),
          title: requireText(request.title, 'title', 200),
          body: request.body.slice(0, 2000),
        });
        callback(null, result);
      } catch (err) {
        callback(failure(err, 'Notify', log));
      }
    },
    listNotifications(call, callback) {
      try {
        const userId = requireText(call.request.userId, 'user_id', 64);
        callback(null, { notifications: store.list(userId, pageLimit(call.request.limit)) });
      } catch (err) {
        callback(failure(err, 'ListNotifications', log));
      }
    },
  };
}
