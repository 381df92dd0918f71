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
  expect(config.gates.spec).toEqual({ required: true, approvers: [], approvals: 1, overrideBy: [], deadline: 72 * 3_600_000 });
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
    gate: { required: true, approvers: ['lead'], approvals: 1, overrideBy: [], deadline: 86_400_000 },
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

const withGroups = `
repository: { path: . }
services: [{ name: messages, path: services/messages }]
environments:
  - name: production
    gate: { required: true, approvers: [team-leads, sre], overrideBy: [sre], approvals: 2, deadline: 24h }
approvers: [{ id: lead, slackUserId: U0LEAD }, { id: ana }, { id: sam }, { id: alice }]
approverGroups:
  team-leads: [lead, ana]
  sre: [sam, lead]
gates:
  spec: { approvers: [team-leads, alice], approvals: 2 }
`;

test('gates name groups; a run carries the approver ids they stand for', async () => {
  const config = await loadConfig(await write(withGroups));
  expect(config.environments[0]?.gate).toEqual({ required: true, approvers: ['team-leads', 'sre'], approvals: 2, overrideBy: ['sre'], deadline: 86_400_000 });
  const settings = resolveRunSettings(config);
  expect(settings.environments[0]?.gate.approvers).toEqual(['lead', 'ana', 'sam']);
  expect(settings.environments[0]?.gate.overrideBy).toEqual(['sam', 'lead']);
  expect(settings.gates.spec).toMatchObject({ approvers: ['lead', 'ana', 'alice'], approvals: 2 });
  expect(settings.gates['migration-review']).toMatchObject({ approvers: [], approvals: 1 });
});

test.each([
  ['an unknown group or approver', withGroups.replace('[team-leads, sre]', '[team-leads, dba]'), /environments\.0\.gate\.approvers\.1: "dba" is not listed under approvers nor under approverGroups/],
  ['an unknown overrider', withGroups.replace('overrideBy: [sre]', 'overrideBy: [cto]'), /environments\.0\.gate\.overrideBy\.0: "cto" is not listed under approvers nor under approverGroups/],
  ['a group member not listed', withGroups.replace('sre: [sam, lead]', 'sre: [sam, bob]'), /approverGroups\.sre\.1: "bob" is not listed under approvers/],
  ['a group named like an approver', withGroups.replace('sre: [sam, lead]', 'sre: [sam, lead]\n  ana: [lead]'), /approverGroups\.ana: "ana" is both an approver id and a group name/],
  ['an empty group', withGroups.replace('sre: [sam, lead]', 'sre: []'), /approverGroups\.sre: a group needs at least one approver/],
  // lead is in both groups: three people, and the requester may be one of them.
  ['more approvals than people besides the requester', withGroups.replace('approvals: 2, deadline: 24h', 'approvals: 3, deadline: 24h'), /environments\.0\.gate\.approvals: 3 approvals need 4 people who may approve \(the requester never counts\), but only 3 may: lead, ana, sam/],
  ['several approvals with no approvers listed', withGroups.replace('approvers: [{ id: lead, slackUserId: U0LEAD }, { id: ana }, { id: sam }, { id: alice }]', 'approvers: []').replace(/approverGroups:[\s\S]*?gates:/, 'gates:').replace('[team-leads, sre]', '[]').replace('[team-leads, alice]', '[]'), /gates\.spec\.approvals: 2 approvals need 3 people who may approve \(the requester never counts\), but no approvers are listed/],
  ['zero approvals', withGroups.replace('approvals: 2, deadline: 24h', 'approvals: 0, deadline: 24h'), /environments\.0\.gate\.approvals: /],
])('%s fails naming the field and why', async (_name, text, message) => {
  const file = await write(text);
  await expect(loadConfig(file)).rejects.toThrow(ConfigError);
  await expect(loadConfig(file)).rejects.toThrow(message);
});
