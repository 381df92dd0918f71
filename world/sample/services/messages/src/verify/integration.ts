/**
 * Integration suite of a deployed messages service with the services it works with (staging):
 * a message is stored with its event in PostgreSQL, the outbox relay delivers it, and the
 * recipient finds it in notifications. Run with `npm run test:integration` (smoke test included).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'pg';
import { SERVICE_NAME } from '../app';
import type { ListMessagesResponse, SendMessageResponse } from '../handlers';
import { loadService } from '../protos';
import { testClient } from '../testClient';
import { checkUser, environmentName, eventually, serviceAddress } from './environment';

interface ListNotificationsResponse {
  notifications: { id: string; kind: string; title: string; body: string }[];
}

describe(`messages integration suite in ${environmentName()}`, () => {
  let messages: ReturnType<typeof testClient>;
  let notifications: ReturnType<typeof testClient>;
  let pool: Pool;
  before(() => {
    assert.ok(process.env.DATABASE_URL, 'DATABASE_URL is not set: the integration suite reads what messages stored');
    messages = testClient(loadService('messages.proto', SERVICE_NAME), serviceAddress('messages', 'grpc'));
    notifications = testClient(loadService('notifications.proto', 'sample.notifications.v1.Notifications'), serviceAddress('notifications', 'grpc'));
    pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  });
  after(async () => {
    messages?.close();
    notifications?.close();
    await pool?.end();
  });

  it('delivers a new message to the recipient as a notification, through the outbox', async () => {
    const [sender, recipient] = [checkUser('sender'), checkUser('recipient')];
    const sent = await messages.call<SendMessageResponse>('SendMessage', { senderId: sender, recipientId: recipient, body: 'integration: are you there?' });
    const notified = await eventually(
      async () => (await notifications.call<ListNotificationsResponse>('ListNotifications', { userId: recipient, limit: 10 })).notifications.find((n) => n.kind === 'message.received'),
      30_000,
      `the notification of message ${sent.message.id}`,
    );
    assert.equal(notified.title, `New message from ${sender}`);
    assert.equal(notified.body, 'integration: are you there?');
    // The relay marks the event delivered once notifications took it: just after the notification exists.
    const delivered = await eventually(
      async () => {
        const { rows } = await pool.query<{ delivered: boolean }>("SELECT delivered_at IS NOT NULL AS delivered FROM outbox_events WHERE payload->>'messageId' = $1", [sent.message.id]);
        return rows.length === 1 && rows[0]?.delivered ? rows : undefined;
      },
      10_000,
      `the outbox event of message ${sent.message.id} to be marked delivered`,
    );
    assert.equal(delivered.length, 1);
  });

  it('stores each message once, and lists the inbox newest first within the limit', async () => {
    const recipient = checkUser('recipient');
    const ids: string[] = [];
    for (const body of ['one', 'two', 'three']) ids.push((await messages.call<SendMessageResponse>('SendMessage', { senderId: checkUser('sender'), recipientId: recipient, body })).message.id);
    const inbox = await messages.call<ListMessagesResponse>('ListMessages', { userId: recipient, limit: 2 });
    assert.deepEqual(inbox.messages.map((m) => m.body), ['three', 'two']);
    const { rows } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM messages WHERE id = ANY($1::uuid[])', [ids]);
    assert.equal(rows[0]?.n, '3');
  });
});
