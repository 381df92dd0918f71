import { Client, type DatabaseError } from 'pg';
import { Umzug } from 'umzug';
import type { MigrationFile } from './files';

/** Where applied versions are recorded, with the run that applied them. */
export const MIGRATIONS_TABLE = 'slipway_schema_migrations';

/** A migration that failed; the database is as it was before it (when it ran in a transaction). */
export class MigrationFailed extends Error {
  override name = 'MigrationFailed';
  constructor(
    readonly file: string,
    readonly sqlError: string,
  ) {
    super(`${file}: ${sqlError}`);
  }
}

const describe = (err: unknown) => {
  const pgErr = err as Partial<DatabaseError>;
  return [pgErr.message ?? String(err), pgErr.code ? `(SQLSTATE ${pgErr.code})` : '', pgErr.position ? `at character ${pgErr.position}` : ''].filter(Boolean).join(' ');
};

export async function connect(url: string): Promise<Client> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'slipway' });
  await client.connect();
  await client.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
    version text PRIMARY KEY,
    name text NOT NULL,
    run_id text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  return client;
}

/**
 * umzug over the service's files. Each migration and its record commit in one transaction, so a
 * crash never leaves one without the other (for `-- no-transaction` files PostgreSQL cannot, and
 * the record follows the statements).
 */
function migrator(client: Client, files: MigrationFile[], runId: string) {
  const inTransaction = async (transactional: boolean, work: () => Promise<void>) => {
    if (!transactional) return work();
    await client.query('BEGIN');
    try {
      await work();
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    }
  };
  return new Umzug<Client>({
    context: client,
    logger: undefined,
    migrations: files.map((file) => ({
      name: file.version,
      path: file.upPath,
      up: () =>
        inTransaction(file.transactional, async () => {
          await client.query(file.up).catch((err: unknown) => {
            throw new MigrationFailed(file.upPath, describe(err));
          });
          await client.query(`INSERT INTO ${MIGRATIONS_TABLE} (version, name, run_id) VALUES ($1, $2, $3)`, [file.version, file.name, runId]);
        }),
      down: () =>
        inTransaction(file.transactional, async () => {
          if (file.down === undefined) throw new MigrationFailed(file.upPath, 'has no down migration, so it cannot be reverted');
          await client.query(file.down).catch((err: unknown) => {
            throw new MigrationFailed(file.downPath ?? file.upPath, describe(err));
          });
          await client.query(`DELETE FROM ${MIGRATIONS_TABLE} WHERE version = $1`, [file.version]);
        }),
    })),
    // The migrations record themselves inside their own transactions.
    storage: {
      executed: async () => (await client.query<{ version: string }>(`SELECT version FROM ${MIGRATIONS_TABLE}`)).rows.map((r) => r.version),
      logMigration: async () => undefined,
      unlogMigration: async () => undefined,
    },
  });
}

/** Unwraps umzug's MigrationError to the MigrationFailed inside it. */
function unwrap(err: unknown): unknown {
  let current: unknown = err;
  while (current instanceof Error) {
    if (current instanceof MigrationFailed) return current;
    current = current.cause;
  }
  return err;
}

/** Applies every pending migration in order; returns all versions this run has applied (so a retry reports the same). */
export async function applyPending(client: Client, files: MigrationFile[], runId: string): Promise<string[]> {
  try {
    await migrator(client, files, runId).up();
  } catch (err) {
    throw unwrap(err);
  }
  const rows = await client.query<{ version: string }>(`SELECT version FROM ${MIGRATIONS_TABLE} WHERE run_id = $1`, [runId]);
  return rows.rows.map((r) => r.version).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/** Reverts exactly these versions, newest first, and only those this run applied and are still applied. */
export async function revert(client: Client, files: MigrationFile[], runId: string, versions: string[]): Promise<string[]> {
  const mine = await client.query<{ version: string }>(`SELECT version FROM ${MIGRATIONS_TABLE} WHERE run_id = $1 AND version = ANY($2)`, [runId, versions]);
  const toRevert = mine.rows.map((r) => r.version).sort((a, b) => (BigInt(a) < BigInt(b) ? 1 : -1));
  const umzug = migrator(client, files, runId);
  for (const version of toRevert) {
    try {
      await umzug.down({ migrations: [version] });
    } catch (err) {
      throw unwrap(err);
    }
  }
  return toRevert;
}

/**
 * Which of `versions` this run still has applied, and what other runs applied after them: applied
 * later than the run's own (parallel branches number their versions in any order); when none of the
 * run's versions is left to date them, any higher version number.
 */
export async function migrationsSince(client: Client, runId: string, versions: string[]): Promise<{ applied: string[]; later: { version: string; runId: string; appliedAt: string }[] }> {
  const rows = (await client.query<{ version: string; run_id: string; applied_at: Date }>(`SELECT version, run_id, applied_at FROM ${MIGRATIONS_TABLE}`)).rows;
  const mine = rows.filter((r) => r.run_id === runId && versions.includes(r.version));
  const newest = versions.reduce((max, v) => (BigInt(v) > max ? BigInt(v) : max), 0n);
  const lastApplied = Math.max(0, ...mine.map((r) => r.applied_at.getTime()));
  const later = rows
    .filter((r) => r.run_id !== runId && (mine.length > 0 ? r.applied_at.getTime() > lastApplied : BigInt(r.version) > newest))
    .sort((a, b) => (BigInt(a.version) < BigInt(b.version) ? -1 : 1))
    .map((r) => ({ version: r.version, runId: r.run_id, appliedAt: r.applied_at.toISOString() }));
  return { applied: mine.map((r) => r.version).sort(), later };
}

export interface DryRun {
  wouldApply: { version: string; file: string; ms: number }[];
  skipped: { version: string; file: string; why: string }[];
  error?: string;
}

/** Runs the pending migrations inside one transaction that is rolled back: what would run, how long, what fails. */
export async function dryRun(client: Client, files: MigrationFile[]): Promise<DryRun> {
  const executed = new Set((await client.query<{ version: string }>(`SELECT version FROM ${MIGRATIONS_TABLE}`)).rows.map((r) => r.version));
  const pending = files.filter((f) => !executed.has(f.version));
  const result: DryRun = { wouldApply: [], skipped: [] };
  await client.query('BEGIN');
  try {
    for (const file of pending) {
      if (!file.transactional) {
        result.skipped.push({ version: file.version, file: file.upPath, why: 'runs outside a transaction (-- no-transaction), so it cannot be rehearsed' });
        continue;
      }
      const started = performance.now();
      try {
        await client.query(file.up);
      } catch (err) {
        result.error = `${file.upPath}: ${describe(err)}`;
        break;
      }
      result.wouldApply.push({ version: file.version, file: file.upPath, ms: Math.round(performance.now() - started) });
    }
  } finally {
    await client.query('ROLLBACK');
  }
  return result;
}
