import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createActivities } from '../../activities';
import { parseConfig } from '../../config/load';
import { fixtureRepo, git } from '../support/gitRepo';

const activitiesFor = (repo: string, worktrees: string, extra: object = {}) =>
  createActivities({
    config: parseConfig({ repository: { path: repo, worktreesDir: worktrees }, services: [{ name: 'messages', path: 'm' }], environments: [{ name: 'production' }], ...extra }),
    logger: pino({ level: 'silent' }),
  });

const feature = 'Add real-time notifications when users receive new messages';

test('each run gets the next feature branch and its own worktree; a retried call returns the same one', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const activities = activitiesFor(repo, worktrees);
  const first = await activities.prepareWorkspace({ runId: 'run-a', feature });
  expect(first.branch).toBe('002-real-time-notifications-users');
  expect(first.specDir).toBe('specs/002-real-time-notifications-users');
  expect(git(first.path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(first.branch);

  expect(await activities.prepareWorkspace({ runId: 'run-a', feature })).toEqual(first);
  const second = await activities.prepareWorkspace({ runId: 'run-b', feature: 'Export invoices as PDF' });
  expect(second.branch).toBe('003-export-invoices-as-pdf');
  expect(git(repo, 'branch', '--list').split('\n').map((b) => b.replace(/^[*+ ]+/, '')).sort()).toEqual([
    '002-real-time-notifications-users',
    '003-export-invoices-as-pdf',
    'main',
  ]);
});

test('a missing repository, a folder that is not one, or a missing base branch fail non-retryably', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const plain = await mkdtemp(join(tmpdir(), 'slipway-plain-'));
  await expect(activitiesFor('/nonexistent/repo', worktrees).prepareWorkspace({ runId: 'r', feature })).rejects.toMatchObject({ type: 'RepositoryNotFound', nonRetryable: true });
  await expect(activitiesFor(plain, worktrees).prepareWorkspace({ runId: 'r', feature })).rejects.toThrow(/is not a git repository/);
  await expect(
    createActivities({
      config: parseConfig({ repository: { path: repo, baseBranch: 'trunk', worktreesDir: worktrees }, services: [{ name: 'm', path: 'm' }], environments: [{ name: 'p' }] }),
      logger: pino({ level: 'silent' }),
    }).prepareWorkspace({ runId: 'r', feature }),
  ).rejects.toThrow(/has no branch "trunk"/);
});

test('without an LLM the spec writer commits the spec-kit scaffold; a retry adds no commit; comments start a new round', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const activities = activitiesFor(repo, worktrees);
  const workspace = await activities.prepareWorkspace({ runId: 'run-spec', feature });
  const commitsOnBranch = () => Number(git(workspace.path, 'rev-list', '--count', `main..${workspace.branch}`));

  const spec = await activities.writeSpec({ runId: 'run-spec', feature, workspace, comments: [] });
  expect(spec.specPath).toBe(`${workspace.specDir}/spec.md`);
  const text = readFileSync(join(workspace.path, spec.specPath), 'utf8');
  expect(text).toContain(`# Feature Specification: ${feature}`);
  expect(text).toContain('**FR-001**: System MUST add real-time notifications when users receive new messages.');
  expect(spec.clarifications).toEqual(['primary user journey', 'the value this story delivers first', 'how this story is verified on its own']);
  expect(existsSync(join(workspace.path, spec.checklistPath))).toBe(true);
  expect(commitsOnBranch()).toBe(1);
  expect(git(workspace.path, 'log', '-1', '--format=%an <%ae> %s')).toBe(`Slipway <slipway@localhost> spec: scaffold ${workspace.branch} (round 1)`);

  // Same day, same input: the retry rewrites identical files and commits nothing.
  await activities.writeSpec({ runId: 'run-spec', feature, workspace, comments: [] });
  expect(commitsOnBranch()).toBe(1);

  await activities.writeSpec({ runId: 'run-spec', feature, workspace, comments: ['Cover offline users.'] });
  expect(commitsOnBranch()).toBe(2);
  expect(readFileSync(join(workspace.path, spec.specPath), 'utf8')).toContain('1. Cover offline users.');
  // The main checkout is untouched.
  expect(git(repo, 'status', '--porcelain')).toBe('');
});

test('with an LLM configured but no API key, the spec writer names the missing variable', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const activities = activitiesFor(repo, worktrees, { llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_UNSET_ANTHROPIC_KEY' } });
  const workspace = await activities.prepareWorkspace({ runId: 'run-llm', feature });
  await expect(activities.writeSpec({ runId: 'run-llm', feature, workspace, comments: [] })).rejects.toMatchObject({
    type: 'LlmNotConfigured',
    message: 'SLIPWAY_TEST_UNSET_ANTHROPIC_KEY is not set: the agents cannot call the Anthropic API',
  });
});

test('with a remote configured, the feature branch is pushed with its commits; pushing again changes nothing', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const remote = await mkdtemp(join(tmpdir(), 'slipway-remote-'));
  git(remote, 'init', '-q', '--bare');
  git(repo, 'remote', 'add', 'origin', remote);
  const activities = createActivities({
    config: parseConfig({ repository: { path: repo, worktreesDir: worktrees, remote: 'origin' }, services: [{ name: 'messages', path: 'm' }], environments: [{ name: 'production' }] }),
    logger: pino({ level: 'silent' }),
  });
  const workspace = await activities.prepareWorkspace({ runId: 'run-push', feature });
  await activities.writeSpec({ runId: 'run-push', feature, workspace, comments: [] });
  expect(git(remote, 'log', '-1', '--format=%s', workspace.branch)).toBe(`spec: scaffold ${workspace.branch} (round 1)`);
  await activities.writeSpec({ runId: 'run-push', feature, workspace, comments: [] });
  // The initial commit and the one spec commit: the retry pushed nothing new.
  expect(git(remote, 'rev-list', '--count', workspace.branch)).toBe('2');
});

test('a repository that is not checked out yet is cloned from repository.url', async () => {
  const { repo } = await fixtureRepo();
  const home = await mkdtemp(join(tmpdir(), 'slipway-clone-'));
  const activities = createActivities({
    config: parseConfig({
      repository: { path: join(home, 'checkout'), url: repo, worktreesDir: join(home, 'worktrees') },
      services: [{ name: 'messages', path: 'services/messages' }],
      environments: [{ name: 'production' }],
    }),
    logger: pino({ level: 'silent' }),
  });
  const workspace = await activities.prepareWorkspace({ runId: 'run-clone', feature });
  expect(workspace.branch).toBe('002-real-time-notifications-users');
  expect(existsSync(join(home, 'checkout', 'services', 'messages', 'api', 'messages.proto'))).toBe(true);
  expect(existsSync(join(workspace.path, 'services', 'notifications', 'Makefile'))).toBe(true);
});
