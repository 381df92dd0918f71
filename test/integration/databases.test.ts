import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { databaseUrl, DEFAULT_ADMIN_URL, ensureDatabases } from '../../world/databases';

const ADMIN_URL = process.env.SLIPWAY_TEST_POSTGRES_URL ?? DEFAULT_ADMIN_URL;

async function query<T extends object>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

describe('ensureDatabases', () => {
  const prefix = `slipway_dbtest_${randomBytes(4).toString('hex')}`;
  const names = ['dev', 'staging', 'production'].map((env) => `${prefix}_${env}`);

  afterAll(async () => {
    const left = await query<{ datname: string }>(ADMIN_URL, 'SELECT datname FROM pg_database WHERE datname LIKE $1', [`${prefix}%`]);
    for (const { datname } of left) await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
  });

  test('creates each database once and returns a URL that reaches it', async () => {
    const urls = await ensureDatabases({ adminUrl: ADMIN_URL, names });
    expect(Object.keys(urls)).toEqual(names);
    for (const name of names) {
      expect(urls[name]).toBe(databaseUrl(ADMIN_URL, name));
      expect(await query(urls[name] as string, 'SELECT current_database() AS db')).toEqual([{ db: name }]);
    }
    const oids = await query<{ oid: number }>(ADMIN_URL, 'SELECT oid FROM pg_database WHERE datname = ANY($1) ORDER BY oid', [names]);
    // A second call finds them all and creates nothing (the same databases, not new ones).
    expect(await ensureDatabases({ adminUrl: ADMIN_URL, names })).toEqual(urls);
    expect(await query(ADMIN_URL, 'SELECT oid FROM pg_database WHERE datname = ANY($1) ORDER BY oid', [names])).toEqual(oids);
  });

  test('is safe when several callers create the same databases at once', async () => {
    const shared = ['a', 'b', 'c', 'd'].map((n) => `${prefix}_race_${n}`);
    const callers = Array.from({ length: 6 }, (_, i) => ensureDatabases({ adminUrl: ADMIN_URL, names: i % 2 === 0 ? shared : [...shared].reverse() }));
    // Settled, not all: a failure must not leave other callers creating databases after the test.
    const results = await Promise.allSettled(callers);
    for (const result of results) {
      if (result.status === 'rejected') throw result.reason;
      expect(Object.keys(result.value).sort()).toEqual([...shared].sort());
    }
    const created = await query<{ datname: string }>(ADMIN_URL, 'SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1', [`${prefix}_race_%`]);
    expect(created.map((r) => r.datname)).toEqual([...shared].sort());
  });

  test('says which server it could not reach, without its password', async () => {
    await expect(ensureDatabases({ adminUrl: 'postgres://postgres:s3cret@127.0.0.1:1/postgres', names: [`${prefix}_x`] })).rejects.toThrow(
      /^PostgreSQL is not reachable at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/postgres \(.*ECONNREFUSED.*\)/,
    );
    await expect(ensureDatabases({ adminUrl: 'postgres://postgres:s3cret@127.0.0.1:1/postgres', names: [`${prefix}_x`] })).rejects.not.toThrow(/s3cret/);
  });

  test('rejects a name that would need quoting, before connecting', async () => {
    await expect(ensureDatabases({ adminUrl: 'postgres://postgres@127.0.0.1:1/postgres', names: ['messages; DROP DATABASE postgres'] })).rejects.toThrow(
      /database name "messages; DROP DATABASE postgres" must be lower-case letters/,
    );
    expect(() => databaseUrl(ADMIN_URL, 'Messages')).toThrow(/must be lower-case/);
  });

  test('databaseUrl keeps user, password, host, port and parameters', () => {
    expect(databaseUrl('postgres://app:pw@db.internal:5433/postgres?sslmode=require', 'messages_dev')).toBe('postgres://app:pw@db.internal:5433/messages_dev?sslmode=require');
  });
});
