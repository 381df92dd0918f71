import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { SERVICE_NAME, startNotificationsServer } from './app';
import type { ListNotificationsResponse, NotifyResponse } from './handlers';
import { createLogger } from './log';
import { loadService } from './protos';
import type { RunningServer } from './serve';
import { metricValue, testClient } from './testClient';

describe('the notifications service over gRPC', () => {
  let server: RunningServer;
  let client: ReturnType<typeof testClient>;

  before(async () => {
    server = await startNotificationsServer({ listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, log: createLogger('notifications', 'warn') });
    client = testClient(loadService('notifications.proto', SERVICE_NAME), `127.0.0.1:${server.grpcPort}`);
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('records a notification and lists the newest first', async () => {
    const first = await client.call<NotifyResponse>('Notify', { idempotencyKey: 'k1', userId: 'ada', kind: 'message.received', title: 'New message', body: 'hi' });
    assert.equal(first.duplicate, false);
    assert.equal(first.notification.userId, 'ada');
    await client.call<NotifyResponse>('Notify', { idempotencyKey: 'k2', userId: 'ada', kind: 'message.received', title: 'Another', body: '' });
    const listed = await client.call<ListNotificationsResponse>('ListNotifications', { userId: 'ada', limit: 10 });
    assert.deepEqual(listed.notifications.map((n) => n.title), ['Another', 'New message']);
    assert.equal(listed.notifications[1]?.id, first.notification.id);
  });

  it('answers a retried Notify with the notification it already has', async () => {
    const request = { idempotencyKey: 'retry-1', userId: 'bob', kind: 'message.received', title: 'Hello', body: '' };
    const first = await client.call<NotifyResponse>('Notify', request);
    const again = await client.call<NotifyResponse>('Notify', request);
    assert.equal(again.duplicate, true);
    assert.equal(again.notification.id, first.notification.id);
    assert.equal((await client.call<ListNotificationsResponse>('ListNotifications', { userId: 'bob' })).notifications.length, 1);
  });

  it('rejects a notification without a user as INVALID_ARGUMENT', async () => {
    await assert.rejects(client.call('Notify', { idempotencyKey: 'k3', userId: ' ', kind: 'x', title: 't' }), (err: ServiceError) => {
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.match(err.details, /user_id is required/);
      return true;
    });
    await assert.rejects(client.call('ListNotifications', { userId: 'ada', limit: 101 }), (err: ServiceError) => err.code === status.INVALID_ARGUMENT);
  });

  it('counts calls by method and code in go-grpc-prometheus metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${server.httpPort}/metrics`)).text();
    const labels = { grpc_service: SERVICE_NAME, grpc_type: 'unary' };
    // Earlier tests: four successful Notify calls, one rejected; one ListNotifications of each.
    assert.equal(metricValue(text, 'grpc_server_handled_total', { ...labels, grpc_method: 'Notify', grpc_code: 'OK' }), 4);
    assert.equal(metricValue(text, 'grpc_server_handled_total', { ...labels, grpc_method: 'Notify', grpc_code: 'InvalidArgument' }), 1);
    assert.equal(metricValue(text, 'grpc_server_started_total', { ...labels, grpc_method: 'Notify' }), 5);
    assert.equal(metricValue(text, 'grpc_server_handling_seconds_count', { ...labels, grpc_method: 'Notify' }), 5);
    assert.ok(text.includes('grpc_server_handling_seconds_bucket{le="0.0005",grpc_type="unary"'), 'a sub-millisecond bucket');
  });

  it('reports healthy and ready', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${server.httpPort}/readyz`)).status, 200);
  });
});
