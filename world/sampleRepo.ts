/**
 * The sample monorepo a local Slipway run delivers features into: a git repository made from the
 * template in world/sample/, a bare remote it pushes to, and an npm cache that lets a fresh
 * worktree install its services' dependencies without a network.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SAMPLE_TEMPLATE_DIR = join(__dirname, 'sample');
export const SAMPLE_SERVICES = ['messages', 'notifications'] as const;
export type SampleService = (typeof SAMPLE_SERVICES)[number];

export interface ServiceCommands {
  /** Installs the service's dependencies from the lock file, offline, from the prepared npm cache. */
  setup: string;
  test: string;
  build: string;
  /**
   * Against a deployed environment (the variables Slipway's verification passes: <NAME>_SERVICE_HOST,
   * <NAME>_SERVICE_PORT_GRPC, …, DATABASE_URL): the smoke test (dev, production) and the integration
   * suite (staging), which really call the services.
   */
  smoke: string;
  integration: string;
  /** Production checks: a vulnerability audit and the outdated-dependency report (both need the registry). */
  audit: string;
  outdated: string;
}

/**
 * Each service's commands, run from the repository root. They need the environment of
 * sampleCommandEnv(): `npm ci --offline` finds every package in that cache and nothing on the network.
 */
export const SAMPLE_SERVICE_COMMANDS: Record<SampleService, ServiceCommands> = {
  messages: commandsFor('services/messages'),
  notifications: commandsFor('services/notifications'),
};

function commandsFor(path: string): ServiceCommands {
  return {
    setup: `cd ${path} && npm ci --offline --ignore-scripts --no-audit --no-fund`,
    test: `cd ${path} && npm test`,
    build: `cd ${path} && npm run build`,
    smoke: `cd ${path} && npm run smoke`,
    integration: `cd ${path} && npm run test:integration`,
    audit: `cd ${path} && npm audit --audit-level=high`,
    outdated: `cd ${path} && npm outdated`,
  };
}

/**
 * The variables SAMPLE_SERVICE_COMMANDS need. The cache must be writable: npm rewrites the index
 * entry of every packument it reads (make-fetch-happen compacts the bucket), and a failed write
 * counts as a miss, so a read-only cache fails with ENOTCACHED. This machine's npm config omits
 * `resolved` URLs from lock files, so npm ci reads a packument for every package.
 */
export function sampleCommandEnv(npmCache: string): Record<string, string> {
  return { npm_config_cache: npmCache, npm_config_update_notifier: 'false' };
}

export interface SampleRepo {
  /** The working repository, branch main. */
  path: string;
  remote: 'origin';
  /** The bare repository `origin` names. */
  remoteUrl: string;
  /** The npm cache that holds every package of the services' lock files. */
  npmCache: string;
}

const AUTHOR = { name: 'Slipway sample', email: 'sample@localhost' };
/** One fixed instant: the same template always makes the same commit, on every machine. */
const COMMIT_DATE = '2026-01-01T00:00:00Z';
const COMMIT_MESSAGE = 'Sample monorepo: the messages and notifications services';

/**
 * Creates `<dir>/repo` (branch main, one commit) with its bare remote `<dir>/remote.git` and the
 * npm cache `<dir>/npm-cache`, once; later calls change nothing and return the same. Touches
 * nothing outside `dir`. The first call needs the npm registry to fill the cache.
 */
export async function ensureSampleRepo(options: { dir: string; log?: (line: string) => void }): Promise<SampleRepo> {
  const dir = resolve(options.dir);
  const log = options.log ?? (() => undefined);
  await mkdir(dir, { recursive: true });
  const sample: SampleRepo = { path: join(dir, 'repo'), remote: 'origin', remoteUrl: join(dir, 'remote.git'), npmCache: join(dir, 'npm-cache') };
  return withLock(join(dir, '.sample.lock'), async () => {
    if (!existsSync(join(sample.path, '.git'))) {
      log(`sample: creating the sample monorepo in ${sample.path}`);
      await createRepo(dir, sample);
    }
    await ensureNpmCache(dir, sample, log);
    return sample;
  });
}

/** Built in a scratch folder and renamed into place, remote first: a present repo/ means both are complete. */
async function createRepo(dir: string, sample: SampleRepo): Promise<void> {
  const scratch = await mkdtemp(join(dir, '.partial-'));
  try {
    const repo = join(scratch, 'repo');
    const bare = join(scratch, 'remote.git');
    await copyTemplate(SAMPLE_TEMPLATE_DIR, repo);
    await git(repo, ['init', '--quiet', '--initial-branch=main']);
    await git(repo, ['add', '--all']);
    await git(repo, ['commit', '--quiet', '--no-verify', '-m', COMMIT_MESSAGE]);
    await git(scratch, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
    await git(repo, ['remote', 'add', 'origin', sample.remoteUrl]);
    // Pushed by path now (origin's path does not exist until the rename), tracked as origin/main.
    await git(repo, ['push', '--quiet', '--no-verify', bare, 'main:main']);
    await git(repo, ['update-ref', 'refs/remotes/origin/main', 'main']);
    await git(repo, ['config', 'branch.main.remote', 'origin']);
    await git(repo, ['config', 'branch.main.merge', 'refs/heads/main']);
    // A remote.git without repo/ is what an interrupted first call left behind.
    await rm(sample.remoteUrl, { recursive: true, force: true });
    await rename(bare, sample.remoteUrl);
    await rename(repo, sample.path);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `npm ci` of every service's lock file into the cache, repeated only when a lock file changed. */
async function ensureNpmCache(dir: string, sample: SampleRepo, log: (line: string) => void): Promise<void> {
  const services = (await readdir(join(sample.path, 'services'))).sort().filter((s) => existsSync(join(sample.path, 'services', s, 'package-lock.json')));
  const hash = createHash('sha256');
  for (const service of services) hash.update(`${service}\0`).update(await readFile(join(sample.path, 'services', service, 'package-lock.json')));
  const stamp = join(sample.npmCache, '.slipway-locks-sha256');
  const wanted = hash.digest('hex');
  if (existsSync(stamp) && (await readFile(stamp, 'utf8')) === wanted) return;
  log(`sample: filling the npm cache ${sample.npmCache} from ${services.length} lock files (npm registry)`);
  const scratch = await mkdtemp(join(dir, '.npm-partial-'));
  try {
    for (const service of services) {
      const project = join(scratch, service);
      await mkdir(project);
      for (const file of ['package.json', 'package-lock.json']) await copyFile(join(sample.path, 'services', service, file), join(project, file));
      await npm(project, ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', '--cache', sample.npmCache]);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  // Written last: a cut-off fill is redone next time.
  await writeFile(stamp, wanted);
}

async function copyTemplate(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    // Leftovers of building the template in place are not part of it.
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    if (entry.isDirectory()) await copyTemplate(join(from, entry.name), join(to, entry.name));
    else if (entry.isFile()) await copyFile(join(from, entry.name), join(to, entry.name));
  }
}

async function git(cwd: string, args: string[]): Promise<string> {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: AUTHOR.name,
    GIT_AUTHOR_EMAIL: AUTHOR.email,
    GIT_COMMITTER_NAME: AUTHOR.name,
    GIT_COMMITTER_EMAIL: AUTHOR.email,
    GIT_AUTHOR_DATE: COMMIT_DATE,
    GIT_COMMITTER_DATE: COMMIT_DATE,
  };
  try {
    // No signing and no hooks from the user's config: the commit must be the same everywhere.
    const { stdout } = await run('git', ['-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args], { cwd, env });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`git ${args[0]} failed in ${cwd}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

async function npm(cwd: string, args: string[]): Promise<void> {
  // npm passes its own settings to scripts as npm_* variables; a parent npm's must not steer this one.
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.toLowerCase().startsWith('npm_'))), npm_config_update_notifier: 'false' };
  try {
    await run('npm', args, { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 10 * 60_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}: ${(e.stderr ?? '').trim().split('\n').slice(-5).join(' ') || e.message}`);
  }
}

/** Runs `fn` while holding a lock directory; a lock older than ten minutes is a crashed holder's and is taken over. */
async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age > 10 * 60_000) await rm(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${lock} is held by another process; remove it if none is running`);
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
