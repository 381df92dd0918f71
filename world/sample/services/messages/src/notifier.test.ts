import assert from 'node:assert/strict';
import { it } from 'node:test';
import { notificationsAddress } from './notifier';

it('finds notifications from NOTIFICATIONS_ADDR, else from the Kubernetes service variables', () => {
  assert.equal(notificationsAddress({ NOTIFICATIONS_ADDR: '127.0.0.1:7000', NOTIFICATIONS_SERVICE_HOST: '10.0.0.1', NOTIFICATIONS_SERVICE_PORT: '50051' }), '127.0.0.1:7000');
  assert.equal(notificationsAddress({ NOTIFICATIONS_SERVICE_HOST: '10.0.0.1', NOTIFICATIONS_SERVICE_PORT: '80', NOTIFICATIONS_SERVICE_PORT_GRPC: '50051' }), '10.0.0.1:50051');
  assert.equal(notificationsAddress({ NOTIFICATIONS_SERVICE_HOST: '10.0.0.1', NOTIFICATIONS_SERVICE_PORT: '50051' }), '10.0.0.1:50051');
  assert.equal(notificationsAddress({}), undefined);
});
