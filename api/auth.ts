import { createHash, timingSafeEqual } from 'node:crypto';

export type Role = 'requester' | 'approver';

export interface Identity {
  name: string;
  role: Role;
}

interface TokenEntry {
  digest: Buffer;
  identity: Identity;
}

/** Bearer tokens and the identities they stand for, from SLIPWAY_API_TOKENS. */
export class TokenBook {
  private constructor(private readonly entries: TokenEntry[]) {}

  /**
   * Parses `name:role:token` entries separated by commas, e.g.
   * `alice:approver:s3cret,bob:requester:t0ken`. The token is everything after the second colon.
   * Errors never echo a token.
   */
  static parse(spec: string | undefined): TokenBook {
    if (spec === undefined || spec.trim() === '') {
      throw new Error('SLIPWAY_API_TOKENS is not set: give at least one name:role:token entry (roles: requester, approver)');
    }
    const entries = spec.split(',').map((raw, index) => {
      const entry = raw.trim();
      const first = entry.indexOf(':');
      const second = entry.indexOf(':', first + 1);
      const name = entry.slice(0, first);
      const role = entry.slice(first + 1, second);
      const token = entry.slice(second + 1);
      if (first <= 0 || second <= first || token.length === 0) {
        throw new Error(`SLIPWAY_API_TOKENS entry ${index + 1} is not name:role:token`);
      }
      if (!/^[a-z][a-z0-9-]*$/.test(name)) {
        throw new Error(`SLIPWAY_API_TOKENS entry ${index + 1}: name "${name}" must be lower-case letters, digits and dashes`);
      }
      if (role !== 'requester' && role !== 'approver') {
        throw new Error(`SLIPWAY_API_TOKENS entry ${index + 1} (${name}): role must be requester or approver, got "${role}"`);
      }
      if (token.length < 16) {
        throw new Error(`SLIPWAY_API_TOKENS entry ${index + 1} (${name}): the token must be at least 16 characters`);
      }
      return { digest: digest(token), identity: { name, role } as Identity };
    });
    return new TokenBook(entries);
  }

  /** The identity for a bearer token, compared in constant time against every entry. */
  identify(token: string): Identity | undefined {
    const candidate = digest(token);
    let found: Identity | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, candidate)) found = entry.identity;
    }
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}
