import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import { SERVICE_NAME, startMessagesServer } from './app';
import type { ListMessagesResponse, SendMessageResponse } from './handlers';
import { createLogger } from './log';
import { loadService } from './protos';
import type { RunningServer } from './serve';
import { MemoryMessageStore } from './store';
import { metricValue, testClient } from './testClient';

const codeOf = (code: number) => (err: ServiceError) => err.code === code;

describe('the messages service over gRPC (store in memory)', () => {
  const store = new MemoryMessageStore();
  const logged: string[] = [];
  let server: RunningServer;
  let client: ReturnType<typeof testClient>;
  const get = (path: string) => fetch(`http://127.0.0.1:${server.httpPort}${path}`);

  before(async () => {
    server = await startMessagesServer({ listen: { host: '127.0.0.1', grpcPort: 0, httpPort: 0 }, log: createLogger('messages', 'error', (line) => logged.push(line)), store });
    client = testClient(loadService('messages.proto', SERVICE_NAME), `127.0.0.1:${server.grpcPort}`);
  });
  after(async () => {
    client.close();
    await server.stop();
  });

  it('stores a message, records its event, and lists the inbox newest first', async () => {
    const sent = await client.call<SendMessageResponse>('SendMessage', { senderId: 'ada', recipientId: 'bob', body: 'hello' });
    assert.equal(sent.message.recipientId, 'bob');
    assert.match(sent.message.sentAt, /^\d{4}-\d{2}-\d{2}T/);
    await client.call('SendMessage', { senderId: 'cy', recipientId: 'bob', body: 'second' });
    const inbox = await client.call<ListMessagesResponse>('ListMessages', { userId: 'bob', limit: 10 });
    assert.deepEqual(inbox.messages.map((m) => m.body), ['second', 'hello']);
    assert.deepEqual(store.events[0], { messageId: sent.message.id, senderId: 'ada', recipientId: 'bob', preview: 'hello' });
  });

  it('rejects empty, oversized and self-addressed messages as INVALID_ARGUMENT', async () => {
    await assert.rejects(client.call('SendMessage', { senderId: 'ada', recipientId: 'bob', body: '   ' }), codeOf(status.INVALID_ARGUMENT));
    await assert.rejects(client.call('SendMessage', { senderId: 'ada', recipientId: 'bob', body: 'x'.repeat(2001) }), codeOf(status.INVALID_ARGUMENT));
    await assert.rejects(client.call('SendMessage', { senderId: 'ada', recipientId: 'ada', body: 'me' }), codeOf(status.INVALID_ARGUMENT));
    await assert.rejects(client.call('ListMessages', { userId: '' }), codeOf(status.INVALID_ARGUMENT));
    assert.equal(store.messages.length, 2);
  });

  it('answers INTERNAL and reports not ready while its store fails', async () => {
    store.failing = true;
    try {
      await assert.rejects(client.call('SendMessage', { senderId: 'ada', recipientId: 'bob', body: 'lost' }), (err: ServiceError) => {
        assert.equal(err.code, status.INTERNAL);
        assert.equal(err.details, 'internal error');
        return true;
      });
      assert.match(logged.join(''), /"msg":"SendMessage failed","error":"store unavailable"/, 'the cause is logged, not sent to the caller');
      assert.equal((await get('/readyz')).status, 503);
      assert.equal((await get('/healthz')).status, 200);
    } finally {
      store.failing = false;
    }
    assert.equal((await get('/readyz')).status, 200);
  });

  it('counts every call by method and real gRPC code', async () => {
    const text = await (await get('/metrics')).text();
    const send = { grpc_service: SERVICE_NAME, grpc_method: 'SendMessage', grpc_type: 'unary' };
    assert.equal(metricValue(text, 'grpc_server_handled_total', { ...send, grpc_code: 'OK' }), 2);
    assert.equal(metricValue(text, 'grpc_server_handled_total', { ...send, grpc_code: 'InvalidArgument' }), 3);
    assert.equal(metricValue(text, 'grpc_server_handled_total', { ...send, grpc_code: 'Internal' }), 1);
    assert.equal(metricValue(text, 'grpc_server_started_total', send), 6);
    assert.equal(metricValue(text, 'grpc_server_handling_seconds_count', send), 6);
    assert.equal(metricValue(text, 'grpc_server_handled_total', { grpc_method: 'ListMessages', grpc_code: 'InvalidArgument' }), 1);
  });
});
