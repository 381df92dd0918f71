import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotificationStore } from './store';

const note = (key: string, userId: string) => ({ idempotencyKey: key, userId, kind: 'k', title: key, body: '' });

describe('NotificationStore', () => {
  it('keeps only the newest notifications per user', () => {
    const store = new NotificationStore({ perUser: 2, users: 10, keys: 100 });
    for (const key of ['a', 'b', 'c']) store.record(note(key, 'ada'));
    assert.deepEqual(store.list('ada', 10).map((n) => n.title), ['c', 'b']);
  });

  it('forgets the user notified longest ago first', () => {
    const store = new NotificationStore({ perUser: 5, users: 2, keys: 100 });
    store.record(note('1', 'ada'));
    store.record(note('2', 'bob'));
    store.record(note('3', 'ada'));
    store.record(note('4', 'cy'));
    assert.equal(store.list('bob', 10).length, 0);
    assert.equal(store.list('ada', 10).length, 2);
  });

  it('remembers a bounded number of idempotency keys', () => {
    const store = new NotificationStore({ perUser: 10, users: 10, keys: 1 });
    store.record(note('a', 'ada'));
    assert.equal(store.record(note('a', 'ada')).duplicate, true);
    store.record(note('b', 'ada'));
    assert.equal(store.record(note('a', 'ada')).duplicate, false);
  });
});
