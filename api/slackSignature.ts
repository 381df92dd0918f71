import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack refuses to replay requests older than this, and so do we. */
export const MAX_SKEW_SECONDS = 5 * 60;

/** `v0=` + HMAC-SHA256 of `v0:<timestamp>:<raw body>` with the signing secret. */
export function slackSignature(secret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

/** Why a request is not from Slack, or undefined when it is. */
export function verifySlackRequest(input: {
  secret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: string;
  nowSeconds: number;
}): string | undefined {
  if (!input.timestamp || !input.signature) return 'missing Slack signature headers';
  const ts = Number(input.timestamp);
  if (!Number.isInteger(ts)) return 'malformed Slack timestamp';
  if (Math.abs(input.nowSeconds - ts) > MAX_SKEW_SECONDS) return 'Slack request timestamp is more than five minutes off';
  const expected = Buffer.from(slackSignature(input.secret, input.timestamp, input.rawBody));
  const given = Buffer.from(input.signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'Slack signature does not match';
  return undefined;
}
