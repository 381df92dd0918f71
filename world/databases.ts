/**
 * The local world's per-service, per-environment PostgreSQL databases (messages_dev,
 * messages_staging, …), created on the machine's server when missing.
 */
import { Client } from 'pg';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** PostgreSQL's own rule for an unquoted identifier, lower case only, so the name needs no quoting anywhere. */
const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Any key: it only has to be the same number for every caller of ensureDatabases. */
const CREATE_LOCK = 0x534c4950; // "SLIP"

/** `adminUrl` with its database replaced by `name`; user, password, host, port and parameters stay. */
export function databaseUrl(adminUrl: string, name: string): string {
  checkName(name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Creates each database that does not exist yet and returns the URL of every one, by name.
 * Concurrent callers are serialized by an advisory lock, so two start-ups never race on CREATE DATABASE.
 */
export async function ensureDatabases(options: { adminUrl?: string; names: string[] }): Promise<Record<string, string>> {
  const adminUrl = options.adminUrl ?? DEFAULT_ADMIN_URL;
  options.names.forEach(checkName);
  const admin = new Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect().catch((err: Error & { code?: string }) => {
    // An AggregateError (both ::1 and 127.0.0.1 refused) has an empty message but a code.
    throw new Error(`PostgreSQL is not reachable at ${redacted(adminUrl)} (${err.message || err.code}): start it, or pass the admin URL of a server that runs`);
  });
  try {
    await admin.query('SELECT pg_advisory_lock($1)', [CREATE_LOCK]);
    const existing = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [options.names]);
    const present = new Set(existing.rows.map((r) => r.datname));
    for (const name of options.names) {
      if (present.has(name)) continue;
      // A creator that does not take our lock (a person with psql) may still win: "already exists"
      // (42P04), or the catalog's unique index (23505) when both were inserting at once.
      await admin.query(`CREATE DATABASE ${name}`).catch((err: Error & { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw new Error(`could not create database ${name} on ${redacted(adminUrl)}: ${err.message}`);
      });
      present.add(name);
    }
    return Object.fromEntries(options.names.map((name) => [name, databaseUrl(adminUrl, name)]));
  } finally {
    // Ending the session releases the advisory lock too.
    await admin.end().catch(() => undefined);
  }
}

function checkName(name: string): void {
  if (!DATABASE_NAME.test(name)) throw new Error(`database name ${JSON.stringify(name)} must be lower-case letters, digits and _ (at most 63, not starting with a digit)`);
}

/** The URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}
