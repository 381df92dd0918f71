/**
 * The local world as slipway.config.yaml describes it: the core world (registry, control plane,
 * local kubelet, Prometheus) plus the sample monorepo at `repository.path`, a database per service
 * and environment, the release already running before any run (built from the sample's main and
 * deployed to every environment, so a run has something to roll back to), and steady load.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { Cluster } from '../activities/kubernetes/cluster';
import { serviceManifests } from '../activities/kubernetes/manifests';
import { createKubernetesActivities } from '../activities/kubernetes';
import { createMigrationActivities } from '../activities/migrations';
import type { SlipwayConfig } from '../config/schema';
import { resolveRunSettings, type RunSettings } from '../config/settings';
import type { Workspace } from '../workflows/state';
import { databaseUrl, ensureDatabases } from './databases';
import { buildLocalImage } from './images';
import { startWorld, WORLD_CONTEXT, type World, type WorldExtra } from './index';
import { readLoadPlans, startLoad } from './load';
import { ensureSampleRepo, type SampleRepo } from './sampleRepo';

const run = promisify(execFile);

/** The run id the release before any run is recorded with (on its Deployments and migrations). */
export const BASELINE_RUN = 'baseline-release';

export interface ConfiguredWorld {
  world: World;
  sample: SampleRepo;
  /** For the worker and API: KUBECONFIG, each database URL under the variable config names, the world's addresses. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/**
 * The database of one service in one environment, e.g. w3f9a1c_messages_production: the prefix
 * comes from the world's folder, so two worlds on one machine (two checkouts, a test, CI) never
 * share a database on the machine's PostgreSQL.
 */
export function databaseName(worldDir: string, service: string, environment: string): string {
  const world = createHash('sha256').update(resolve(worldDir)).digest('hex').slice(0, 6);
  return `w${world}_${service}_${environment}`.replace(/[^a-z0-9_]/g, '_');
}

/** Each database URL under the variable name config gives it (urlEnvByEnvironment, else urlEnv). */
export function databaseEnv(config: SlipwayConfig, world: NonNullable<SlipwayConfig['world']>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const service of config.services) {
    if (service.database === undefined) continue;
    for (const environment of config.environments) {
      const variable = service.database.urlEnvByEnvironment[environment.name] ?? service.database.urlEnv;
      env[variable] = databaseUrl(world.postgresAdminUrl, databaseName(world.dir, service.name, environment.name));
    }
  }
  return env;
}

export async function startConfiguredWorld(config: SlipwayConfig, options: { progress: (line: string) => void; load?: boolean }): Promise<ConfiguredWorld> {
  const settings = config.world;
  if (settings === undefined) throw new Error('the config has no world section');
  const progress = options.progress;
  let sample: SampleRepo | undefined;
  const env = databaseEnv(config, settings);
  const line = (name: string, state: string) => progress(`${name.padEnd(14)}${''.padEnd(17)}${state}`);

  const extras: WorldExtra[] = [
    {
      name: 'sample repo',
      async start() {
        sample = await ensureSampleRepo({ dir: dirname(config.repository.path), log: (l) => line('sample repo', l) });
        return { stop: async () => undefined, summary: `${sample.path} (remote ${sample.remoteUrl})` };
      },
    },
    {
      name: 'databases',
      async start(world) {
        const names = config.services.filter((s) => s.database !== undefined).flatMap((s) => config.environments.map((e) => databaseName(settings.dir, s.name, e.name)));
        await ensureDatabases({ adminUrl: settings.postgresAdminUrl, names });
        await writeDatabaseSecrets(config, world, settings);
        return { stop: async () => undefined, summary: names.join(', ') || 'none' };
      },
    },
    {
      name: 'release',
      async start(world) {
        if (sample === undefined) throw new Error('the sample repo must come first');
        const summary = await deployBaseline({ config, world, sample, env, log: (l) => line('release', l) });
        return { stop: async () => undefined, summary };
      },
    },
    ...(options.load === false
      ? []
      : [
          {
            name: 'load',
            async start(world: World) {
              if (sample === undefined) throw new Error('the sample repo must come first');
              const logger = pino({ level: 'warn' });
              const generator = startLoad({ servicesFile: world.servicesFile, calls: await readLoadPlans(sample.path), ratePerSecond: settings.loadPerSecond, protoRoot: sample.path, log: logger });
              return { stop: () => generator.stop(), summary: `${settings.loadPerSecond}/s per service and namespace (a stand-in for real traffic)` };
            },
          } satisfies WorldExtra,
        ]),
  ];

  const world = await startWorld({
    dir: settings.dir,
    ports: { registry: settings.registryPort, prometheus: settings.prometheusPort },
    scrapeInterval: settings.scrapeInterval,
    progress,
    extras,
  });
  if (sample === undefined) throw new Error('the sample repo did not start');
  return { world, sample, env: { ...world.env, ...env }, stop: () => world.stop() };
}

/** A Secret `<service>-database` with DATABASE_URL in each namespace, for services whose pods read it. */
async function writeDatabaseSecrets(config: SlipwayConfig, world: World, settings: NonNullable<SlipwayConfig['world']>): Promise<void> {
  const cluster = clusterOf(world);
  for (const service of config.services) {
    const secret = `${service.name}-database`;
    if (service.database === undefined || !service.kubernetes?.envFromSecrets.includes(secret)) continue;
    for (const environment of config.environments) {
      await cluster.ensureNamespace(environment.namespace);
      await cluster.applyOne({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: secret, namespace: environment.namespace, labels: { 'app.kubernetes.io/managed-by': 'slipway-world' } },
        stringData: { DATABASE_URL: databaseUrl(settings.postgresAdminUrl, databaseName(settings.dir, service.name, environment.name)) },
      } as Parameters<Cluster['applyOne']>[0]);
    }
  }
}

function clusterOf(world: World): Cluster {
  process.env.KUBECONFIG = world.kubeconfig;
  return Cluster.forContext(WORLD_CONTEXT);
}

/**
 * The release running before any run: the sample's main, built with the services' own commands
 * and packed like a run's build, its migrations applied and deployed to every environment with
 * Slipway's own activities. Building and deploying are skipped for environments that already run it.
 */
async function deployBaseline(o: { config: SlipwayConfig; world: World; sample: SampleRepo; env: Record<string, string>; log: (line: string) => void }): Promise<string> {
  const settings = resolveRunSettings(o.config);
  const cluster = clusterOf(o.world);
  const deployed = settings.services.filter((s) => s.kubernetes !== undefined && s.build?.layers !== undefined);
  const missing: RunSettings['environments'] = [];
  for (const environment of settings.environments) {
    const present = await Promise.all(deployed.map((s) => cluster.readDeployment(s.kubernetes?.deployment ?? s.name, environment.namespace)));
    if (present.some((d) => d === undefined)) missing.push(environment);
  }
  const { stdout } = await run('git', ['-C', o.sample.path, 'rev-parse', 'main']);
  const commit = stdout.trim();
  const work = join(o.world.dir, 'release', commit.slice(0, 12));
  if (!existsSync(join(work, '.git'))) {
    await mkdir(dirname(work), { recursive: true });
    await run('git', ['-C', o.sample.path, 'worktree', 'add', '--force', '--detach', work, commit]);
  }
  Object.assign(process.env, o.env);
  const logger = pino({ level: 'warn' });
  const migrations = createMigrationActivities({ logger });
  const workspace: Workspace = { branch: 'main', path: work, specDir: 'specs/none' };
  // The release's schema in every environment, on every start: a database dropped or recreated
  // since (by hand, or by PostgreSQL being reset) gets it back. Applying is idempotent.
  for (const environment of settings.environments) {
    for (const service of settings.services) {
      if (service.database !== undefined) await migrations.applyMigrations({ runId: BASELINE_RUN, service, environment: environment.name, workspace });
    }
  }
  if (missing.length === 0) return 'running in every environment';

  const images: Record<string, string> = {};
  for (const service of deployed) {
    o.log(`building ${service.name} from main (${commit.slice(0, 8)})`);
    // The sample's own template code, built by Slipway itself (not a run's branch): no sandbox needed here.
    for (const step of ['setup', 'build'] as const) {
      const command = service.commands[step];
      if (command !== undefined) await run('sh', ['-c', command], { cwd: work, env: { ...process.env, NPM_CONFIG_CACHE: o.sample.npmCache, npm_config_update_notifier: 'false' }, maxBuffer: 16 * 1024 * 1024 });
    }
    const build = service.build;
    if (build?.layers === undefined || build.entrypoint === undefined) continue;
    const image = await buildLocalImage({
      crane: o.world.crane,
      registry: o.world.registry,
      repository: service.name,
      tag: commit,
      layers: build.layers.map((l) => ({ from: join(work, l.from), to: l.to, ...(l.include ? { include: l.include } : {}) })),
      entrypoint: build.entrypoint,
      ...(build.workingDir !== undefined ? { workingDir: build.workingDir } : {}),
      env: build.env,
    });
    images[service.name] = image.pinned;
  }

  const kubernetes = createKubernetesActivities({ logger });
  for (const environment of missing) {
    // Every Service first: pods learn the addresses of the Services that exist when they start.
    for (const service of deployed) {
      const objects = serviceManifests(service, { runId: BASELINE_RUN, branch: 'main', environment: environment.name, namespace: environment.namespace });
      for (const object of objects.filter((x) => x.kind === 'Service')) await cluster.applyOne(object);
    }
    for (const service of deployed) {
      o.log(`deploying ${service.name} to ${environment.name}`);
      await kubernetes.deployService({ runId: BASELINE_RUN, service, environment: { ...environment, kubeContext: WORLD_CONTEXT }, workspace, ...(images[service.name] ? { image: images[service.name] } : {}) });
    }
  }
  return `main (${commit.slice(0, 8)}) running in ${settings.environments.map((e) => e.name).join(', ')}`;
}
