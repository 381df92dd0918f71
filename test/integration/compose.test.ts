/**
 * docker-compose.yml without a Docker engine: validated against the Compose Specification's JSON
 * schema (read from compose-go's Go module, the library `docker compose` itself uses; Apache-2.0,
 * not copied here), and every reference it makes checked on disk and inside the file; the files it
 * mounts are checked with their own tools (promtool, Slipway's config schema).
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import Ajv2020 from 'ajv/dist/2020';
import { parse, stringify } from 'yaml';
import { parseConfig } from '../../config/load';
import { temporalSchema } from '../../config/schema';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');
const COMPOSE_GO = 'github.com/compose-spec/compose-go/v2@v2.16.2';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  depends_on?: string[] | Record<string, { condition: string }>;
  volumes?: string[];
  networks?: string[];
  configs?: { source: string; target: string }[];
  ports?: string[];
  expose?: string[];
  environment?: Record<string, string>;
  entrypoint?: string[];
  command?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
  networks: Record<string, unknown>;
  configs: Record<string, { file: string }>;
}

let compose: Compose;
let text: string;

beforeAll(async () => {
  text = await readFile(join(root, 'docker-compose.yml'), 'utf8');
  // `docker compose` resolves YAML merge keys (<<: *slipway) before it validates.
  compose = parse(text, { merge: true }) as Compose;
});

/** Replaces ${VAR:-default} and ${VAR:?message} as compose interpolates with nothing set. */
const interpolate = (value: string) => value.replace(/\$\{[A-Z_]+(?::-([^}]*))?(?::\?[^}]*)?\}/g, (_m, fallback: string | undefined) => fallback ?? '');

test('the file is valid against the Compose Specification JSON schema (and the schema can say no)', async () => {
  const { stdout } = await run('go', ['mod', 'download', '-json', COMPOSE_GO], { maxBuffer: 16 * 1024 * 1024 });
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  expect(await readFile(join(dir, 'LICENSE'), 'utf8')).toContain('Apache License');
  const schema = JSON.parse(await readFile(join(dir, 'schema/compose-spec.json'), 'utf8')) as object;
  const validate = new Ajv2020({ strict: false, allErrors: true }).compile(schema);
  const valid = validate(compose);
  expect(validate.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
  // A misspelt key is refused: the check is real.
  const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
  (broken.services.temporal as Record<string, unknown>).depend_on = ['postgresql'];
  expect(validate(broken)).toBe(false);
  expect(JSON.stringify(validate.errors)).toContain('depend_on');
});

test('it has the production shape: Temporal on PostgreSQL with its schema job, the UI, Slipway from the Dockerfile, Prometheus and Grafana', () => {
  const services = compose.services;
  expect(Object.keys(services).sort()).toEqual(['grafana', 'postgresql', 'prometheus', 'slipway-api', 'slipway-worker', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-ui']);
  expect(services.temporal?.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
  expect(services.temporal?.depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  for (const name of ['slipway-worker', 'slipway-api']) {
    expect(services[name]?.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(services[name]?.depends_on).toEqual({ 'temporal-namespace': { condition: 'service_completed_successfully' } });
  }
  expect(services['slipway-worker']?.command).toEqual(['worker']);
  expect(services['slipway-api']?.command).toEqual(['api']);
  // Secrets come from the caller's environment, never from the file.
  expect(services['slipway-api']?.environment?.SLIPWAY_API_TOKENS).toMatch(/^\$\{SLIPWAY_API_TOKENS:\?/);
});

test('every reference resolves: services, volumes, networks, configs, mounted files, build context; no host port is published twice', () => {
  const problems: string[] = [];
  const hostPorts = new Map<string, string>();
  for (const [name, service] of Object.entries(compose.services)) {
    const dependsOn = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    for (const target of dependsOn) if (!(target in compose.services)) problems.push(`${name}: depends_on ${target}, which is not a service`);
    for (const network of service.networks ?? []) if (!(network in compose.networks)) problems.push(`${name}: network ${network} is not declared`);
    for (const config of service.configs ?? []) if (!(config.source in compose.configs)) problems.push(`${name}: config ${config.source} is not declared`);
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0] as string;
      if (source.startsWith('.') || source.startsWith('/')) {
        if (!existsSync(join(root, source))) problems.push(`${name}: bind mount ${source} does not exist`);
      } else if (!(source in compose.volumes)) problems.push(`${name}: volume ${source} is not declared`);
    }
    if (service.build !== undefined) {
      if (!statSync(join(root, service.build.context)).isDirectory()) problems.push(`${name}: build context ${service.build.context} is missing`);
      if (!existsSync(join(root, service.build.context, service.build.dockerfile ?? 'Dockerfile'))) problems.push(`${name}: Dockerfile missing`);
    }
    for (const port of service.ports ?? []) {
      const host = interpolate(port).split(':').slice(0, -1).join(':');
      if (hostPorts.has(host)) problems.push(`${name}: host port ${host} is also published by ${hostPorts.get(host)}`);
      hostPorts.set(host, name);
    }
    if (service.image === undefined && service.build === undefined) problems.push(`${name}: neither image nor build`);
  }
  for (const [name, config] of Object.entries(compose.configs)) if (!existsSync(join(root, config.file))) problems.push(`config ${name}: ${config.file} does not exist`);
  // Declared but unused volumes are a sign of a typo elsewhere.
  const used = new Set(Object.values(compose.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0])));
  for (const volume of Object.keys(compose.volumes)) if (!used.has(volume)) problems.push(`volume ${volume} is declared but unused`);
  expect(problems).toEqual([]);
  expect([...hostPorts.keys()].sort()).toEqual(['3000', '7233', '8080', '8233', '9090']);
});

test('Prometheus scrapes the ports Slipway listens on and loads the rules promtool accepts', async () => {
  const configFile = join(root, 'deploy/compose/prometheus/prometheus.yml');
  const prometheus = parse(await readFile(configFile, 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  const targets = prometheus.scrape_configs.flatMap((job) => job.static_configs.flatMap((c) => c.targets));
  expect(targets).toEqual(expect.arrayContaining(['slipway-api:8080', 'slipway-worker:9464', 'slipway-worker:9465']));
  // Ports the image binds (Dockerfile ENV) and the worker's compose service exposes.
  const dockerfile = await readFile(join(root, 'Dockerfile'), 'utf8');
  expect(dockerfile).toContain('SLIPWAY_WORKER_METRICS_ADDRESS=0.0.0.0:9464');
  expect(dockerfile).toContain('SLIPWAY_SDK_METRICS_ADDRESS=0.0.0.0:9465');
  expect(compose.services['slipway-worker']?.expose).toEqual(['9464', '9465']);
  for (const target of targets) expect(Object.keys(compose.services)).toContain(target.split(':')[0]);
  // The rules file is mounted where rule_files points; promtool checks the config with it in place.
  const mounted = compose.services.prometheus?.configs?.find((c) => c.source === 'slipway-rules');
  expect(prometheus.rule_files).toEqual([mounted?.target]);
  const dir = await mkdtemp(join(tmpdir(), 'slipway-compose-prom-'));
  await writeFile(join(dir, 'slipway-rules.yaml'), await readFile(join(root, compose.configs['slipway-rules']?.file ?? ''), 'utf8'));
  await writeFile(join(dir, 'prometheus.yml'), stringify({ ...prometheus, rule_files: ['slipway-rules.yaml'] }));
  const { stdout } = await run(process.env.SLIPWAY_TEST_PROMTOOL ?? 'promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
  expect(stdout).toMatch(/SUCCESS: 9 rules found/);
});

test('Grafana is provisioned with the Prometheus datasource and finds the dashboard where it is mounted', async () => {
  const grafana = compose.services.grafana as Service;
  const mountOf = (source: string) => grafana.volumes?.find((v) => v.startsWith(source))?.split(':')[1];
  const provider = parse(await readFile(join(root, 'deploy/compose/grafana/provisioning/dashboards/slipway.yaml'), 'utf8')) as { providers: { options: { path: string } }[] };
  expect(provider.providers[0]?.options.path).toBe(mountOf('./deploy/observability/grafana'));
  expect(existsSync(join(root, 'deploy/observability/grafana/slipway-dashboard.json'))).toBe(true);
  expect(mountOf('./deploy/compose/grafana/provisioning')).toBe('/etc/grafana/provisioning');
  const datasources = parse(await readFile(join(root, 'deploy/compose/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as { datasources: { type: string; url: string }[] };
  expect(datasources.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
});

test('the Slipway config the containers mount is valid and points at the compose services', async () => {
  const raw = parse(await readFile(join(root, compose.configs['slipway-config']?.file ?? ''), 'utf8')) as { temporal: unknown };
  const config = parseConfig(raw, 'deploy/compose/slipway.config.yaml');
  const temporal = temporalSchema.parse(raw.temporal);
  expect(temporal.address).toBe('temporal:7233');
  expect(config.prometheus?.url).toBe('http://prometheus:9090');
  expect(config.api.host).toBe('0.0.0.0');
  expect(Object.keys(compose.services)).toContain(temporal.address.split(':')[0]);
  // The scripts the admin-tools containers run are there and executable.
  for (const script of ['setup-schema.sh', 'create-namespace.sh']) expect(statSync(join(root, 'deploy/compose/temporal', script)).mode & 0o111).toBeTruthy();
  await run('sh', ['-n', join(root, 'deploy/compose/temporal/setup-schema.sh')]);
  await run('sh', ['-n', join(root, 'deploy/compose/temporal/create-namespace.sh')]);
});
