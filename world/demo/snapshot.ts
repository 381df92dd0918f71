/**
 * What the world looks like, read from the world itself (never from Slipway's records): each
 * Deployment's pod template and images per namespace, and each database's tables, columns,
 * indexes and applied migration versions. The demo compares a snapshot before a run with one after.
 */
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client } from 'pg';
import type { SlipwayConfig } from '../../config/schema';
import { databaseName } from '../configured';
import { databaseUrl } from '../databases';
import { WORLD_CONTEXT } from '../index';

export interface WorldSnapshot {
  /** namespace → deployment → its pod template (as JSON, without the controller's hash label) and images. */
  deployments: Record<string, Record<string, { template: string; images: string[] }>>;
  /** database → its schema and migration versions. */
  databases: Record<string, { tables: string[]; columns: string[]; indexes: string[]; versions: string[] }>;
}

export async function snapshotWorld(config: SlipwayConfig, world: NonNullable<SlipwayConfig['world']>): Promise<WorldSnapshot> {
  const kc = new KubeConfig();
  kc.loadFromFile(`${world.dir}/kube/kubeconfig`);
  kc.setCurrentContext(WORLD_CONTEXT);
  const apps = kc.makeApiClient(AppsV1Api);
  const snapshot: WorldSnapshot = { deployments: {}, databases: {} };
  for (const environment of config.environments) {
    const list = await apps.listNamespacedDeployment({ namespace: environment.namespace });
    const byName: WorldSnapshot['deployments'][string] = {};
    for (const d of list.items) {
      const template = structuredClone(d.spec?.template ?? {});
      delete template.metadata?.labels?.['pod-template-hash'];
      byName[d.metadata?.name ?? '?'] = { template: JSON.stringify(template), images: (d.spec?.template.spec?.containers ?? []).map((c) => c.image ?? '') };
    }
    snapshot.deployments[environment.namespace] = byName;
  }
  for (const service of config.services.filter((s) => s.database !== undefined)) {
    for (const environment of config.environments) {
      const name = databaseName(world.dir, service.name, environment.name);
      snapshot.databases[name] = await schemaOf(databaseUrl(world.postgresAdminUrl, name));
    }
  }
  return snapshot;
}

async function schemaOf(url: string): Promise<WorldSnapshot['databases'][string]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const rows = async (sql: string) => (await client.query<{ v: string }>(sql)).rows.map((r) => r.v);
    const hasMigrations = (await client.query(`SELECT to_regclass('public.slipway_schema_migrations') AS t`)).rows[0]?.t !== null;
    return {
      tables: await rows(`SELECT table_name AS v FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`),
      columns: await rows(`SELECT table_name || '.' || column_name || ':' || data_type || ':' || is_nullable AS v FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1`),
      indexes: await rows(`SELECT indexname || ':' || indexdef AS v FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
      versions: hasMigrations ? await rows('SELECT version AS v FROM slipway_schema_migrations ORDER BY version') : [],
    };
  } finally {
    await client.end();
  }
}

/** Every way `after` differs from `before`, one line each; empty when they are the same. */
export function worldDifferences(before: WorldSnapshot, after: WorldSnapshot): string[] {
  const problems: string[] = [];
  for (const namespace of new Set([...Object.keys(before.deployments), ...Object.keys(after.deployments)])) {
    const a = before.deployments[namespace] ?? {};
    const b = after.deployments[namespace] ?? {};
    for (const name of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (a[name] === undefined) problems.push(`${namespace}/${name} exists now but did not before`);
      else if (b[name] === undefined) problems.push(`${namespace}/${name} is gone`);
      else if (a[name].template !== b[name].template) problems.push(`${namespace}/${name}'s pod template changed (images ${a[name].images.join(', ')} → ${b[name].images.join(', ')})`);
    }
  }
  for (const database of new Set([...Object.keys(before.databases), ...Object.keys(after.databases)])) {
    const a = before.databases[database];
    const b = after.databases[database];
    for (const part of ['tables', 'columns', 'indexes', 'versions'] as const) {
      if (JSON.stringify(a?.[part]) !== JSON.stringify(b?.[part])) {
        const added = (b?.[part] ?? []).filter((x) => !(a?.[part] ?? []).includes(x));
        const removed = (a?.[part] ?? []).filter((x) => !(b?.[part] ?? []).includes(x));
        problems.push(`${database} ${part} differ (${[...added.map((x) => `+${x}`), ...removed.map((x) => `-${x}`)].join(', ')})`);
      }
    }
  }
  return problems;
}
