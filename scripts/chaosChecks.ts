/**
 * What the chaos run checks afterwards, read from the world itself and never from Slipway's records:
 * the commits on each run's branch in the bare remote, the image tags in the registry, the
 * ReplicaSets (rollouts) per namespace, the migration audit kept by PostgreSQL triggers, and the
 * Slack calls the fake Slack received. Each finding is a duplicate (a side effect twice) or a loss.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client } from 'pg';
import { MIGRATIONS_TABLE } from '../activities/migrations/runner';
import { labelValue } from '../activities/observability/rules';
import type { SlipwayConfig } from '../config/schema';
import type { SlackCall } from '../test/support/fakeSlack';
import { databaseName } from '../world/configured';
import { databaseUrl } from '../world/databases';
import { WORLD_CONTEXT } from '../world/index';

const run = promisify(execFile);

export interface Finding {
  kind: 'duplicate' | 'lost';
  runId: string;
  what: string;
}

export interface RunOutcome {
  runId: string;
  branch?: string;
  status?: string;
  finished: boolean;
}

const AUDIT_TABLE = 'chaos_migration_audit';

/** Each service database records every insert into and delete from Slipway's migrations table, in the database itself. */
export async function installMigrationAudit(config: SlipwayConfig): Promise<void> {
  for (const url of databaseUrls(config)) {
    const db = new Client({ connectionString: url });
    await db.connect();
    try {
      await db.query(`CREATE TABLE IF NOT EXISTS ${AUDIT_TABLE} (id bigserial PRIMARY KEY, op text NOT NULL, version text NOT NULL, run_id text, at timestamptz NOT NULL DEFAULT now())`);
      // The migrations table appears with the first migration; create it now so the trigger has something to hang on.
      await db.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (version text PRIMARY KEY, name text NOT NULL, run_id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      await db.query(`CREATE OR REPLACE FUNCTION chaos_audit() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN INSERT INTO ${AUDIT_TABLE} (op, version, run_id) VALUES ('apply', NEW.version, NEW.run_id);
          ELSE INSERT INTO ${AUDIT_TABLE} (op, version, run_id) VALUES ('revert', OLD.version, OLD.run_id); END IF;
          RETURN NULL;
        END $$ LANGUAGE plpgsql`);
      await db.query(`DROP TRIGGER IF EXISTS chaos_audit ON ${MIGRATIONS_TABLE}`);
      await db.query(`CREATE TRIGGER chaos_audit AFTER INSERT OR DELETE ON ${MIGRATIONS_TABLE} FOR EACH ROW EXECUTE FUNCTION chaos_audit()`);
    } finally {
      await db.end();
    }
  }
}

function databaseUrls(config: SlipwayConfig): string[] {
  const world = config.world;
  if (world === undefined) return [];
  return config.services.filter((s) => s.database !== undefined).flatMap((s) => config.environments.map((e) => databaseUrl(world.postgresAdminUrl, databaseName(world.dir, s.name, e.name))));
}

/** Counts of each value; the ones seen more than once. */
function repeated(values: string[]): string[] {
  const seen = new Map<string, number>();
  for (const v of values) seen.set(v, (seen.get(v) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([v, n]) => `${v} (x${n})`);
}

export async function checkWorld(config: SlipwayConfig, runs: RunOutcome[], slackCalls: SlackCall[]): Promise<Finding[]> {
  const world = config.world;
  if (world === undefined) throw new Error('the chaos run needs the local world');
  const findings: Finding[] = [];
  const remote = join(config.repository.path, '..', 'remote.git');
  const kc = new KubeConfig();
  kc.loadFromFile(join(world.dir, 'kube', 'kubeconfig'));
  kc.setCurrentContext(WORLD_CONTEXT);
  const apps = kc.makeApiClient(AppsV1Api);
  const deployed = config.services.filter((s) => s.kubernetes !== undefined);

  for (const outcome of runs) {
    const { runId } = outcome;
    // Commits: Slipway commits each thing once; the same subject twice on a branch is a step done twice.
    let commits: string[] = [];
    if (outcome.branch !== undefined) {
      const log = await run('git', ['--git-dir', remote, 'log', '--format=%H %s', `${config.repository.baseBranch}..${outcome.branch}`]).catch(() => undefined);
      if (log === undefined) findings.push({ kind: 'lost', runId, what: `branch ${outcome.branch} is not on the remote` });
      const lines = log?.stdout.trim().split('\n').filter(Boolean) ?? [];
      commits = lines.map((l) => l.slice(0, 40));
      for (const subject of repeated(lines.map((l) => l.slice(41)))) findings.push({ kind: 'duplicate', runId, what: `commit "${subject}" on ${outcome.branch}` });
    }
    const delivered = outcome.status === 'succeeded';

    // Images: one tag per service, named after one of the branch's commits.
    for (const service of deployed) {
      const res = await fetch(`http://127.0.0.1:${world.registryPort}/v2/${service.name}/tags/list`).then((r) => (r.ok ? (r.json() as Promise<{ tags?: string[] }>) : { tags: [] }));
      const tags = (res.tags ?? []).filter((t) => commits.includes(t));
      if (tags.length > 1) findings.push({ kind: 'duplicate', runId, what: `${tags.length} images of ${service.name} pushed (${tags.join(', ')})` });
      if (delivered && tags.length === 0) findings.push({ kind: 'lost', runId, what: `no image of ${service.name} in the registry` });
    }

    // Rollouts: one ReplicaSet per service and namespace carries the run's pod template.
    for (const environment of config.environments) {
      const sets = (await apps.listNamespacedReplicaSet({ namespace: environment.namespace, labelSelector: `slipway.dev/run=${labelValue(runId)}` })).items;
      for (const service of deployed) {
        const mine = sets.filter((rs) => rs.metadata?.labels?.app === (service.kubernetes?.deployment ?? service.name));
        if (mine.length > 1) findings.push({ kind: 'duplicate', runId, what: `${mine.length} rollouts of ${service.name} in ${environment.namespace}` });
        if (delivered && mine.length === 0) findings.push({ kind: 'lost', runId, what: `no rollout of ${service.name} in ${environment.namespace}` });
      }
    }

    // Slack: the same top-level message twice for one run is a notification sent twice.
    const posted = slackCalls.filter((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(runId));
    for (const text of repeated(posted.map((c) => `${String(c.args.thread_ts ?? '')}|${String(c.args.text ?? '')}`))) findings.push({ kind: 'duplicate', runId, what: `Slack message posted twice: ${text.slice(0, 160)}` });
    if (outcome.finished && posted.length === 0) findings.push({ kind: 'lost', runId, what: 'no Slack message at all' });
  }

  // Migrations: a version applied (or reverted) twice by the same run, from PostgreSQL's own audit.
  for (const url of databaseUrls(config)) {
    const db = new Client({ connectionString: url });
    await db.connect();
    try {
      const rows = (await db.query<{ op: string; version: string; run_id: string | null }>(`SELECT op, version, run_id FROM ${AUDIT_TABLE} ORDER BY id`)).rows;
      const database = new URL(url).pathname.slice(1);
      for (const outcome of runs) {
        const mine = rows.filter((r) => r.run_id === outcome.runId);
        for (const twice of repeated(mine.map((r) => `${r.op} ${r.version}`))) findings.push({ kind: 'duplicate', runId: outcome.runId, what: `migration ${twice} in ${database}` });
        // A run that ended rolled back leaves nothing of its own applied.
        if (outcome.status === 'rolled-back') {
          const applied = new Set(mine.filter((r) => r.op === 'apply').map((r) => r.version));
          for (const version of mine.filter((r) => r.op === 'revert').map((r) => r.version)) applied.delete(version);
          for (const version of applied) findings.push({ kind: 'lost', runId: outcome.runId, what: `migration ${version} in ${database} was never reverted` });
        }
      }
    } finally {
      await db.end();
    }
  }
  return findings;
}
