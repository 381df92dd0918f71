/**
 * Hostile tests of Slipway's own git calls: the worktree (written by agents and sandboxed
 * commands) rewrites its `.git`, plants repositories and hooks, and moves HEAD; a Slipway commit
 * must still land on the run's branch in the real repository, run nothing, and change nothing else.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { runWorkspaceTool } from '../../activities/agents/tools';
import { createRepoActivities } from '../../activities/repo';
import { configuredWorktreePaths } from '../../activities/repo/git';
import { commitPaths, prepareWorkspace } from '../../activities/repo/workspace';
import { runSandboxed } from '../../activities/sandbox';
import type { RunState, Workspace } from '../../workflows/state';
import { fixtureRepo, git } from '../support/gitRepo';

const SECRET = `sk-ant-planted-${randomBytes(12).toString('hex')}`;
const HOOKS = ['pre-commit', 'prepare-commit-msg', 'commit-msg', 'post-commit', 'pre-push', 'post-index-change', 'reference-transaction', 'post-checkout'];

let repo: string;
let workspace: Workspace;
let markers: string;
let fsmonitor: string;

/** A hook (or fsmonitor) script that, if git ever ran it, leaves a marker and the environment it saw. */
const hookScript = (name: string) => `#!/bin/sh\ntouch ${markers}/${name}\nenv > ${markers}/${name}.env\nexit 0\n`;

async function plantHooks(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const hook of HOOKS) {
    await writeFile(join(dir, hook), hookScript(hook));
    await chmod(join(dir, hook), 0o755);
  }
}

const sandboxed = (command: string) => runSandboxed({ command, worktree: workspace.path, cwd: workspace.path, network: false, timeoutMs: 20_000, outputCapBytes: 16 * 1024 });
const branchCommits = () => Number(git(repo, 'rev-list', '--count', `main..${workspace.branch}`));

beforeEach(async () => {
  process.env.ANTHROPIC_API_KEY = SECRET;
  const fixture = await fixtureRepo();
  repo = fixture.repo;
  markers = join(repo, '..', 'markers');
  await mkdir(markers, { mode: 0o777 });
  await chmod(markers, 0o777); // anyone could write here: only "nothing ran" keeps it empty
  fsmonitor = join(repo, '..', 'fsmonitor.sh');
  await writeFile(fsmonitor, hookScript('fsmonitor'));
  await chmod(fsmonitor, 0o755);
  workspace = await prepareWorkspace({ path: repo, baseBranch: 'main', worktreesDir: fixture.worktrees, keepWorktrees: false }, 'run-git', 'Add notifications');
  // The repository's own hooks: what git would run for a commit in the worktree.
  await plantHooks(join(repo, '.git', 'hooks'));
});

afterEach(() => {
  delete process.env.ANTHROPIC_API_KEY;
});

test('the planted hooks are live: plain git in the worktree runs them', async () => {
  git(workspace.path, 'hook', 'run', 'pre-commit');
  expect(await readdir(markers)).toContain('pre-commit');
});

test('the workspace knows its admin folder from the repository side', async () => {
  expect(workspace.gitDir).toBe(join(repo, '.git', 'worktrees', 'run-git'));
});

test(".git rewritten by a sandboxed command to point at a repository it built: Slipway's commit lands in the real one, runs no hook", async () => {
  const result = await sandboxed(
    [
      'git init -q -b main evil-src && mv evil-src/.git evil-git && rm -rf evil-src',
      'mkdir -p evil-git/hooks',
      ...HOOKS.map((h) => `printf '%s' '${hookScript(h).replaceAll("'", "'\\''")}' > evil-git/hooks/${h} && chmod +x evil-git/hooks/${h}`),
      `git --git-dir=evil-git config core.fsmonitor ${fsmonitor}`,
      `git --git-dir=evil-git config core.hooksPath evil-git/hooks`,
      'printf "gitdir: %s/evil-git\\n" "$PWD" > .git',
      'echo feature > feature.txt',
    ].join(' && '),
  );
  expect(result).toMatchObject({ code: 0 });
  const mainBefore = git(repo, 'rev-parse', 'main');

  const commit = await commitPaths(workspace, ['.'], 'feat: notifications');
  expect(commit).toMatch(/^[0-9a-f]{40}$/);
  expect(git(repo, 'rev-parse', workspace.branch)).toBe(commit);
  expect(git(repo, 'log', '-1', '--format=%an %s', workspace.branch)).toBe('Slipway feat: notifications');
  expect(git(repo, 'show', `${workspace.branch}:feature.txt`)).toBe('feature');
  expect(await readdir(markers)).toEqual([]);
  expect(git(repo, 'rev-parse', 'main')).toBe(mainBefore);
  // (The repository's own hooks are planted too: this check must not run them.)
  expect(git(repo, '-c', 'core.hooksPath=/dev/null', 'status', '--porcelain')).toBe('');
  // The agent's fake repository got no commit.
  expect(() => git(workspace.path, '--git-dir', join(workspace.path, 'evil-git'), 'rev-parse', '--verify', 'HEAD')).toThrow();

  // A retried prepareWorkspace finds the real branch, not the one the rewritten .git names.
  expect(await prepareWorkspace({ path: repo, baseBranch: 'main', worktreesDir: join(repo, '..', 'worktrees'), keepWorktrees: false }, 'run-git', 'Add notifications')).toEqual(workspace);
  // A workspace recorded without its admin folder does not trust the rewritten .git.
  const { gitDir: _known, ...old } = workspace;
  await expect(commitPaths(old, ['.'], 'x')).rejects.toMatchObject({ type: 'WorkspaceGitDirUntrusted', nonRetryable: true });
  expect(await readdir(markers)).toEqual([]);
});

test('.git replaced by a repository folder, and a nested repository with hooks and fsmonitor: still no hook, the real branch moves', async () => {
  const result = await sandboxed(
    [
      'rm .git && git init -q -b main . && mkdir -p .git/hooks',
      ...HOOKS.map((h) => `printf '%s' '${hookScript(h).replaceAll("'", "'\\''")}' > .git/hooks/${h} && chmod +x .git/hooks/${h}`),
      `git config core.fsmonitor ${fsmonitor}`,
      `git init -q -b main nested && cp -r .git/hooks nested/.git/ && git -C nested config core.fsmonitor ${fsmonitor}`,
      'git -C nested -c user.name=a -c user.email=b commit -q --allow-empty --no-verify -m nested',
      'echo x > nested/file && echo change >> README.md',
    ].join(' && '),
  );
  expect(result).toMatchObject({ code: 0 });
  const before = branchCommits();
  const commit = await commitPaths(workspace, ['.'], 'docs: readme');
  expect(commit).toBeDefined();
  expect(branchCommits()).toBe(before + 1);
  expect(git(repo, 'show', `${workspace.branch}:README.md`)).toBe('# fixture\nchange');
  expect(await readdir(markers)).toEqual([]);
});

test('a detached HEAD or HEAD on another branch is refused; nothing is committed anywhere', async () => {
  await writeFile(join(workspace.path, 'x.txt'), 'x\n');
  const head = join(workspace.gitDir as string, 'HEAD');
  const original = await readFile(head, 'utf8');
  await writeFile(head, `${git(repo, 'rev-parse', 'main')}\n`);
  await expect(commitPaths(workspace, ['.'], 'x')).rejects.toMatchObject({ type: 'WorkspaceNotOnBranch', nonRetryable: true, message: expect.stringMatching(/detached HEAD/) });
  await writeFile(head, 'ref: refs/heads/main\n');
  await expect(commitPaths(workspace, ['.'], 'x')).rejects.toMatchObject({ type: 'WorkspaceNotOnBranch', message: expect.stringMatching(/on refs\/heads\/main, not on the run's branch/) });
  await writeFile(head, original);
  expect(git(repo, 'rev-parse', 'main')).toBe(git(repo, 'rev-parse', `${workspace.branch}`));
  expect(await commitPaths(workspace, ['.'], 'now on the branch')).toBeDefined();
});

test('repository config that would run a program from the worktree is refused before git runs it, and the tools will not write it', async () => {
  execFileSync('git', ['-C', repo, 'config', 'filter.evil.clean', './scripts/clean.sh']);
  execFileSync('git', ['-C', repo, 'config', 'core.hooksPath', '.husky']);
  await mkdir(join(workspace.path, 'scripts'));
  await writeFile(join(workspace.path, 'scripts', 'clean.sh'), hookScript('filter'));
  await chmod(join(workspace.path, 'scripts', 'clean.sh'), 0o755);
  await writeFile(join(workspace.path, '.gitattributes'), '* filter=evil\n');
  await expect(commitPaths(workspace, ['.'], 'x')).rejects.toMatchObject({ type: 'GitConfigUnsafe', nonRetryable: true, message: expect.stringMatching(/filter\.evil\.clean → scripts\/clean\.sh/) });
  expect(await readdir(markers)).toEqual([]);
  const paths = await configuredWorktreePaths({ gitDir: workspace.gitDir as string, worktree: workspace.path });
  expect(paths.map((p) => `${p.key} ${p.path} ${p.runs}`).sort()).toEqual(['core.hookspath .husky false', 'filter.evil.clean scripts/clean.sh true']);
  const ctx = { root: workspace.path, maxFileBytes: 4096, commands: [], commandTimeoutMs: 1000, outputCapBytes: 100, protectedPaths: paths.map((p) => p.path) };
  expect((await runWorkspaceTool(ctx, 'create_file', { path: 'scripts/clean.sh', content: 'x' })).ok).toBe(false);
  expect((await runWorkspaceTool(ctx, 'create_file', { path: '.husky/pre-commit', content: 'x' })).ok).toBe(false);
});

test("Slipway's own writes into the worktree do not follow a planted symlink (the run report)", async () => {
  const outside = join(repo, '..', 'outside');
  await mkdir(outside);
  await mkdir(join(workspace.path, 'specs'), { recursive: true });
  execFileSync('rm', ['-rf', join(workspace.path, workspace.specDir)]);
  execFileSync('ln', ['-s', outside, join(workspace.path, workspace.specDir)]);
  const activities = createRepoActivities({ logger: pino({ level: 'silent' }) });
  const state: RunState = {
    runId: 'run-git',
    feature: 'f',
    requester: 'r',
    services: [],
    mode: 'person',
    status: 'succeeded',
    phase: 'report',
    workspace,
    gates: {},
    approvals: [],
    artifacts: [],
    timeline: [],
    timelineDropped: 0,
    images: [],
    rollouts: [],
    watches: [],
    compensations: [],
    cost: { total: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0 }, byPhase: {} },
    startedAt: '2026-11-25T00:00:00.000Z',
  };
  await expect(activities.writeReport({ runId: 'run-git', workspace, repository: { path: repo, baseBranch: 'main', worktreesDir: join(repo, '..', 'worktrees'), keepWorktrees: false }, state })).rejects.toThrow(/is a symlink/);
  expect(existsSync(join(outside, 'report.md'))).toBe(false);
});
