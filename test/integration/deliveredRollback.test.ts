import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { WorkflowFailedError, WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import type { RunSettings } from '../../config/settings';
import { startControlPlane, type ControlPlane, type KubeBinaries } from '../../scripts/kubernetes';
import { deliveredRollback, rollbackStatusQuery, type DeliveredRollbackInputV1 } from '../../workflows/deliveredRollback';
import { featureDelivery } from '../../workflows/featureDelivery';
import { decideUpdate, statusQuery } from '../../workflows/messages';
import { rollbackIdOf, type DeliveredRollbackState } from '../../workflows/rollbackState';
import type { RunState } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { activityDoubles, settingsFrom } from '../support/doubles';
import { fixtureRepo, git } from '../support/gitRepo';
import { appliedVersions, freshDatabase, schemaOf, type TestDatabase } from '../support/postgres';
import { connectTestTemporal, eventually, testWorker, uniqueTaskQueue, type TestTemporal } from '../support/temporal';

/**
 * Rolling a delivered run back later, against the real world: a Kubernetes control plane (the
 * Deployments), PostgreSQL (the migrations) and git (the run's branch). The runs themselves are
 * featureDelivery workflows whose agents are doubles; everything that changes the world is real.
 */

let plane: ControlPlane;
let apps: AppsV1Api;
let env: TestTemporal;
const databases: TestDatabase[] = [];

beforeAll(async () => {
  plane = await startControlPlane(JSON.parse(process.env.SLIPWAY_TEST_KUBE_BINARIES as string) as KubeBinaries);
  process.env.KUBECONFIG = plane.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(plane.kubeconfig);
  apps = kc.makeApiClient(AppsV1Api);
  env = await connectTestTemporal();
}, 180_000);
afterAll(async () => {
  await env?.close();
  await Promise.all(databases.map((d) => d.drop()));
  await plane?.stop();
});

const SERVICES = ['messages', 'notifications'] as const;

/** A repository whose main branch has the users table, fresh staging and production databases, and namespaces of their own. */
async function world() {
  const suffix = Math.random().toString(36).slice(2, 8);
  const { repo, worktrees } = await fixtureRepo();
  const dir = join(repo, 'services/messages/migrations');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '20260101000000_create_users.up.sql'), 'CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n');
  await writeFile(join(dir, '20260101000000_create_users.down.sql'), 'DROP TABLE users;\n');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'users table');
  const staging = await freshDatabase();
  const production = await freshDatabase();
  databases.push(staging, production);
  const variable = (environment: string) => `RB_${environment.toUpperCase()}_${suffix.toUpperCase()}`;
  process.env[variable('staging')] = staging.url;
  process.env[variable('production')] = production.url;
  const namespace = (environment: string) => `rb-${environment}-${suffix}`;
  const settingsFor = (version: string): RunSettings =>
    settingsFrom({
      repository: { path: repo, worktreesDir: worktrees },
      services: [
        {
          name: 'messages',
          path: 'services/messages',
          kubernetes: { deployment: 'messages', image: `registry.local/messages:${version}`, progressDeadlineSeconds: 30 },
          database: { urlEnv: variable('staging'), urlEnvByEnvironment: { production: variable('production') } },
        },
        { name: 'notifications', path: 'services/notifications', kubernetes: { deployment: 'notifications', image: `registry.local/notifications:${version}`, progressDeadlineSeconds: 30 } },
      ],
      environments: [
        { name: 'staging', namespace: namespace('staging'), kubeContext: plane.context, gate: { required: false } },
        { name: 'production', namespace: namespace('production'), kubeContext: plane.context, gate: { required: true, approvers: ['bob', 'dave'] } },
      ],
      gates: { spec: { required: false }, migrationReview: { required: false }, manifestReview: { required: false } },
      approvers: [{ id: 'bob' }, { id: 'dave' }],
      llm: { model: 'claude-sonnet-5' },
    });
  const snapshot = async () => {
    const deployments: Record<string, string | null> = {};
    for (const environment of ['staging', 'production']) {
      for (const name of SERVICES) {
        const d = await apps.readNamespacedDeployment({ name, namespace: namespace(environment) }).catch(() => undefined);
        deployments[`${environment}/${name}`] = d?.spec?.template.spec?.containers[0]?.image ?? null;
      }
    }
    return {
      deployments,
      staging: { versions: await appliedVersions(staging.url), schema: await schemaOf(staging.url) },
      production: { versions: await appliedVersions(production.url), schema: await schemaOf(production.url) },
    };
  };
  return { repo, settingsFor, snapshot, namespace, suffix };
}

type World = Awaited<ReturnType<typeof world>>;

/** The release before the runs: messages 1.0 in both namespaces with the users table; notifications does not exist yet. */
async function previousRelease(w: World): Promise<void> {
  const real = testActivities();
  const settings = w.settingsFor('1.0');
  const workspace = await real.prepareWorkspace({ runId: 'previous-release', feature: 'previous release', repository: settings.repository });
  const messages = settings.services[0];
  if (messages === undefined) throw new Error('no messages service');
  for (const environment of settings.environments) {
    await real.applyMigrations({ runId: 'previous-release', service: messages, environment: environment.name, workspace });
    await real.deployService({ runId: 'previous-release', service: messages, environment, workspace });
  }
}

/** One feature run to the end, its migration drafted as an agent would (a reversible pair committed on its branch). */
async function deliver(w: World, runId: string, version: string, migration: { version: string; table: string }): Promise<RunState> {
  const real = testActivities();
  const { activities } = activityDoubles({
    prepareWorkspace: real.prepareWorkspace,
    removeWorkspace: real.removeWorkspace,
    writeManifests: async (input) => real.writeManifests({ ...input, llm: undefined }),
    validateManifests: real.validateManifests,
    deployService: real.deployService,
    rollbackService: real.rollbackService,
    applyMigrations: real.applyMigrations,
    revertMigrations: real.revertMigrations,
    draftMigrations: async (input) => {
      const dir = join(input.workspace.path, 'services/messages/migrations');
      await writeFile(join(dir, `${migration.version}_${migration.table}.up.sql`), `CREATE TABLE ${migration.table} (id bigint PRIMARY KEY);\n`);
      await writeFile(join(dir, `${migration.version}_${migration.table}.down.sql`), `DROP TABLE ${migration.table};\n`);
      git(input.workspace.path, 'add', '.');
      git(input.workspace.path, 'commit', '-q', '-m', `migration ${migration.version}`);
      return { drafted: true };
    },
  });
  const taskQueue = uniqueTaskQueue('delivered');
  const worker = await testWorker(env, taskQueue, activities);
  return worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `${runId}-${w.suffix}`,
      args: [{ feature: `Add ${migration.table}`, requester: 'alice', services: [...SERVICES], settings: w.settingsFor(version) }],
    });
    // Production's gate: four-eyes, one of its approvers.
    await eventually(async () => ((await handle.query(statusQuery)).gates.production?.status === 'pending' ? true : undefined), 'the production gate', 120_000);
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'production', decision: 'approve', approver: 'bob' }] });
    await handle.result();
    return handle.query(statusQuery);
  });
}

/** What the API hands the rollback workflow, from the run's final state and today's settings. */
function rollbackInput(run: RunState, settings: RunSettings, force?: string): DeliveredRollbackInputV1 {
  if (run.workspace === undefined) throw new Error('the run has no workspace');
  return {
    runId: run.runId,
    feature: run.feature,
    branch: run.workspace.branch,
    rollouts: run.rollouts,
    requester: 'carol',
    reason: 'read receipts double-count',
    ...(force !== undefined ? { force: { comment: force } } : {}),
    settings,
  };
}

/** Starts a rollback on a real worker; `decide` approves (or not) once it waits at its gate. */
async function rollBack(input: DeliveredRollbackInputV1, decide: (handle: WorkflowHandle<typeof deliveredRollback>, state: DeliveredRollbackState) => Promise<void>) {
  const real = testActivities();
  const { activities, calls } = activityDoubles({
    prepareWorkspace: real.prepareWorkspace,
    removeWorkspace: real.removeWorkspace,
    writeRollbackRecord: real.writeRollbackRecord,
    inspectDeployment: real.inspectDeployment,
    inspectMigrations: real.inspectMigrations,
    rollbackService: real.rollbackService,
    revertMigrations: real.revertMigrations,
  });
  const taskQueue = uniqueTaskQueue('rollback');
  const worker = await testWorker(env, taskQueue, activities);
  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(deliveredRollback, { taskQueue, workflowId: rollbackIdOf(input.runId), args: [input], workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' });
    const waiting = await eventually(async () => {
      const s = await handle.query(rollbackStatusQuery);
      return s.status === 'checking' ? undefined : s;
    }, 'the rollback to check the world');
    if (waiting.status === 'awaiting-approval') await decide(handle, waiting);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    return { final: await handle.query(rollbackStatusQuery), failure };
  });
  return { ...state, calls };
}

test('a delivered run rolled back later: four-eyes gate, production first, the world equals its pre-run snapshot, and the branch records it', async () => {
  const w = await world();
  await previousRelease(w);
  const before = await w.snapshot();
  expect(before.deployments).toEqual({ 'staging/messages': 'registry.local/messages:1.0', 'staging/notifications': null, 'production/messages': 'registry.local/messages:1.0', 'production/notifications': null });

  const run = await deliver(w, 'run-a', '2.0', { version: '20260201000000', table: 'read_receipts' });
  expect(run.status).toBe('succeeded');
  const delivered = await w.snapshot();
  expect(delivered.deployments['production/notifications']).toBe('registry.local/notifications:2.0');
  expect(delivered.production.schema.columns).toContain('read_receipts.id:bigint:NO');

  // Asked by bob, one of production's approvers: four-eyes still keeps him from approving his own rollback.
  const { final, failure, calls } = await rollBack({ ...rollbackInput(run, w.settingsFor('1.0')), requester: 'bob' }, async (handle, waiting) => {
    expect(waiting.status).toBe('awaiting-approval');
    expect(waiting.conflicts).toEqual([]);
    expect(waiting.gates.rollback?.summary).toMatch(/^Roll back run .*asked by bob: read receipts double-count/);
    const refused = await handle.executeUpdate(decideUpdate, { args: [{ gate: 'rollback', decision: 'approve', approver: 'bob' }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(((refused as WorkflowUpdateFailedError).cause as { type?: string }).type).toBe('FourEyes');
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'rollback', decision: 'approve', approver: 'dave', comment: 'go' }] });
  });
  expect(failure).toBeUndefined();
  expect(final.status).toBe('rolled-back');
  // Production first, each environment in reverse rollout order, the Deployment before the migrations.
  expect(final.steps.map((s) => `${s.environment}/${s.service}:${s.kind}:${s.status}`)).toEqual([
    'production/notifications:deployment:done',
    'production/messages:deployment:done',
    'production/messages:migrations:done',
    'staging/notifications:deployment:done',
    'staging/messages:deployment:done',
    'staging/messages:migrations:done',
  ]);
  expect(calls.filter((c) => c.name === 'rollbackService' || c.name === 'revertMigrations').length).toBe(6);
  expect(final.approvals.map((a) => `${a.decision}:${a.by}`)).toEqual(['approve:dave']);
  expect(await w.snapshot()).toEqual(before);
  const record = git(w.repo, 'show', `${run.workspace?.branch}:${run.workspace?.specDir}/rollback.md`);
  expect(record).toContain('Approved by dave');
  expect(record).toMatch(/\| 1 \| production \| notifications \| delete Deployment .*\| done \|/);
  // The run's worktree, back for the undo, went again.
  expect(git(w.repo, 'worktree', 'list')).not.toContain(run.runId);
}, 600_000);

test('a run a later run built on is refused, naming the later run; forced, the gate shows what the later run loses and the undo goes through', async () => {
  const w = await world();
  await previousRelease(w);
  const a = await deliver(w, 'run-a', '2.0', { version: '20260201000000', table: 'read_receipts' });
  const b = await deliver(w, 'run-b', '3.0', { version: '20260301000000', table: 'typing_indicators' });
  expect([a.status, b.status]).toEqual(['succeeded', 'succeeded']);

  const refused = await rollBack(rollbackInput(a, w.settingsFor('1.0')), async () => {
    throw new Error('a refused rollback must not reach its gate');
  });
  expect(refused.final.status).toBe('refused');
  expect(refused.failure).toBeInstanceOf(WorkflowFailedError);
  expect(refused.final.outcome).toMatch(/the world has moved on since run run-a-/);
  expect(refused.final.outcome).toMatch(/production\/messages: Deployment rb-production-\w+\/messages is at revision \d+ \(registry\.local\/messages:3\.0\) by run run-b-/);
  expect(refused.final.outcome).toMatch(/the database of messages in production: 20260301000000 \(run run-b-\w+\) applied since/);
  // Nothing was touched.
  expect(refused.calls.filter((c) => c.name === 'rollbackService' || c.name === 'revertMigrations')).toEqual([]);
  const afterB = await w.snapshot();
  expect(afterB.deployments['production/messages']).toBe('registry.local/messages:3.0');

  const forced = await rollBack(rollbackInput(a, w.settingsFor('1.0'), 'B is broken too; the 1.0 image is the last good one'), async (handle, waiting) => {
    expect(waiting.forced).toEqual({ by: 'carol', comment: 'B is broken too; the 1.0 image is the last good one' });
    expect(waiting.gates.rollback?.summary).toMatch(/FORCED by carol/);
    expect(waiting.gates.rollback?.summary).toMatch(/loses: revision \d+ \(registry\.local\/messages:3\.0\) by run run-b-\w+ is replaced by revision \d+ \(registry\.local\/messages:1\.0\)/);
    await handle.executeUpdate(decideUpdate, { args: [{ gate: 'rollback', decision: 'approve', approver: 'bob' }] });
  });
  expect(forced.failure).toBeUndefined();
  expect(forced.final.status).toBe('rolled-back');
  const after = await w.snapshot();
  expect(after.deployments).toEqual({ 'staging/messages': 'registry.local/messages:1.0', 'staging/notifications': null, 'production/messages': 'registry.local/messages:1.0', 'production/notifications': null });
  // A's table went; B's migration stays, as the gate said.
  expect(after.production.versions.map((v) => v.version).sort()).toEqual(['20260101000000', '20260301000000']);
  expect(after.production.schema.columns.some((c) => c.startsWith('read_receipts.'))).toBe(false);
}, 900_000);
