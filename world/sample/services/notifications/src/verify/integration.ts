/**
 * Integration suite of a deployed notifications service (staging): what its callers rely on —
 * concurrent retries of one event record it once, and a user's list is newest first within the
 * limit. Run with `npm run test:integration` (smoke test included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICE_NAME } from '../app';
import type { ListNotificationsResponse, NotifyResponse } from '../handlers';
import { loadService } from '../protos';
import { testClient } from '../testClient';
import { checkUser, environmentName, serviceAddress } from './environment';

describe(`notifications integration suite in ${environmentName()}`, () => {
  let client: ReturnType<typeof testClient>;
  before(() => {
    client = testClient(loadService('notifications.proto', SERVICE_NAME), serviceAddress('notifications', 'grpc'));
  });
  after(() => client?.close());

  it('records one notification for concurrent retries of the same event', async () => {
    const user = checkUser('user');
    const request = { idempotencyKey: `integration:${user}`, userId: user, kind: 'message.received', title: 'Retried', body: '' };
    const replies = await Promise.all(Array.from({ length: 5 }, () => client.call<NotifyResponse>('Notify', request)));
    assert.equal(new Set(replies.map((r) => r.notification.id)).size, 1);
    assert.equal(replies.filter((r) => !r.duplicate).length, 1);
  });

  it("lists a user's notifications newest first, within the limit", async () => {
    const user = checkUser('user');
    for (const title of ['first', 'second', 'third']) await client.call('Notify', { idempotencyKey: `integration:${user}:${title}`, userId: user, kind: 'message.received', title, body: '' });
    const listed = await client.call<ListNotificationsResponse>('ListNotifications', { userId: user, limit: 2 });
    assert.deepEqual(listed.notifications.map((n) => n.title), ['third', 'second']);
  });
});
