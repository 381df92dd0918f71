import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SlipwayConfigInput } from '../../config/schema';
import { testActivities } from '../support/activities';
import { settingsFrom } from '../support/doubles';
import { repositoryGit } from '../../activities/repo/git';
import { reserveNumber, RESERVATIONS, runBlob } from '../../activities/repo/numbering';
import { fixtureRepo, git } from '../support/gitRepo';

const activities = testActivities();
const feature = 'Add real-time notifications when users receive new messages';

const settingsFor = (repository: SlipwayConfigInput['repository'], extra: Partial<SlipwayConfigInput> = {}) =>
  settingsFrom({ repository, services: [{ name: 'messages', path: 'services/messages' }, { name: 'notifications', path: 'services/notifications' }], environments: [{ name: 'production' }], ...extra });

test('each run gets the next feature branch and its own worktree; a retried call returns the same one', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const { repository } = settingsFor({ path: repo, worktreesDir: worktrees });
  const first = await activities.prepareWorkspace({ runId: 'run-a', feature, repository });
  expect(first.branch).toBe('002-real-time-notifications-users');
  expect(first.specDir).toBe('specs/002-real-time-notifications-users');
  expect(git(first.path, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(first.branch);

  expect(await activities.prepareWorkspace({ runId: 'run-a', feature, repository })).toEqual(first);
  const second = await activities.prepareWorkspace({ runId: 'run-b', feature: 'Export invoices as PDF', repository });
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
  const prepare = (repository: SlipwayConfigInput['repository']) => activities.prepareWorkspace({ runId: 'r', feature, repository: settingsFor(repository).repository });
  await expect(prepare({ path: '/nonexistent/repo', worktreesDir: worktrees })).rejects.toMatchObject({ type: 'RepositoryNotFound', nonRetryable: true });
  await expect(prepare({ path: plain, worktreesDir: worktrees })).rejects.toThrow(/is not a git repository/);
  await expect(prepare({ path: repo, baseBranch: 'trunk', worktreesDir: worktrees })).rejects.toThrow(/has no branch "trunk"/);
});

test('without an LLM the spec writer commits the spec-kit scaffold once; the check reads back what a person wrote', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const { repository } = settingsFor({ path: repo, worktreesDir: worktrees });
  const workspace = await activities.prepareWorkspace({ runId: 'run-spec', feature, repository });
  const commitsOnBranch = () => Number(git(workspace.path, 'rev-list', '--count', `main..${workspace.branch}`));
  const inWorkspace = { runId: 'run-spec', workspace, repository };

  const spec = await activities.writeSpec({ ...inWorkspace, feature, comments: [] });
  expect(spec.specPath).toBe(`${workspace.specDir}/spec.md`);
  const text = readFileSync(join(workspace.path, spec.specPath), 'utf8');
  expect(text).toContain(`# Feature Specification: ${feature}`);
  expect(text).toContain('**FR-001**: System MUST add real-time notifications when users receive new messages.');
  expect(spec.clarifications).toEqual(['primary user journey', 'the value this story delivers first', 'how this story is verified on its own']);
  expect(spec.summary).toMatch(/Commit on branch `002-real-time-notifications-users` in the worktree/);
  expect(existsSync(join(workspace.path, spec.checklistPath))).toBe(true);
  expect(commitsOnBranch()).toBe(1);
  expect(git(workspace.path, 'log', '-1', '--format=%an <%ae> %s')).toBe(`Slipway <slipway@localhost> spec: scaffold ${workspace.branch}`);

  // A retry, or a round with a reviewer's comments, never overwrites the person's spec: the comments go to the gate.
  const again = await activities.writeSpec({ ...inWorkspace, feature, comments: ['Cover offline users.'] });
  expect(again.summary).toContain('1. Cover offline users.');
  expect(commitsOnBranch()).toBe(1);

  expect(await activities.checkSpec(inWorkspace)).toMatchObject({ ok: false, problems: [expect.stringMatching(/still has 3 \[NEEDS CLARIFICATION\] marker/)] });
  await writeFile(join(workspace.path, spec.specPath), '# Feature Specification\n\nEvery open question answered.\n');
  git(workspace.path, 'commit', '-qam', 'spec: written by a person');
  expect(await activities.checkSpec(inWorkspace)).toEqual({ ok: true, problems: [], clarifications: [] });
  // The main checkout is untouched.
  expect(git(repo, 'status', '--porcelain')).toBe('');
});

test("a person's plan is read from its services block; unknown services and a missing block reopen the gate with the reason", async () => {
  const { repo, worktrees } = await fixtureRepo();
  const { repository } = settingsFor({ path: repo, worktreesDir: worktrees });
  const workspace = await activities.prepareWorkspace({ runId: 'run-plan', feature, repository });
  const inWorkspace = { runId: 'run-plan', workspace, repository };
  const services = ['messages', 'notifications'];
  const { instructions } = await activities.scaffoldPlan({ ...inWorkspace, feature, services });
  expect(instructions).toMatch(/slipway-services/);
  const planPath = join(workspace.path, workspace.specDir, 'plan.md');
  // The scaffold's block is commented out: no services yet.
  expect(await activities.checkPlan({ ...inWorkspace, services })).toMatchObject({ ok: false, problems: ['the slipway-services block names no service'] });

  const write = (block: string) => writeFile(planPath, `# Plan\n\n\`\`\`yaml slipway-services\n${block}\n\`\`\`\n`);
  await write('- name: billing\n  integrations: [grpc]');
  expect((await activities.checkPlan({ ...inWorkspace, services })).problems).toEqual(['the plan names services that are not configured: billing (configured: messages, notifications)']);
  await write('- name: messages\n  integrations: [grpc, schema]\n- name: notifications\n  integrations: [events]');
  const checked = await activities.checkPlan({ ...inWorkspace, services });
  expect(checked.ok).toBe(true);
  expect(checked.plan).toMatchObject({ services: ['messages', 'notifications'], integrations: { messages: ['grpc', 'schema'], notifications: ['events'] } });

  await activities.scaffoldTasks({ ...inWorkspace, feature });
  expect((await activities.checkTasks(inWorkspace)).ok).toBe(false);
  await writeFile(join(workspace.path, workspace.specDir, 'tasks.md'), '# Tasks\n\n- [ ] T001 [P] [US1] Add the table in services/messages/migrations\n- [ ] T002 [US1] Notify in services/notifications/src/server.ts\n');
  expect(await activities.checkTasks(inWorkspace)).toMatchObject({ ok: true, tasks: { taskCount: 2 } });
});

test('with an LLM configured but no API key, the spec writer names the missing variable', async () => {
  const { repo, worktrees } = await fixtureRepo();
  const settings = settingsFor({ path: repo, worktreesDir: worktrees }, { llm: { model: 'claude-sonnet-5', apiKeyEnv: 'SLIPWAY_TEST_UNSET_ANTHROPIC_KEY' } });
  const workspace = await activities.prepareWorkspace({ runId: 'run-llm', feature, repository: settings.repository });
  await expect(activities.writeSpec({ runId: 'run-llm', feature, workspace, repository: settings.repository, llm: settings.llm, comments: [] })).rejects.toMatchObject({
    type: 'LlmNotConfigured',
    message: 'SLIPWAY_TEST_UNSET_ANTHROPIC_KEY is not set: the agents cannot call the Anthropic API',
  });
});

test("with a remote, Slipway pushes its commits and pulls a person's; a diverged branch is the person's to fix", async () => {
  const { repo, worktrees } = await fixtureRepo();
  const remote = await mkdtemp(join(tmpdir(), 'slipway-remote-'));
  git(remote, 'init', '-q', '--bare');
  git(repo, 'remote', 'add', 'origin', remote);
  const { repository } = settingsFor({ path: repo, worktreesDir: worktrees, remote: 'origin' });
  const workspace = await activities.prepareWorkspace({ runId: 'run-push', feature, repository });
  const inWorkspace = { runId: 'run-push', workspace, repository };
  await activities.writeSpec({ ...inWorkspace, feature, comments: [] });
  expect(git(remote, 'log', '-1', '--format=%s', workspace.branch)).toBe(`spec: scaffold ${workspace.branch}`);
  await activities.writeSpec({ ...inWorkspace, feature, comments: [] });
  // The initial commit and the one spec commit: the retry pushed nothing new.
  expect(git(remote, 'rev-list', '--count', workspace.branch)).toBe('2');

  // A person clones, writes the spec and pushes: the check pulls it.
  const clone = join(await mkdtemp(join(tmpdir(), 'slipway-person-')), 'clone');
  git(tmpdir(), 'clone', '-q', '--branch', workspace.branch, remote, clone);
  await writeFile(join(clone, workspace.specDir, 'spec.md'), '# Spec\n\nDone.\n');
  git(clone, 'commit', '-qam', 'spec: by a person');
  git(clone, 'push', '-q', 'origin', workspace.branch);
  expect((await activities.checkSpec(inWorkspace)).problems).toEqual([]);
  expect(readFileSync(join(workspace.path, workspace.specDir, 'spec.md'), 'utf8')).toBe('# Spec\n\nDone.\n');

  // Slipway commits on its side while the person pushes something else: diverged.
  await activities.scaffoldTasks({ ...inWorkspace, feature });
  git(clone, 'reset', '-q', '--hard', `origin/${workspace.branch}~0`);
  git(clone, 'fetch', '-q');
  await writeFile(join(clone, 'README.md'), 'changed\n');
  git(clone, 'commit', '-qam', 'readme');
  git(clone, 'push', '-q', '--force', 'origin', `HEAD~1:refs/heads/tmp`);
  expect((await activities.pullImplementation(inWorkspace)).ok).toBe(true);
  git(clone, 'push', '-q', '--force', 'origin', `HEAD:${workspace.branch}`);
  const diverged = await activities.pullImplementation(inWorkspace);
  expect(diverged).toMatchObject({ ok: false, problems: [expect.stringMatching(/has diverged from Slipway's .*rebase your commits onto it/)] });
});

test('a repository that is not checked out yet is cloned from repository.url', async () => {
  const { repo } = await fixtureRepo();
  const home = await mkdtemp(join(tmpdir(), 'slipway-clone-'));
  const { repository } = settingsFor({ path: join(home, 'checkout'), url: repo, worktreesDir: join(home, 'worktrees') });
  const workspace = await activities.prepareWorkspace({ runId: 'run-clone', feature, repository });
  expect(workspace.branch).toBe('002-real-time-notifications-users');
  expect(existsSync(join(home, 'checkout', 'services', 'messages', 'api', 'messages.proto'))).toBe(true);
  expect(existsSync(join(workspace.path, 'services', 'notifications', 'Makefile'))).toBe(true);
});

describe('feature numbers that cannot collide', () => {

  test('a crash between reserving a number and making the branch: the retry keeps the number; another run takes the next', async () => {
    const { repo, worktrees } = await fixtureRepo();
    const { repository } = settingsFor({ path: repo, worktreesDir: worktrees });
    const repoGit = repositoryGit(repo);
    // Run A reserved 002 and "crashed" before its branch existed.
    const held = await reserveNumber(repoGit, await runBlob(repoGit, 'run-a'), { runId: 'run-a', baseBranch: 'main', taken: [1] });
    expect(held).toBe(2);
    expect(git(repo, 'for-each-ref', '--format=%(refname)', RESERVATIONS)).toBe(`${RESERVATIONS}2`);
    // Run B, meanwhile, cannot take 002.
    expect((await activities.prepareWorkspace({ runId: 'run-b', feature: 'Export invoices as PDF', repository })).branch).toBe('003-export-invoices-as-pdf');
    // A's retry finds its own reservation.
    expect((await activities.prepareWorkspace({ runId: 'run-a', feature, repository })).branch).toBe('002-real-time-notifications-users');
    // A crash after the branch but before the worktree: the retry uses the branch it made.
    const c = await reserveNumber(repoGit, await runBlob(repoGit, 'run-c'), { runId: 'run-c', baseBranch: 'main', taken: [] });
    git(repo, 'branch', `00${c}-search-messages`, 'main');
    expect((await activities.prepareWorkspace({ runId: 'run-c', feature: 'Search messages', repository })).branch).toBe(`00${c}-search-messages`);
  });

  test('workers on two machines sharing a remote share one sequence', async () => {
    const { repo, worktrees } = await fixtureRepo();
    const remote = await mkdtemp(join(tmpdir(), 'slipway-remote-'));
    git(remote, 'init', '-q', '--bare');
    git(repo, 'remote', 'add', 'origin', remote);
    git(repo, 'push', '-q', 'origin', 'main');
    const other = join(await mkdtemp(join(tmpdir(), 'slipway-machine-')), 'repo');
    git(tmpdir(), 'clone', '-q', '-b', 'main', remote, other);
    const here = settingsFor({ path: repo, worktreesDir: worktrees, remote: 'origin' }).repository;
    const there = settingsFor({ path: other, worktreesDir: join(other, '..', 'worktrees'), remote: 'origin' }).repository;
    const made = await Promise.all(
      Array.from({ length: 12 }, (_, i) => activities.prepareWorkspace({ runId: `run-${i}`, feature: `Feature number ${i}`, repository: i % 2 === 0 ? here : there })),
    );
    const numbers = made.map((w) => Number(w.branch.split('-')[0]));
    expect(new Set(numbers).size).toBe(12);
    expect([...numbers].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 2));
  });
});
