import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { Cluster } from '../../activities/kubernetes/cluster';
import { serviceManifests } from '../../activities/kubernetes/manifests';
import type { SlipwayConfigInput } from '../../config/schema';
import type { RunSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { environmentIn, serviceIn, settingsFrom } from '../support/doubles';
import { startControlPlane, type ControlPlane, type KubeBinaries } from '../../scripts/kubernetes';
import { fixtureRepo, git } from '../support/gitRepo';

let plane: ControlPlane;
let apps: AppsV1Api;

beforeAll(async () => {
  plane = await startControlPlane(JSON.parse(process.env.SLIPWAY_TEST_KUBE_BINARIES as string) as KubeBinaries);
  process.env.KUBECONFIG = plane.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  apps = kc.makeApiClient(AppsV1Api);
});
afterAll(() => plane.stop());

const service = (image: string, extra: object = {}) => ({
  name: 'messages',
  path: 'services/messages',
  kubernetes: { deployment: 'messages', image, replicas: 2, progressDeadlineSeconds: 6, ...extra },
});

async function setup(services: SlipwayConfigInput['services'], runId = `run-${Math.random().toString(36).slice(2, 8)}`) {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFrom({
    repository: { path: repo, worktreesDir: worktrees },
    services,
    environments: [{ name: 'staging', namespace: `staging-${runId}`, kubeContext: plane.context }, { name: 'production', namespace: `prod-${runId}`, kubeContext: plane.context }],
  });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId, feature: 'Add real-time notifications', repository: settings.repository });
  return { activities, workspace, runId, settings, ns: (env: string) => (env === 'staging' ? `staging-${runId}` : `prod-${runId}`) };
}

const imageOf = async (namespace: string) => (await apps.readNamespacedDeployment({ name: 'messages', namespace })).spec?.template.spec?.containers[0]?.image;
const target = (run: { runId: string; workspace: Workspace; settings: RunSettings }, environment = 'staging') => ({
  runId: run.runId,
  service: serviceIn(run.settings, 'messages'),
  environment: environmentIn(run.settings, environment),
  workspace: run.workspace,
});
const manifests = (run: { runId: string; workspace: Workspace; settings: RunSettings }, environments: string[]) => ({
  ...run,
  repository: run.settings.repository,
  services: [serviceIn(run.settings, 'messages')],
  environments: environments.map((e) => environmentIn(run.settings, e)),
  comments: [],
});

test('the dry run validates every object and rejects an invalid one with the API server\'s message', async () => {
  const good = await setup([service('registry.local/messages:1.0')]);
  const written = await good.activities.writeManifests(manifests(good, ['staging', 'production']));
  expect(written.paths).toEqual([`${good.workspace.specDir}/deploy/staging/messages.yaml`, `${good.workspace.specDir}/deploy/production/messages.yaml`]);
  const review = await good.activities.validateManifests(manifests(good, ['staging', 'production']));
  expect(review).toEqual({ valid: true, summary: 'server-side dry run: 10 objects valid in staging, production' });
  // A dry run creates nothing.
  expect(await Cluster.forContext(plane.context).readDeployment('messages', good.ns('staging'))).toBeUndefined();

  const bad = await setup([service('registry.local/messages:1.0', { resources: { cpu: 'lots' } })]);
  await bad.activities.writeManifests(manifests(bad, ['staging']));
  const rejected = await bad.activities.validateManifests(manifests(bad, ['staging']));
  expect(rejected.valid).toBe(false);
  expect(rejected.summary).toMatch(/REJECTED .*\n {2}- staging: Deployment\/messages: .*quantities must match the regular expression/);
});

test('apply creates; the same manifests again change nothing', async () => {
  const { workspace, runId, ns, settings } = await setup([service('registry.local/messages:1.0')]);
  const cluster = Cluster.forContext(plane.context);
  const objects = serviceManifests(serviceIn(settings, 'messages'), {
    runId,
    branch: workspace.branch,
    environment: 'staging',
    namespace: ns('staging'),
  });
  await cluster.ensureNamespace(ns('staging'));
  expect(await Promise.all(objects.map((o) => cluster.applyOne(o)))).toEqual([true, true, true, true, true]);
  expect(await Promise.all(objects.map((o) => cluster.applyOne(o)))).toEqual([false, false, false, false, false]);
  const deployment = await apps.readNamespacedDeployment({ name: 'messages', namespace: ns('staging') });
  expect(deployment.metadata?.managedFields?.map((f) => f.manager)).toContain('slipway');
  expect(deployment.metadata?.labels).toMatchObject({ 'slipway.dev/run': runId, 'slipway.dev/feature': workspace.branch });
});

test('a new image rolls out; an unschedulable one times out with the pod details; rollback restores the previous template', async () => {
  const v1 = await setup([service('registry.local/messages:1.0')]);
  const ns = v1.ns('staging');
  const first = await v1.activities.deployService({ ...target(v1), environment: { ...environmentIn(v1.settings, 'staging'), namespace: ns } });
  expect(first).toEqual({ deployment: 'messages', namespace: ns, revision: 1, image: 'registry.local/messages:1.0', at: expect.any(String) });

  const v2 = await setup([service('registry.local/messages:2.0')]);
  const inNs = (run: typeof v1) => ({ ...target(run), environment: { ...environmentIn(run.settings, 'staging'), namespace: ns } });
  const second = await v2.activities.deployService(inNs(v2));
  expect(second).toEqual({ deployment: 'messages', namespace: ns, revision: 2, previousRevision: 1, image: 'registry.local/messages:2.0', previousImage: 'registry.local/messages:1.0', at: expect.any(String) });
  expect(await imageOf(ns)).toBe('registry.local/messages:2.0');
  // A retried deploy (after a crash) changes nothing and still knows where to roll back to.
  expect(await v2.activities.deployService(inNs(v2))).toEqual(second);
  // The run's own build, by digest, replaces the manifests' image.
  const digest = `registry.local/messages@sha256:${'a'.repeat(64)}`;
  const built = await setup([service('registry.local/messages:ignored')]);
  await built.activities.deployService({ ...inNs(built), image: digest }).catch(() => undefined);
  expect(await imageOf(ns)).toBe(digest);
  await built.activities.rollbackService({ ...inNs(built), deployment: { deployment: 'messages', namespace: ns, revision: 3, previousRevision: 2 } });
  expect(await imageOf(ns)).toBe('registry.local/messages:2.0');

  const huge = await setup([service('registry.local/messages:3.0', { resources: { cpu: '64', cpuLimit: '64' } })]);
  // An undo gives the old template a new revision number: roll back to whatever runs now.
  const current = Cluster.revisionOf(await Cluster.forContext(plane.context).readDeployment('messages', ns));
  const err = await huge.activities.deployService(inNs(huge)).catch((e: unknown) => e);
  expect(err).toMatchObject({ type: 'RolloutFailed', nonRetryable: true });
  expect((err as Error).message).toMatch(/exceeded its progress deadline \(6s\)/);
  expect((err as Error).message).toMatch(/condition PodScheduled=False \(Unschedulable\): .*Insufficient cpu/);
  expect((err as Error).message).toMatch(/event Warning FailedScheduling/);

  await huge.activities.rollbackService({ ...inNs(huge), deployment: { deployment: 'messages', namespace: ns, revision: (current ?? 0) + 1, ...(current !== undefined ? { previousRevision: current } : {}) } });
  expect(await imageOf(ns)).toBe('registry.local/messages:2.0');
  const restored = await apps.readNamespacedDeployment({ name: 'messages', namespace: ns });
  expect(restored.status).toMatchObject({ availableReplicas: 2, updatedReplicas: 2 });
});

test('rolling back a Deployment this run created deletes it', async () => {
  const run = await setup([service('registry.local/messages:1.0')]);
  const ns = run.ns('production');
  const deployment = await run.activities.deployService(target(run, 'production'));
  expect(deployment).toMatchObject({ namespace: ns, revision: 1 });
  expect(deployment.previousRevision).toBeUndefined();
  await run.activities.rollbackService({ ...target(run, 'production'), deployment });
  expect(await Cluster.forContext(plane.context).readDeployment('messages', ns)).toBeUndefined();
});

test('a workflow deploys two services to two namespaces and rolls both back, in reverse, after a failed soak', async () => {
  const { connectTestTemporal, testWorker, uniqueTaskQueue } = await import('../support/temporal');
  const { activityDoubles } = await import('../support/doubles');
  const { featureDelivery } = await import('../../workflows/featureDelivery');
  const { statusQuery } = await import('../../workflows/messages');
  const suffix = Math.random().toString(36).slice(2, 8);
  const { repo, worktrees } = await fixtureRepo();
  const settingsFor = (version: string) =>
    settingsFrom({
      repository: { path: repo, worktreesDir: worktrees },
      services: ['messages', 'notifications'].map((name) => ({ name, path: `services/${name}`, kubernetes: { deployment: name, image: `registry.local/${name}:${version}`, progressDeadlineSeconds: 30 } })),
      environments: [
        { name: 'staging', namespace: `wf-staging-${suffix}`, kubeContext: plane.context, gate: { required: false } },
        { name: 'production', namespace: `wf-prod-${suffix}`, kubeContext: plane.context, soak: { duration: '2s', interval: '500ms' }, gate: { required: false } },
      ],
      gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
      // Agents mode (the agents themselves are doubles): no person's step to wait for.
      llm: { model: 'claude-sonnet-5' },
    });

  // The release before this run: 1.0 of both services in both namespaces.
  const real = testActivities();
  const before = settingsFor('1.0');
  const previous = await real.prepareWorkspace({ runId: 'previous-release', feature: 'previous release', repository: before.repository });
  for (const environment of before.environments) {
    for (const service of before.services) {
      await real.deployService({ runId: 'previous-release', service, environment, workspace: previous });
    }
  }

  const settings = settingsFor('2.0');
  const { activities, calls } = activityDoubles({
    prepareWorkspace: real.prepareWorkspace,
    // Slipway's own template, not the manifest writer agent.
    writeManifests: async (input) => real.writeManifests({ ...input, llm: undefined }),
    validateManifests: real.validateManifests,
    deployService: real.deployService,
    rollbackService: real.rollbackService,
    analyzeSlo: async (i) => {
      const fail = i.service.name === 'notifications' && i.environment.name === 'production';
      return { service: i.service.name, environment: i.environment.name, at: new Date().toISOString(), verdict: fail ? 'fail' : 'pass', detail: fail ? 'error ratio 20% > 5%' : 'ok' };
    },
  });
  const env = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('k8s');
  const worker = await testWorker(env, taskQueue, activities);
  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `test-k8s-${suffix}`,
      args: [{ feature: 'Add real-time notifications', requester: 'alice', services: ['messages', 'notifications'], settings }],
    });
    await handle.result().catch(() => undefined);
    return handle.query(statusQuery);
  });
  await env.close();

  expect(state.status).toBe('rolled-back');
  expect(state.reason).toMatch(/notifications in production: soak failed at sample 2/);
  const rollbacks = calls.filter((c) => c.name === 'rollbackService').map((c) => `${(c.input as { service: { name: string } }).service.name}@${(c.input as { environment: { name: string } }).environment.name}`);
  expect(rollbacks).toEqual(['notifications@production', 'messages@production', 'notifications@staging', 'messages@staging']);
  for (const namespace of [`wf-staging-${suffix}`, `wf-prod-${suffix}`]) {
    for (const name of ['messages', 'notifications']) {
      const d = await apps.readNamespacedDeployment({ name, namespace });
      expect(d.spec?.template.spec?.containers[0]?.image).toBe(`registry.local/${name}:1.0`);
      expect(d.status?.availableReplicas).toBe(2);
    }
  }
});

test("with an LLM, the manifest writer adapts the template, and the dry run validates what it wrote", async () => {
  const { FakeAnthropic } = await import('../support/fakeAnthropic');
  const fake = await new FakeAnthropic().start();
  try {
    const { repo, worktrees } = await fixtureRepo();
    process.env.SLIPWAY_TEST_ANTHROPIC_KEY = 'sk-ant-test';
    const suffix = Math.random().toString(36).slice(2, 8);
    const settings = settingsFrom({
      repository: { path: repo, worktreesDir: worktrees },
      services: [service('registry.local/messages:1.0')],
      environments: [{ name: 'staging', namespace: `mw-${suffix}`, kubeContext: plane.context }],
      llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_ANTHROPIC_KEY', baseUrl: fake.url },
    });
    const activities = testActivities();
    const workspace = await activities.prepareWorkspace({ runId: 'run-mw', feature: 'Add real-time notifications', repository: settings.repository });
    const path = `${workspace.specDir}/deploy/staging/messages.yaml`;
    fake.answer({
      blocks: [
        { type: 'tool_use', name: 'str_replace', input: { path, old_str: 'replicas: 2', new_str: 'replicas: -1' } },
        { type: 'tool_use', name: 'submit_result', input: { paths: [path] } },
      ],
    });
    const input = { runId: 'run-mw', services: settings.services, environments: settings.environments, workspace, repository: settings.repository, ...(settings.llm ? { llm: settings.llm } : {}), comments: [] };
    const written = await activities.writeManifests(input);
    expect(written.usage?.inputTokens).toBe(100);
    const review = await activities.validateManifests(input);
    expect(review.valid).toBe(false);
    expect(review.summary).toMatch(/REJECTED 1 object\(s\):\n {2}- staging: Deployment\/messages: .*spec\.replicas: Invalid value: -1: must be greater than or equal to 0/);
    expect(fake.requests[0]?.body.system?.[0]?.text).toContain('Keep every object, its name, namespace and labels');
    expect(git(workspace.path, 'show', `HEAD:${path}`)).toContain('replicas: -1');
  } finally {
    await fake.stop();
  }
});
