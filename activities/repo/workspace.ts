import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { simpleGit, type SimpleGit } from 'simple-git';
import type { RepositorySettings } from '../../config/settings';
import type { Workspace } from '../../workflows/state';
import { assertConfigSafe, commitOnBranch, findWorktreeGitDir, repositoryGit, verifiedGitDirHint, worktreeGit } from './git';
import { featureNumberOf, formatFeatureNumber, reserveNumber, runBlob, withGitLocks } from './numbering';

const STOP_WORDS = new Set(['a', 'an', 'the', 'to', 'of', 'for', 'and', 'or', 'when', 'with', 'in', 'on', 'add', 'new']);

/** The spec-kit short name: a few meaningful words of the feature. */
export function shortName(feature: string): string {
  const words = feature.toLowerCase().split(/[^a-z0-9]+/).filter((w) => w && !STOP_WORDS.has(w));
  return words.slice(0, 4).join('-') || 'feature';
}

/** Opens the checkout, cloning it from `url` first when it does not exist yet. */
async function openRepository(settings: RepositorySettings): Promise<SimpleGit> {
  const root = resolve(settings.path);
  if (!existsSync(root)) {
    if (settings.url === undefined) throw ApplicationFailure.nonRetryable(`repository.path ${root} does not exist (set repository.url to clone it)`, 'RepositoryNotFound');
    // Clone next to the target and move it in whole, so a cut-off clone is never mistaken for a checkout.
    const partial = `${root}.cloning-${process.pid}`;
    try {
      await simpleGit().clone(settings.url, partial, ['--branch', settings.baseBranch]);
      await rename(partial, root);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw ApplicationFailure.retryable(`git clone of repository.url into ${root} failed: ${(err as Error).message}`, 'GitCloneFailed');
    }
  }
  const git = repositoryGit(root);
  if (!(await git.checkIsRepo())) {
    throw ApplicationFailure.nonRetryable(`repository.path ${root} is not a git repository`, 'RepositoryNotFound');
  }
  const base = await git.raw(['rev-parse', '--verify', '--quiet', `${settings.baseBranch}^{commit}`]).catch(() => '');
  if (base.trim() === '') {
    throw ApplicationFailure.nonRetryable(`repository ${root} has no branch "${settings.baseBranch}" (repository.baseBranch)`, 'RepositoryNotFound');
  }
  return git;
}

/** Numbers in use outside the reservations: `specs/NNN-*` on the base branch and every `NNN-*` branch, local or remote. */
async function numbersInUse(git: SimpleGit, baseBranch: string): Promise<number[]> {
  const specs = await git.raw(['ls-tree', '-d', '--name-only', `${baseBranch}:specs`]).catch(() => '');
  const branches = await git.raw(['for-each-ref', '--format=%(refname:lstrip=-1)', 'refs/heads/', 'refs/remotes/']);
  return [...specs.split('\n'), ...branches.split('\n')].map(featureNumberOf).filter((n): n is number => n !== undefined);
}

/**
 * The run's worktree on its feature branch NNN-short-name, with a number no other run holds (see
 * ./numbering.ts). Idempotent: a retried call (after a crash at any point) finds the number, the
 * branch or the worktree this run already made. The worktree is recognised from the repository's
 * side (its registered worktrees), never from its own `.git`.
 */
export async function prepareWorkspace(settings: RepositorySettings, runId: string, feature: string): Promise<Workspace> {
  const git = await openRepository(settings);
  const folder = resolve(settings.worktreesDir, runId.replace(/[^A-Za-z0-9._-]/g, '_'));
  const known = await findWorktreeGitDir(resolve(settings.path), folder);
  if (known !== undefined) {
    const head = (await worktreeGit({ gitDir: known, worktree: folder }).raw(['symbolic-ref', '-q', 'HEAD']).catch(() => '')).trim();
    if (!head.startsWith('refs/heads/')) throw ApplicationFailure.nonRetryable(`the worktree ${folder} of run ${runId} is not on a branch (HEAD ${head || 'detached'})`, 'WorkspaceNotOnBranch');
    const branch = head.slice('refs/heads/'.length);
    return { branch, path: folder, specDir: `specs/${branch}`, gitDir: known };
  }
  await mkdir(resolve(settings.worktreesDir), { recursive: true });
  const number = await reserveNumber(git, await runBlob(git, runId), {
    runId,
    baseBranch: settings.baseBranch,
    ...(settings.remote !== undefined ? { remote: settings.remote } : {}),
    taken: await numbersInUse(git, settings.baseBranch),
  });
  const branch = `${formatFeatureNumber(number)}-${shortName(feature)}`;
  // A crash between the steps below leaves a branch, or a folder git does not list: both are this run's.
  const branchExists = (await git.raw(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).catch(() => '')).trim() !== '';
  if (existsSync(folder)) await rm(folder, { recursive: true, force: true });
  await withGitLocks('creating the worktree', () => git.raw(['worktree', 'add', ...(branchExists ? [folder, branch] : ['-b', branch, folder, settings.baseBranch])]));
  const gitDir = await findWorktreeGitDir(resolve(settings.path), folder);
  if (gitDir === undefined) throw ApplicationFailure.nonRetryable(`git worktree add made ${folder}, but the repository does not list it`, 'WorkspaceNotRegistered');
  await mkdir(join(folder, 'specs', branch), { recursive: true });
  return { branch, path: folder, specDir: `specs/${branch}`, gitDir };
}

/**
 * Removes a run's worktree when the run has ended (its branch stays: it is the run's history).
 * Idempotent; a folder git no longer lists is removed too.
 */
export async function removeWorkspace(settings: RepositorySettings, workspace: Workspace): Promise<void> {
  const git = await openRepository(settings);
  const registered = await findWorktreeGitDir(resolve(settings.path), workspace.path);
  if (registered !== undefined) await withGitLocks('removing the worktree', () => git.raw(['worktree', 'remove', '--force', '--force', workspace.path]));
  await rm(workspace.path, { recursive: true, force: true });
  await withGitLocks('pruning worktrees', () => git.raw(['worktree', 'prune']));
}

/**
 * Removes the worktrees (and leftover folders) under worktreesDir whose run is no longer open,
 * e.g. at a worker's start after runs ended while no worker was there to clean up. Returns what it removed.
 */
export async function pruneWorkspaces(settings: RepositorySettings, isOpen: (runId: string) => Promise<boolean>): Promise<string[]> {
  if (!existsSync(resolve(settings.path)) || !existsSync(resolve(settings.worktreesDir))) return [];
  const removed: string[] = [];
  for (const name of await readdir(resolve(settings.worktreesDir))) {
    if (await isOpen(name)) continue;
    const path = resolve(settings.worktreesDir, name);
    await removeWorkspace(settings, { branch: '', path, specDir: '' });
    removed.push(name);
  }
  return removed;
}

/**
 * Commits everything under `paths` in the worktree; returns the commit, or undefined when nothing
 * changed (so a retried activity never adds an empty commit). With a remote, the branch is pushed
 * too, which is a no-op when it is already there. Git runs with the worktree's admin folder named
 * explicitly, without hooks, and only ever commits to the workspace's branch (see ./git.ts).
 */
export async function commitPaths(workspace: Workspace, paths: string[], message: string, remote?: string): Promise<string | undefined> {
  const gitDir = workspace.gitDir ?? (await verifiedGitDirHint(workspace.path));
  return withGitLocks(`committing on ${workspace.branch}`, () => commitOnBranch({ gitDir, worktree: workspace.path, branch: workspace.branch }, paths, message, remote !== undefined ? { remote } : {}));
}

/**
 * Brings the worktree up to what people pushed to the run's branch on the remote (a person's
 * step): fetch, then fast-forward. Without a remote, people commit in the worktree itself and
 * there is nothing to pull. A branch that diverged is a problem for the person, not a failure.
 */
export async function syncWorkspace(workspace: Workspace, remote?: string): Promise<{ commit: string; problem?: string }> {
  const target = { gitDir: workspace.gitDir ?? (await verifiedGitDirHint(workspace.path)), worktree: workspace.path };
  await assertConfigSafe(target);
  const git = worktreeGit(target);
  const head = async () => (await git.revparse(['HEAD'])).trim();
  if (remote === undefined) return { commit: await head() };
  try {
    await git.fetch(remote, workspace.branch);
  } catch (err) {
    throw ApplicationFailure.retryable(`git fetch of ${workspace.branch} from ${remote} failed: ${(err as Error).message}`, 'GitFetchFailed');
  }
  const local = await head();
  const pushed = (await git.revparse(['FETCH_HEAD'])).trim();
  // `merge-base --is-ancestor` answers by exit code alone, which simple-git does not report: compare the merge base instead.
  const isAncestor = async (a: string, b: string) => (await git.raw(['merge-base', a, b]).catch(() => '')).trim() === a;
  if (pushed === local || (await isAncestor(pushed, local))) return { commit: local };
  if (!(await isAncestor(local, pushed))) {
    return { commit: local, problem: `branch ${workspace.branch} on ${remote} has diverged from Slipway's (${local.slice(0, 8)}): rebase your commits onto it and push again` };
  }
  await git.merge(['--ff-only', pushed]);
  return { commit: pushed };
}
