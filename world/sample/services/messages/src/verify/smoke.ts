/**
 * Smoke test of a deployed messages service (dev, and production after its soak): ready, stores
 * a message and lists it, refuses a bad one. Run with `npm run smoke` against the environment
 * Slipway describes in the variables (see environment.ts).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { SERVICE_NAME } from '../app';
import type { ListMessagesResponse, SendMessageResponse } from '../handlers';
import { loadService } from '../protos';
import { testClient } from '../testClient';
import { checkUser, environmentName, serviceAddress } from './environment';

describe(`messages smoke test in ${environmentName()}`, () => {
  let client: ReturnType<typeof testClient>;
  before(() => {
    client = testClient(loadService('messages.proto', SERVICE_NAME), serviceAddress('messages', 'grpc'));
  });
  after(() => client?.close());

  it('is ready', async () => {
    const response = await fetch(`http://${serviceAddress('messages', 'http')}/readyz`, { signal: AbortSignal.timeout(5_000) });
    assert.equal(response.status, 200);
  });

  it("stores a message and lists it in the recipient's inbox", async () => {
    const [sender, recipient] = [checkUser('sender'), checkUser('recipient')];
    const sent = await client.call<SendMessageResponse>('SendMessage', { senderId: sender, recipientId: recipient, body: 'smoke test' });
    assert.equal(sent.message.recipientId, recipient);
    const inbox = await client.call<ListMessagesResponse>('ListMessages', { userId: recipient, limit: 10 });
    assert.deepEqual(inbox.messages.map((m) => m.id), [sent.message.id]);
  });

  it('refuses an empty message as INVALID_ARGUMENT', async () => {
    await assert.rejects(client.call('SendMessage', { senderId: checkUser('sender'), recipientId: checkUser('recipient'), body: '' }), (err: ServiceError) => err.code === status.INVALID_ARGUMENT);
  });
});
