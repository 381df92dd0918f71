import { createHash } from 'node:crypto';

/** Bytes of checksum after Temporal's token. */
const CHECK_BYTES = 8;

const checksum = (query: string, token: Uint8Array) => createHash('sha256').update(query).update('\0').update(token).digest().subarray(0, CHECK_BYTES);

/**
 * A page token as the API hands it out: Temporal's visibility token plus a checksum over it and
 * the list query it continues. Not a secret; it lets the API refuse a token it never gave out (or
 * one from another filter) at once, instead of passing it on to Temporal, which answers a token it
 * cannot read with UNKNOWN after the client has retried it for twenty seconds.
 */
export function encodePageToken(query: string, token: Uint8Array): string {
  return Buffer.concat([token, checksum(query, token)]).toString('base64url');
}

/** Temporal's token inside a token from encodePageToken for the same query, or undefined. */
export function decodePageToken(query: string, text: string): Uint8Array | undefined {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.length <= CHECK_BYTES) return undefined;
  const token = bytes.subarray(0, bytes.length - CHECK_BYTES);
  return checksum(query, token).equals(bytes.subarray(bytes.length - CHECK_BYTES)) ? token : undefined;
}
