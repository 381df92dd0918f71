import { randomUUID } from 'node:crypto';
import { Client } from 'pg';

/** The machine's PostgreSQL (trust auth on loopback); override with SLIPWAY_TEST_POSTGRES_URL. */
const ADMIN_URL = process.env.SLIPWAY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database for one test. */
export async function freshDatabase(): Promise<TestDatabase> {
  const name = `slipway_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new Client({ connectionString: ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Tables, columns and indexes of the public schema, for before/after comparisons. */
export async function schemaOf(url: string): Promise<{ columns: string[]; indexes: string[] }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query<{ c: string }>(
      `SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS c FROM information_schema.columns
       WHERE table_schema = 'public' AND table_name <> 'slipway_schema_migrations' ORDER BY 1`,
    );
    const indexes = await client.query<{ i: string }>(`SELECT indexname AS i FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'slipway_schema_migrations' ORDER BY 1`);
    return { columns: columns.rows.map((r) => r.c), indexes: indexes.rows.map((r) => r.i) };
  } finally {
    await client.end();
  }
}

export async function appliedVersions(url: string): Promise<{ version: string; run_id: string }[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const exists = await client.query(`SELECT to_regclass('public.slipway_schema_migrations') AS t`);
    if (exists.rows[0]?.t === null) return [];
    return (await client.query<{ version: string; run_id: string }>('SELECT version, run_id FROM slipway_schema_migrations ORDER BY version')).rows;
  } finally {
    await client.end();
  }
}
