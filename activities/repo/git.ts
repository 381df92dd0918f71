/**
 * Slipway's own git calls on a run's worktree, which the worktree cannot steer.
 *
 * The worktree is written by agents and sandboxed commands; git, run by Slipway, would otherwise
 * take orders from it: its `.git` file says where the repository is (so a rewritten one points git
 * at a folder full of hooks and config the agent wrote), and hooks, fsmonitor and filters run
 * programs with Slipway's user and environment. So every call here names the repository
 * explicitly (GIT_DIR: the worktree's admin folder in the main repository, found from the
 * repository's side; GIT_WORK_TREE), disables hooks and fsmonitor, refuses repository config that
 * would run a program from the worktree, and runs with a minimal environment.
 */
import { constants } from 'node:fs';
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, delimiter, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { simpleGit, type SimpleGit } from 'simple-git';

export interface WorktreeGitTarget {
  /** The worktree's admin folder in the main repository, `<repo>/.git/worktrees/<name>`. */
  gitDir: string;
  /** The worktree itself. */
  worktree: string;
}

export interface BranchTarget extends WorktreeGitTarget {
  /** The run's feature branch: the only branch Slipway commits to or pushes from this worktree. */
  branch: string;
}

/** `-c` settings on every call; hooks and fsmonitor are the two ways config runs a program on add and commit. */
const HARDENING = [
  'core.hooksPath=/dev/null',
  'core.fsmonitor=false',
  'submodule.recurse=false',
  'push.recurseSubmodules=no',
  'gc.auto=0',
  'maintenance.auto=false',
  // Slipway commits as itself, whatever identity the machine has configured.
  'user.name=Slipway',
  'user.email=slipway@localhost',
];

/** Config keys whose value is a program git may run; any path in them must not lie in the worktree. */
const PROGRAM_KEY =
  /^(filter\..+\.(clean|smudge|process)|diff\..+\.(textconv|command)|diff\.external|merge\..+\.driver|core\.(editor|pager|askpass|sshcommand|gitproxy)|credential\.(.+\.)?helper|gpg\.(.+\.)?program|sequence\.editor|pager\..+|(merge|diff)tool\..+\.(cmd|path)|remote\..+\.(uploadpack|receivepack|vcs)|uploadpack\.packobjectshook|alias\..+)$/;
/** Config keys whose value is a file git reads. */
const FILE_KEY = /^(core\.(hookspath|excludesfile|attributesfile|worktree)|commit\.template|include\.path|includeif\..+\.path|gpg\.ssh\.allowedsignersfile|mailmap\.file|blame\.ignorerevsfile)$/;
/** Overridden by HARDENING on every call, so a worktree path there runs nothing. */
const OVERRIDDEN = new Set(['core.hookspath', 'core.fsmonitor']);

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${sep}`));
}

/** PATH without relative entries or entries in the worktree: a bare program name in config must not find the agent's. */
function safePath(worktree: string): string {
  return (process.env.PATH ?? '/usr/bin:/bin')
    .split(delimiter)
    .filter((dir) => isAbsolute(dir) && !inside(worktree, dir))
    .join(delimiter);
}

/**
 * A simple-git client for the worktree with the repository named explicitly and nothing
 * inherited: PATH (cleaned), HOME and LANG, the GIT_* variables set here, and `env` (e.g.
 * SSH_AUTH_SOCK for a push).
 */
export function worktreeGit(target: WorktreeGitTarget, env: Record<string, string> = {}): SimpleGit {
  return simpleGit({
    baseDir: target.worktree,
    config: HARDENING,
    // simple-git guards these two keys because config can run programs through them; here they switch that off.
    unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true },
  }).env({
    PATH: safePath(target.worktree),
    HOME: process.env.HOME ?? '/',
    LANG: 'C.UTF-8',
    GIT_DIR: target.gitDir,
    GIT_WORK_TREE: target.worktree,
    GIT_TERMINAL_PROMPT: '0',
    // Paths Slipway passes to add are file names, never glob patterns.
    GIT_LITERAL_PATHSPECS: '1',
    ...env,
  });
}

export interface ConfiguredPath {
  key: string;
  /** Relative to the worktree. */
  path: string;
}

/** Path-like words in a config value (a command line or a file name), resolved the way git would: from the worktree's top. */
function pathsIn(value: string, worktree: string): string[] {
  return value
    .replace(/^!/, '')
    .split(/[\s;|&()'"=]+/)
    .filter((word) => word !== '' && !word.startsWith('-') && !word.includes('://') && (isAbsolute(word) || word.includes('/') || word.startsWith('.')))
    .map((word) => resolve(worktree, word.replace(/^~(?=\/)/, process.env.HOME ?? '~')));
}

/** Every config value (system, global, repository, worktree) that names a file or program inside the worktree. */
export async function configuredWorktreePaths(target: WorktreeGitTarget): Promise<(ConfiguredPath & { runs: boolean })[]> {
  const worktree = await realpath(target.worktree);
  const listing = await worktreeGit(target).raw(['config', '--list', '--includes', '-z']);
  const found: (ConfiguredPath & { runs: boolean })[] = [];
  for (const entry of listing.split('\0')) {
    const newline = entry.indexOf('\n');
    if (newline < 0) continue;
    const key = entry.slice(0, newline).toLowerCase();
    const value = entry.slice(newline + 1);
    const runs = PROGRAM_KEY.test(key);
    if (!runs && !FILE_KEY.test(key)) continue;
    for (const path of pathsIn(value, worktree)) {
      if (inside(worktree, path)) found.push({ key, path: relative(worktree, path) || '.', runs: runs && !OVERRIDDEN.has(key) });
    }
  }
  return found;
}

/** Refuses to run git on a worktree whose repository config would run a program from that worktree. */
export async function assertConfigSafe(target: WorktreeGitTarget): Promise<void> {
  const unsafe = (await configuredWorktreePaths(target)).filter((p) => p.runs);
  if (unsafe.length > 0) {
    throw ApplicationFailure.nonRetryable(
      `the repository's git config runs programs from the run's worktree (${unsafe.map((p) => `${p.key} → ${p.path}`).join(', ')}): an agent could rewrite them; point them outside the worktree`,
      'GitConfigUnsafe',
    );
  }
}

const trimmedText = async (file: string) => (await readFile(file, 'utf8')).trim();

/**
 * A simple-git client for the main checkout (trusted: no agent writes it), with the same hardening
 * and minimal environment as worktree calls. It finds its repository the usual way.
 */
export function repositoryGit(repository: string): SimpleGit {
  return simpleGit({ baseDir: repository, config: HARDENING, unsafe: { allowUnsafeHooksPath: true, allowUnsafeFsMonitor: true } }).env({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/',
    LANG: 'C.UTF-8',
    GIT_TERMINAL_PROMPT: '0',
  });
}

/** The repository's common git folder (`<repo>/.git`), asked of the main checkout. */
async function commonDirOf(repository: string): Promise<string> {
  const out = (await repositoryGit(repository).raw(['rev-parse', '--git-common-dir'])).trim();
  return realpath(resolve(repository, out));
}

/**
 * The admin folder of `worktree` in `repository`: the `worktrees/<name>` whose `gitdir` file (in
 * the repository, not the worktree) points at `<worktree>/.git`. Undefined when the repository has
 * no such worktree.
 */
export async function findWorktreeGitDir(repository: string, worktree: string): Promise<string | undefined> {
  const common = await commonDirOf(repository);
  const want = join(resolve(worktree), '.git');
  const folder = join(common, 'worktrees');
  for (const name of await readdir(folder).catch(() => [] as string[])) {
    const gitdir = await trimmedText(join(folder, name, 'gitdir')).catch(() => undefined);
    if (gitdir !== undefined && resolve(folder, name, gitdir) === want) return join(folder, name);
  }
  return undefined;
}

/**
 * For workspaces recorded before they carried their git folder: the worktree's `.git` file is
 * read only as a hint, and accepted only when what it names is outside the worktree and is an
 * admin folder whose own `gitdir` file (which nothing in the sandbox can write) points back here.
 */
export async function verifiedGitDirHint(worktree: string): Promise<string> {
  const root = await realpath(worktree);
  const refuse = (why: string) => ApplicationFailure.nonRetryable(`cannot trust the git folder of ${worktree}: ${why}`, 'WorkspaceGitDirUntrusted');
  const handle = await open(join(root, '.git'), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (handle === undefined) throw refuse('it has no .git file and the workspace does not name its git folder');
  let text: string;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > 4096) throw refuse('.git is not a small file');
    text = (await handle.readFile('utf8')).trim();
  } finally {
    await handle.close();
  }
  const match = /^gitdir: (.+)$/.exec(text);
  if (match?.[1] === undefined) throw refuse('.git does not name a git folder');
  const candidate = await realpath(resolve(root, match[1])).catch(() => undefined);
  if (candidate === undefined || inside(root, candidate)) throw refuse('.git names a folder inside the worktree or none');
  const common = await realpath(resolve(candidate, await trimmedText(join(candidate, 'commondir')).catch(() => '../..'))).catch(() => undefined);
  if (common === undefined || inside(root, common) || dirname(candidate) !== join(common, 'worktrees')) throw refuse('.git does not name a worktree admin folder of a repository');
  if (!(await stat(join(common, 'HEAD')).then((s) => s.isFile(), () => false))) throw refuse('.git names no repository');
  const back = await trimmedText(join(candidate, 'gitdir')).catch(() => undefined);
  if (back === undefined || resolve(candidate, back) !== join(root, '.git')) throw refuse(`the admin folder ${basename(candidate)} belongs to another worktree`);
  return candidate;
}

const onBranch = async (git: SimpleGit) => (await git.raw(['symbolic-ref', '-q', 'HEAD']).catch(() => '')).trim();

/**
 * Commits what changed under `paths` on the run's branch, and only there; returns the commit or
 * undefined when nothing changed (never an empty commit). Refuses when HEAD is detached or on
 * another branch, and checks afterwards that the branch moved by exactly this commit and that no
 * other branch points at it. With a remote, pushes exactly refs/heads/<branch> (a no-op when it
 * is already there).
 */
export async function commitOnBranch(target: BranchTarget, paths: string[], message: string, options: { remote?: string } = {}): Promise<string | undefined> {
  const git = worktreeGit(target);
  await assertConfigSafe(target);
  const ref = `refs/heads/${target.branch}`;
  const wrongBranch = (head: string) =>
    ApplicationFailure.nonRetryable(`the worktree ${target.worktree} is ${head === '' ? 'on a detached HEAD' : `on ${head}`}, not on the run's branch ${ref}: refusing to commit`, 'WorkspaceNotOnBranch');
  const head = await onBranch(git);
  if (head !== ref) throw wrongBranch(head);
  const before = (await git.raw(['rev-parse', '--verify', `${ref}^{commit}`])).trim();

  await git.raw(['add', '--', ...paths]);
  const staged = await git.raw(['diff', '--cached', '--name-only', '--no-ext-diff', '--no-textconv']);
  let commit: string | undefined;
  if (staged.trim() !== '') {
    await git.raw(['commit', '--no-verify', '--no-edit', '--quiet', '-m', message]);
    commit = (await git.raw(['rev-parse', '--verify', `${ref}^{commit}`])).trim();
    const parent = (await git.raw(['rev-parse', '--verify', `${commit}^`]).catch(() => '')).trim();
    const after = await onBranch(git);
    const sharing = (await git.raw(['for-each-ref', '--format=%(refname)', '--points-at', commit, 'refs/heads/'])).split('\n').filter((r) => r !== '' && r !== ref);
    if (after !== ref || parent !== before || sharing.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `the commit ${commit} did not land on ${ref} alone (HEAD ${after || 'detached'}, parent ${parent || 'none'} instead of ${before}${sharing.length > 0 ? `, also on ${sharing.join(', ')}` : ''})`,
        'CommitMisplaced',
      );
    }
  }
  if (options.remote !== undefined) {
    // An ssh push may need the agent socket; no hook or filter runs, so nothing of the worktree's sees it.
    const auth: Record<string, string> = process.env.SSH_AUTH_SOCK !== undefined ? { SSH_AUTH_SOCK: process.env.SSH_AUTH_SOCK } : {};
    try {
      await worktreeGit(target, auth).raw(['push', '--no-verify', '--set-upstream', options.remote, `${ref}:${ref}`]);
    } catch (err) {
      throw ApplicationFailure.retryable(`git push of ${target.branch} to ${options.remote} failed: ${(err as Error).message}`, 'GitPushFailed');
    }
  }
  return commit;
}
