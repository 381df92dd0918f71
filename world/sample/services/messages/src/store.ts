import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';

export interface Message {
  id: string;
  senderId: string;
  recipientId: string;
  body: string;
  /** RFC 3339, UTC. */
  sentAt: string;
}

export interface NewMessage {
  senderId: string;
  recipientId: string;
  body: string;
}

/** What notifications hears about a new message (topic "message.sent"). */
export interface MessageSentEvent {
  messageId: string;
  senderId: string;
  recipientId: string;
  /** The first 140 characters of the body. */
  preview: string;
}

export const MESSAGE_SENT = 'message.sent';

export interface MessageStore {
  /** Stores the message and its "message.sent" outbox event together: both or neither. */
  send(message: NewMessage): Promise<Message>;
  /** Messages `userId` received, newest first. */
  inbox(userId: string, limit: number): Promise<Message[]>;
  /** Resolves when the store can serve. */
  ping(): Promise<void>;
}

export function sentEvent(message: Message): MessageSentEvent {
  return { messageId: message.id, senderId: message.senderId, recipientId: message.recipientId, preview: message.body.slice(0, 140) };
}

interface MessageRow {
  id: string;
  sender_id: string;
  recipient_id: string;
  body: string;
  sent_at: Date;
}

const fromRow = (row: MessageRow): Message => ({ id: row.id, senderId: row.sender_id, recipientId: row.recipient_id, body: row.body, sentAt: row.sent_at.toISOString() });

export class PostgresMessageStore implements MessageStore {
  constructor(private readonly pool: Pool) {}

  async send(input: NewMessage): Promise<Message> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<MessageRow>(
        'INSERT INTO messages (id, sender_id, recipient_id, body) VALUES ($1, $2, $3, $4) RETURNING id, sender_id, recipient_id, body, sent_at',
        [randomUUID(), input.senderId, input.recipientId, input.body],
      );
      const message = fromRow(rows[0] as MessageRow);
      await client.query('INSERT INTO outbox_events (topic, payload) VALUES ($1, $2)', [MESSAGE_SENT, JSON.stringify(sentEvent(message))]);
      await client.query('COMMIT');
      return message;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async inbox(userId: string, limit: number): Promise<Message[]> {
    const { rows } = await this.pool.query<MessageRow>(
      'SELECT id, sender_id, recipient_id, body, sent_at FROM messages WHERE recipient_id = $1 ORDER BY sent_at DESC, id LIMIT $2',
      [userId, limit],
    );
    return rows.map(fromRow);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }
}

/** A store in memory, for handler tests that run without PostgreSQL. */
export class MemoryMessageStore implements MessageStore {
  readonly messages: Message[] = [];
  readonly events: MessageSentEvent[] = [];
  failing = false;

  async send(input: NewMessage): Promise<Message> {
    if (this.failing) throw new Error('store unavailable');
    const message: Message = { id: randomUUID(), ...input, sentAt: new Date().toISOString() };
    this.messages.push(message);
    this.events.push(sentEvent(message));
    return message;
  }

  async inbox(userId: string, limit: number): Promise<Message[]> {
    if (this.failing) throw new Error('store unavailable');
    return this.messages.filter((m) => m.recipientId === userId).reverse().slice(0, limit);
  }

  async ping(): Promise<void> {
    if (this.failing) throw new Error('store unavailable');
  }
}
