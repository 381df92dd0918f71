import { TokenBook } from '../../api/auth';
import { runIdFor } from '../../api/routes/runs';

test('tokens map to identities; unknown tokens to none', () => {
  const book = TokenBook.parse('alice:requester:alice-token-with:colons, lead:approver:lead-token-0123456789');
  expect(book.identify('alice-token-with:colons')).toEqual({ name: 'alice', role: 'requester' });
  expect(book.identify('lead-token-0123456789')).toEqual({ name: 'lead', role: 'approver' });
  expect(book.identify('lead-token-012345678')).toBeUndefined();
});

test.each([
  [undefined, /SLIPWAY_API_TOKENS is not set/],
  ['alice', /entry 1 is not name:role:token/],
  ['alice:admin:0123456789abcdefgh', /role must be requester or approver, got "admin"/],
  ['Alice:approver:0123456789abcdefgh', /name "Alice" must be lower-case/],
  ['alice:approver:short', /at least 16 characters/],
])('a bad SLIPWAY_API_TOKENS (%s) fails without echoing the token', (spec, message) => {
  expect(() => TokenBook.parse(spec)).toThrow(message);
  try {
    TokenBook.parse(spec);
  } catch (err) {
    expect((err as Error).message).not.toContain('0123456789abcdefgh');
  }
});

test('run ids are readable, cut at a word, and keyed', () => {
  expect(runIdFor('Add real-time notifications when users receive new messages', 'k1')).toBe('feature-add-real-time-notifications-when-users-k1');
  expect(runIdFor('!!!', 'k2')).toBe('feature-run-k2');
});
