import { randomUUID } from 'node:crypto';

export interface Notification {
  id: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
  createdAt: string;
}

export interface NewNotification {
  idempotencyKey: string;
  userId: string;
  kind: string;
  title: string;
  body: string;
}

export interface StoreLimits {
  /** Newest notifications kept per user. */
  perUser: number;
  /** Users kept; the one notified longest ago goes first. */
  users: number;
  /** Idempotency keys remembered; a retry older than this many events is recorded again. */
  keys: number;
}

/**
 * Notifications in this process's memory, bounded so a long soak cannot grow it without limit.
 * Each replica keeps its own and a restart forgets them: enough for a sample, said in the README.
 */
export class NotificationStore {
  private readonly byUser = new Map<string, Notification[]>();
  private readonly byKey = new Map<string, Notification>();

  constructor(private readonly limits: StoreLimits = { perUser: 200, users: 10_000, keys: 100_000 }) {}

  record(input: NewNotification): { notification: Notification; duplicate: boolean } {
    const seen = this.byKey.get(input.idempotencyKey);
    if (seen) return { notification: seen, duplicate: true };
    const notification: Notification = {
      id: randomUUID(),
      userId: input.userId,
      kind: input.kind,
      title: input.title,
      body: input.body,
      createdAt: new Date().toISOString(),
    };
    this.remember(input.idempotencyKey, notification);
    const list = this.byUser.get(input.userId) ?? [];
    // Re-inserted so the map's order is "least recently notified first".
    this.byUser.delete(input.userId);
    this.byUser.set(input.userId, list);
    list.push(notification);
    if (list.length > this.limits.perUser) list.splice(0, list.length - this.limits.perUser);
    while (this.byUser.size > this.limits.users) this.byUser.delete(this.byUser.keys().next().value as string);
    return { notification, duplicate: false };
  }

  /** Newest first. */
  list(userId: string, limit: number): Notification[] {
    return (this.byUser.get(userId) ?? []).slice(-limit).reverse();
  }

  private remember(key: string, notification: Notification): void {
    this.byKey.set(key, notification);
    while (this.byKey.size > this.limits.keys) this.byKey.delete(this.byKey.keys().next().value as string);
  }
}
