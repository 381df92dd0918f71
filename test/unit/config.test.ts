import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../config/load';
import { resolveRunSettings } from '../../config/settings';

const write = async (text: string) => {
  const file = join(await mkdtemp(join(tmpdir(), 'slipway-config-')), 'slipway.config.yaml');
  await writeFile(file, text);
  return file;
};

const minimal = `
repository: { path: . }
services: [{ name: messages, path: services/messages }]
environments:
  - name: production
    soak: { duration: 15m, interval: 15s }
    gate: { required: true, approvers: [lead], deadline: 24h }
approvers: [{ id: lead }]
`;

test('the example config describes the local world, with durations in milliseconds and paths next to the file', async () => {
  const root = join(__dirname, '../..');
  const config = await loadConfig(join(root, 'slipway.config.example.yaml'));
  expect(config.services.map((s) => s.name)).toEqual(['messages', 'notifications']);
  expect(config.environments.at(-1)?.soak).toEqual({ duration: 60_000, interval: 10_000 });
  expect(config.gates.spec).toEqual({ required: true, approvers: [], approvals: 1, deadline: 72 * 3_600_000 });
  expect(config.world?.dir).toBe(join(root, '.slipway/world'));
  expect(config.repository.path).toBe(join(root, '.slipway/world/sample/repo'));
  expect(config.sandbox.cacheMounts).toEqual([{ path: join(root, '.slipway/world/sample/npm-cache'), env: 'NPM_CONFIG_CACHE' }]);
  // Every service the world deploys can be built without Docker.
  expect(config.services.every((s) => s.build?.layers !== undefined && s.build.entrypoint !== undefined)).toBe(true);
});

test('defaults fill what a minimal file leaves out, and the run settings carry no secrets', async () => {
  const config = await loadConfig(await write(minimal));
  expect(config.temporal).toEqual({ address: '127.0.0.1:7233', namespace: 'default', taskQueue: 'slipway' });
  expect(config.gates.migrationReview.required).toBe(true);
  expect(config.services[0]?.slo).toEqual({ errorRatio: 0.05, p99Seconds: 1, selector: 'job="{{service}}"', methods: [], checks: [] });
  const settings = resolveRunSettings(config);
  expect(settings.environments[0]).toEqual({
    name: 'production',
    namespace: 'default',
    soak: { duration: 900_000, interval: 15_000 },
    gate: { required: true, approvers: ['lead'], approvals: 1, deadline: 86_400_000 },
    verification: { timeout: 900_000, endpoints: { host: '{{service}}.{{namespace}}.svc.cluster.local' } },
  });
  expect(settings.services).toEqual([{ name: 'messages', path: 'services/messages', commands: {}, slo: config.services[0]?.slo, verify: {}, checks: { auditUnavailable: 'required' } }]);
  expect(settings.analysis).toEqual({ window: '1m', consecutiveFailures: 2, minRequests: 20, noData: 'inconclusive', unreachableLimit: 3 });
  expect(settings.watch).toBeUndefined();
  // A person's steps always wait for a person; config says who and how long.
  expect(settings.gates.plan).toEqual({ required: true, approvers: [], deadline: 7 * 86_400_000 });
  // Only names of variables, never values: nothing in the settings looks like a secret.
  expect(JSON.stringify(settings)).not.toMatch(/sk-|xoxb-|postgres:\/\//);
  const watched = resolveRunSettings(await loadConfig(await write(`${minimal}\nanalysis: { watch: {} }`)));
  expect(watched.watch).toMatchObject({ duration: 86_400_000, interval: 300_000, errorRatio: 0.01, p99Seconds: 0.5, memory: { enabled: true, window: '1h' }, database: { enabled: true } });
  // Relative paths are resolved next to the config file, whatever directory the process runs in.
  expect(config.repository.path).toMatch(/^\/.*slipway-config-/);
});

test.each([
  ['a bad duration', minimal.replace('duration: 15m', 'duration: soon'), /environments\.0\.soak\.duration: "soon" is not a positive duration/],
  ['an approver not listed', minimal.replace('approvers: [lead]', 'approvers: [mallory]'), /environments\.0\.gate\.approvers\.0: "mallory" is not listed under approvers/],
  ['a secret instead of a variable name', `${minimal}\nllm: { model: m, apiKeyEnv: sk-ant-123 }`, /llm\.apiKeyEnv: must be the NAME of an environment variable/],
  ['no services', minimal.replace('services: [{ name: messages, path: services/messages }]', 'services: []'), /services: list at least one service/],
  ['a duplicate service', minimal.replace('services: [{ name: messages, path: services/messages }]', 'services: [{ name: a, path: x }, { name: a, path: y }]'), /services\.1\.name: duplicate name "a"/],
  ['a missing repository', minimal.replace('repository: { path: . }', ''), /repository: /],
  ['a bad prometheus url', `${minimal}\nprometheus: { url: not-a-url }`, /prometheus\.url: /],
  ['a bad rate window', `${minimal}\nanalysis: { window: 1 minute }`, /analysis\.window: use a PromQL duration/],
  ['an unknown no-data policy', `${minimal}\nanalysis: { noData: ignore }`, /analysis\.noData: /],
])('%s fails naming the field and why', async (_name, text, message) => {
  const file = await write(text);
  await expect(loadConfig(file)).rejects.toThrow(ConfigError);
  await expect(loadConfig(file)).rejects.toThrow(message);
});

test('broken YAML and a missing file fail with a clear message', async () => {
  await expect(loadConfig(await write('services: [unclosed'))).rejects.toThrow(/invalid YAML in .*slipway\.config\.yaml/);
  await expect(loadConfig('/nonexistent/slipway.config.yaml')).rejects.toThrow(/not found \(copy slipway\.config\.example\.yaml/);
});
