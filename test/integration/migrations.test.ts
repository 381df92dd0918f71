import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunSettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { testActivities } from '../support/activities';
import { serviceIn, settingsFrom } from '../support/doubles';
import { fixtureRepo, git } from '../support/gitRepo';
import { appliedVersions, freshDatabase, schemaOf, type TestDatabase } from '../support/postgres';

const databases: TestDatabase[] = [];
afterAll(async () => {
  await Promise.all(databases.map((d) => d.drop()));
});

const BASE = {
  '20260101000000_create_users.up.sql': 'CREATE TABLE users (id bigint PRIMARY KEY, name text NOT NULL);\n',
  '20260101000000_create_users.down.sql': 'DROP TABLE users;\n',
};

/** A repository whose main branch has one applied-elsewhere migration, a run workspace, and fresh dev and production databases. */
async function setup() {
  const { repo, worktrees } = await fixtureRepo();
  const dir = join(repo, 'services/messages/migrations');
  await mkdir(dir, { recursive: true });
  for (const [name, sql] of Object.entries(BASE)) await writeFile(join(dir, name), sql);
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'users table');
  const dev = await freshDatabase();
  const prod = await freshDatabase();
  databases.push(dev, prod);
  process.env.SLIPWAY_TEST_MESSAGES_DB = dev.url;
  process.env.SLIPWAY_TEST_MESSAGES_PROD_DB = prod.url;
  const settings = settingsFrom({
    repository: { path: repo, worktreesDir: worktrees },
    services: [{ name: 'messages', path: 'services/messages', database: { urlEnv: 'SLIPWAY_TEST_MESSAGES_DB', urlEnvByEnvironment: { production: 'SLIPWAY_TEST_MESSAGES_PROD_DB' } } }],
    environments: [{ name: 'dev' }, { name: 'production' }],
  });
  const activities = testActivities();
  const workspace = await activities.prepareWorkspace({ runId: 'run-1', feature: 'Add message read receipts', repository: settings.repository });
  service = serviceIn(settings, 'messages');
  current = settings;
  const migrationsDir = join(workspace.path, 'services/messages/migrations');
  const addMigration = async (version: string, name: string, up: string, down: string) => {
    await writeFile(join(migrationsDir, `${version}_${name}.up.sql`), up);
    await writeFile(join(migrationsDir, `${version}_${name}.down.sql`), down);
    git(workspace.path, 'add', '.');
    git(workspace.path, 'commit', '-q', '-m', `migration ${version}`);
  };
  return { activities, workspace, dev, prod, addMigration, settings };
}

let service: RunSettings['services'][number];
let current: RunSettings;
const target = (workspace: Workspace, environment = 'dev', runId = 'run-1') => ({ runId, service, environment, workspace });
/** What the workflow does for the migration-review gate: draft when the branch has none, then lint and rehearse. */
const prepare = async (activities: ReturnType<typeof testActivities>, workspace: Workspace, settings: RunSettings = current) => {
  const draft = await activities.draftMigrations({ runId: 'run-1', feature: 'Add message read receipts', service: serviceIn(settings, 'messages'), workspace, repository: settings.repository, comments: [], ...(settings.llm ? { llm: settings.llm } : {}) });
  const review = await activities.reviewMigrations({
    runId: 'run-1',
    service: serviceIn(settings, 'messages'),
    workspace,
    baseBranch: settings.repository.baseBranch,
    environments: settings.environments.map((e) => e.name),
    blockingRules: settings.migrations.blockingRules,
  });
  return { ...review, drafted: draft.drafted, ...(draft.usage ? { usage: draft.usage } : {}) };
};

test('squawk findings on unsafe SQL are attached to the review, and blocking ones block', async () => {
  const { activities, workspace, addMigration } = await setup();
  await addMigration('20261123000000', 'add_email', 'ALTER TABLE users ADD COLUMN email text NOT NULL;\nCREATE INDEX users_email ON users (email);\n', 'DROP INDEX users_email;\nALTER TABLE users DROP COLUMN email;\n');
  const review = await prepare(activities, workspace);
  expect(review.files).toEqual(['services/messages/migrations/20261123000000_add_email.up.sql', 'services/messages/migrations/20261123000000_add_email.down.sql']);
  const rules = review.findings.map((f) => `${f.rule}${f.blocking ? '!' : ''}`);
  expect(rules).toEqual(expect.arrayContaining(['adding-required-field!', 'require-concurrent-index-creation!', 'ban-drop-column!']));
  expect(review.blocking).toBe(true);
  expect(review.summary).toMatch(/BLOCKING warning adding-required-field at 20261123000000_add_email\.up\.sql:1/);
});

test('the dry run reports what would run and leaves no trace', async () => {
  const { activities, workspace, dev, prod, addMigration } = await setup();
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE IF NOT EXISTS receipts (message_id bigint NOT NULL, user_id bigint NOT NULL);\n', 'DROP TABLE receipts;\n');
  const before = [await schemaOf(dev.url), await schemaOf(prod.url)];
  const review = await prepare(activities, workspace);
  expect(review.summary).toMatch(/dry run on dev: would apply 20260101000000_create_users\.up\.sql \(\d+ ms\), 20261123000000_add_receipts\.up\.sql \(\d+ ms\)/);
  expect(review.summary).toMatch(/dry run on production: would apply/);
  expect([await schemaOf(dev.url), await schemaOf(prod.url)]).toEqual(before);
  expect(await appliedVersions(dev.url)).toEqual([]);
});

test('a dry run that fails names the file and the SQL error, before anything is applied', async () => {
  const { activities, workspace, dev, addMigration } = await setup();
  await addMigration('20261123000000', 'broken', 'ALTER TABLE nosuchtable ADD COLUMN x int;\n', 'SELECT 1;\n');
  await expect(prepare(activities, workspace)).rejects.toMatchObject({
    type: 'MigrationDryRunFailed',
    message: expect.stringMatching(/20261123000000_broken\.up\.sql: relation "nosuchtable" does not exist \(SQLSTATE 42P01\)/),
  });
  expect(await schemaOf(dev.url)).toEqual({ columns: [], indexes: [] });
});

test('apply then revert returns the schema to where it started; a retried apply changes nothing', async () => {
  const { activities, workspace, dev, addMigration } = await setup();
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE receipts (message_id bigint NOT NULL, user_id bigint NOT NULL);\nCREATE INDEX receipts_user ON receipts (user_id);\n', 'DROP TABLE receipts;\n');
  const start = await schemaOf(dev.url);

  const applied = await activities.applyMigrations(target(workspace));
  expect(applied.versions).toEqual(['20260101000000', '20261123000000']);
  const after = await schemaOf(dev.url);
  expect(after.columns).toEqual(expect.arrayContaining(['receipts.user_id:bigint:NO', 'users.name:text:NO']));
  expect(after.indexes).toContain('receipts_user');
  expect(await appliedVersions(dev.url)).toEqual([
    { version: '20260101000000', run_id: 'run-1' },
    { version: '20261123000000', run_id: 'run-1' },
  ]);

  // A retry (after a crash) applies nothing twice and reports the same versions.
  expect(await activities.applyMigrations(target(workspace))).toEqual(applied);
  expect(await schemaOf(dev.url)).toEqual(after);

  await activities.revertMigrations({ ...target(workspace), versions: applied.versions });
  expect(await schemaOf(dev.url)).toEqual(start);
  expect(await appliedVersions(dev.url)).toEqual([]);
});

test('revert undoes only what this run applied', async () => {
  const { activities, workspace, dev, addMigration } = await setup();
  // Another run already applied the base migration.
  await activities.applyMigrations({ ...target(workspace, 'dev', 'earlier-run') });
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE receipts (id bigint);\n', 'DROP TABLE receipts;\n');
  const mine = await activities.applyMigrations(target(workspace));
  expect(mine.versions).toEqual(['20261123000000']);
  await activities.revertMigrations({ ...target(workspace), versions: ['20260101000000', ...mine.versions] });
  expect(await appliedVersions(dev.url)).toEqual([{ version: '20260101000000', run_id: 'earlier-run' }]);
  expect((await schemaOf(dev.url)).columns.some((c) => c.startsWith('users.'))).toBe(true);
});

test('inspectMigrations: what is still applied of a run, and what other runs applied after it, by time, not by version number', async () => {
  const { activities, workspace, addMigration } = await setup();
  // Parallel branches: an earlier run applied a higher version before this run applied its own.
  await addMigration('20261201000000', 'add_reactions', 'CREATE TABLE reactions (id bigint);\n', 'DROP TABLE reactions;\n');
  await activities.applyMigrations(target(workspace, 'dev', 'earlier-run'));
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE receipts (id bigint);\n', 'DROP TABLE receipts;\n');
  const mine = await activities.applyMigrations(target(workspace));
  expect(mine.versions).toEqual(['20261123000000']);
  const inspect = () => activities.inspectMigrations({ runId: 'run-1', service, environment: 'dev', versions: mine.versions });
  expect(await inspect()).toEqual({ applied: ['20261123000000'], later: [] });

  // A later run whose version number is lower still counts as later.
  await addMigration('20261001000000', 'add_pins', 'CREATE TABLE pins (id bigint);\n', 'DROP TABLE pins;\n');
  await activities.applyMigrations(target(workspace, 'dev', 'later-run'));
  const later = await inspect();
  expect(later.applied).toEqual(['20261123000000']);
  expect(later.later.map((m) => `${m.version} ${m.runId}`)).toEqual(['20261001000000 later-run']);
  expect(Date.parse(later.later[0]?.appliedAt ?? '')).toBeGreaterThan(0);
});

test('a failing second migration leaves the first applied and recorded and the second absent', async () => {
  const { activities, workspace, dev, addMigration } = await setup();
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE receipts (id bigint);\n', 'DROP TABLE receipts;\n');
  await addMigration('20261123000100', 'add_reactions', 'CREATE TABLE reactions (id bigint);\nALTER TABLE reactions ADD COLUMN emoji nosuchtype;\n', 'DROP TABLE reactions;\n');
  const err = await activities.applyMigrations(target(workspace)).catch((e: unknown) => e);
  expect(err).toMatchObject({ type: 'MigrationFailed', nonRetryable: true });
  expect((err as Error).message).toMatch(/20261123000100_add_reactions\.up\.sql failed in dev: type "nosuchtype" does not exist \(SQLSTATE 42704\)/);
  expect((await appliedVersions(dev.url)).map((r) => r.version)).toEqual(['20260101000000', '20261123000000']);
  const schema = await schemaOf(dev.url);
  expect(schema.columns).toContain('receipts.id:bigint:YES');
  expect(schema.columns.some((c) => c.startsWith('reactions.'))).toBe(false);
});

test('without migrations on the branch and no LLM, a reversible template is committed for a person to fill in', async () => {
  const { activities, workspace } = await setup();
  const review = await prepare(activities, workspace);
  expect(review.files).toHaveLength(2);
  expect(review.files[0]).toMatch(/^services\/messages\/migrations\/\d{14}_message_read_receipts\.up\.sql$/);
  expect(review.blocking).toBe(false);
  expect(git(workspace.path, 'log', '-1', '--format=%s')).toMatch(/^migrations: messages \d{14}_message_read_receipts$/);
});

test('a database variable that is not set is a clear non-retryable failure that never shows a URL', async () => {
  const { activities, workspace } = await setup();
  delete process.env.SLIPWAY_TEST_MESSAGES_PROD_DB;
  await expect(activities.applyMigrations(target(workspace, 'production'))).rejects.toMatchObject({
    type: 'DatabaseNotConfigured',
    message: 'SLIPWAY_TEST_MESSAGES_PROD_DB is not set: the database URL of messages in production',
  });
});

test('in a workflow, the saga reverts the migrations of every environment after a failed deploy', async () => {
  const { connectTestTemporal, testWorker, uniqueTaskQueue } = await import('../support/temporal');
  const { activityDoubles, testSettings } = await import('../support/doubles');
  const { featureDelivery } = await import('../../workflows/featureDelivery');
  const { statusQuery } = await import('../../workflows/messages');
  const { activities: real, workspace, dev, prod, addMigration, settings: realSettings } = await setup();
  await addMigration('20261123000000', 'add_receipts', 'CREATE TABLE receipts (id bigint);\n', 'DROP TABLE receipts;\n');
  const start = [await schemaOf(dev.url), await schemaOf(prod.url)];

  const env = await connectTestTemporal();
  const taskQueue = uniqueTaskQueue('migrations');
  const { activities, calls } = activityDoubles({
    prepareWorkspace: async () => workspace,
    applyMigrations: real.applyMigrations,
    revertMigrations: real.revertMigrations,
    deployService: async (i) => {
      if (i.environment.name === 'production') throw (await import('@temporalio/common')).ApplicationFailure.nonRetryable('rollout of messages timed out: 0/3 replicas available', 'RolloutTimedOut');
      return { deployment: 'messages', namespace: i.environment.namespace, revision: 2, previousRevision: 1 };
    },
  });
  const base = testSettings();
  const settings = {
    ...base,
    services: [{ ...serviceIn(realSettings, 'messages'), kubernetes: serviceIn(base, 'messages').kubernetes }],
    environments: base.environments.filter((e) => e.name !== 'staging').map((e) => ({ ...e, soak: undefined })),
  };
  const worker = await testWorker(env, taskQueue, activities);
  const state = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(featureDelivery, {
      taskQueue,
      workflowId: `test-migrations-saga-${taskQueue}`,
      args: [{ feature: 'Add message read receipts', requester: 'alice', services: ['messages'], settings }],
    });
    await handle.result().catch(() => undefined);
    return handle.query(statusQuery);
  });
  await env.close();

  expect(state).toMatchObject({ status: 'rolled-back', reason: expect.stringMatching(/rollout of messages timed out/) });
  // Production's migration was applied, then undone by the failing rollout itself; dev's by the saga.
  expect(calls.filter((c) => c.name === 'revertMigrations').map((c) => (c.input as { environment: string }).environment)).toEqual(['production', 'dev']);
  expect([await schemaOf(dev.url), await schemaOf(prod.url)]).toEqual(start);
  expect(await appliedVersions(dev.url)).toEqual([]);
  expect(await appliedVersions(prod.url)).toEqual([]);
});

test('with an LLM configured, the migration writer agent writes the pair, which is then linted and rehearsed', async () => {
  const { FakeAnthropic } = await import('../support/fakeAnthropic');
  const fake = await new FakeAnthropic().start();
  try {
    const { workspace, dev } = await setup();
    process.env.SLIPWAY_TEST_ANTHROPIC_KEY = 'sk-ant-test';
    const settings = settingsFrom({
      repository: { path: workspace.path, worktreesDir: join(workspace.path, '..') },
      services: [{ name: 'messages', path: 'services/messages', database: { urlEnv: 'SLIPWAY_TEST_MESSAGES_DB' } }],
      environments: [{ name: 'dev' }],
      llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_ANTHROPIC_KEY', baseUrl: fake.url },
    });
    const activities = testActivities();
    const dir = 'services/messages/migrations';
    fake.answer({
      blocks: [
        { type: 'tool_use', name: 'create_file', input: { path: `${dir}/20261123120000_add_read_at.up.sql`, content: 'SET lock_timeout = 1000;\nALTER TABLE users ADD COLUMN IF NOT EXISTS read_at timestamptz;\n' } },
        { type: 'tool_use', name: 'create_file', input: { path: `${dir}/20261123120000_add_read_at.down.sql`, content: 'ALTER TABLE users DROP COLUMN read_at;\n' } },
        { type: 'tool_use', name: 'submit_result', input: { files: [`${dir}/20261123120000_add_read_at.up.sql`, `${dir}/20261123120000_add_read_at.down.sql`] } },
      ],
      usage: { input: 700, output: 300 },
    });
    const review = await prepare(activities, workspace, settings);
    expect(review.files).toEqual([`${dir}/20261123120000_add_read_at.up.sql`, `${dir}/20261123120000_add_read_at.down.sql`]);
    expect(review.usage).toMatchObject({ inputTokens: 700, outputTokens: 300 });
    expect(review.summary).toMatch(/dry run on dev: would apply 20260101000000_create_users\.up\.sql \(\d+ ms\), 20261123120000_add_read_at\.up\.sql/);
    // Dropping the column on the way down is what squawk flags: the reviewer sees it as blocking.
    expect(review.findings.map((f) => f.rule)).toContain('ban-drop-column');
    expect(fake.requests[0]?.body.system?.[0]?.text).toMatch(/migration writer|PostgreSQL migrations for the service messages/);
    expect(git(workspace.path, 'log', '-1', '--format=%s')).toBe(`migrations(messages): ${workspace.branch}`);
    expect(await appliedVersions(dev.url)).toEqual([]);
  } finally {
    await fake.stop();
  }
});
