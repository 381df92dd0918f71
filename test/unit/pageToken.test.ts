import { decodePageToken, encodePageToken } from '../../api/pageToken';

const query = "WorkflowType = 'featureDelivery' AND SlipwayStatus = 'running'";
const temporalToken = Buffer.from('{"StartTime":"2026-01-01T00:00:00Z","RunID":"abc"}');

test('a token the API gave out comes back as the same Temporal token, for the same query only', () => {
  const text = encodePageToken(query, temporalToken);
  expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
  expect(Buffer.from(decodePageToken(query, text) ?? [])).toEqual(temporalToken);
  expect(decodePageToken("WorkflowType = 'featureDelivery'", text)).toBeUndefined();
});

test.each(['call', 'X9', '-', 'AAAA', 'AAAAAAAAAAAAAAAAAAAAAAAA', 'eyJhIjoxfQ'])('%s is refused without asking Temporal', (text) => {
  expect(decodePageToken(query, text)).toBeUndefined();
});

test('a changed byte is refused', () => {
  const bytes = Buffer.from(encodePageToken(query, temporalToken), 'base64url');
  bytes[3] = (bytes[3] ?? 0) ^ 1;
  expect(decodePageToken(query, bytes.toString('base64url'))).toBeUndefined();
});
