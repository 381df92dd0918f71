import { status, type ServerErrorResponse, type StatusObject } from '@grpc/grpc-js';
import type { Logger } from './log';

/** A rejected request: handlers turn it into the call's INVALID_ARGUMENT status. */
export class InvalidArgument extends Error {}

/** `value` trimmed, or InvalidArgument when it is empty or longer than `max` characters. */
export function requireText(value: string, field: string, max: number): string {
  const text = value.trim();
  if (text === '') throw new InvalidArgument(`${field} is required`);
  if (text.length > max) throw new InvalidArgument(`${field} is longer than ${max} characters`);
  return text;
}

/** 1 to 100; 0 (unset) means 20. */
export function pageLimit(limit: number): number {
  if (limit === 0) return 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InvalidArgument('limit must be between 1 and 100');
  return limit;
}

const lastLogged = new Map<string, { at: number; suppressed: number }>();

/**
 * The status a failed handler answers with: the caller's mistake, or our own failure. Our own
 * failures are logged with their cause, at most once per 10 s per method, so an outage does not
 * turn into a log line per request.
 */
export function failure(err: unknown, method: string, log: Logger): Partial<StatusObject> & Partial<ServerErrorResponse> {
  if (err instanceof InvalidArgument) return { code: status.INVALID_ARGUMENT, details: err.message };
  const seen = lastLogged.get(method) ?? { at: 0, suppressed: 0 };
  if (Date.now() - seen.at >= 10_000) {
    log.error(`${method} failed`, { error: (err as Error).message, suppressedSinceLast: seen.suppressed });
    lastLogged.set(method, { at: Date.now(), suppressed: 0 });
  } else {
    seen.suppressed++;
    lastLogged.set(method, seen);
  }
  return { code: status.INTERNAL, details: 'internal error' };
}
