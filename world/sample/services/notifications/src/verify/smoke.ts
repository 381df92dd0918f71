/**
 * Smoke test of a deployed notifications service (dev, and production after its soak): ready,
 * records a notification and lists it, and a retried call is recognised as a duplicate. Run with
 * `npm run smoke` against the environment Slipway describes in the variables (see environment.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SERVICE_NAME } from '../app';
import type { ListNotificationsResponse, NotifyResponse } from '../handlers';
import { loadService } from '../protos';
import { testClient } from '../testClient';
import { checkUser, environmentName, serviceAddress } from './environment';

describe(`notifications smoke test in ${environmentName()}`, () => {
  let client: ReturnType<typeof testClient>;
  before(() => {
    client = testClient(loadService('notifications.proto', SERVICE_NAME), serviceAddress('notifications', 'grpc'));
  });
  after(() => client?.close());

  it('is ready', async () => {
    const response = await fetch(`http://${serviceAddress('notifications', 'http')}/readyz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(response.status, 200);
  });

  it('records a notification once, however often it is sent, and lists it', async () => {
    const user = checkUser('user');
    const request = { idempotencyKey: `smoke:${user}`, userId: user, kind: 'smoke.check', title: 'Smoke test', body: 'ignore me' };
    const first = await client.call<NotifyResponse>('Notify', request);
    const again = await client.call<NotifyResponse>('Notify', request);
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    const listed = await client.call<ListNotificationsResponse>('ListNotifications', { userId: user, limit: 10 });
    assert.deepEqual(listed.notifications.map((n) => n.id), [first.notification.id]);
  });
});
