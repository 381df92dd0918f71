import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// safe.directory: worktrees belong to the sandbox user once a sandboxed command has run in them.
export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', '-c', 'safe.directory=*', ...args], { cwd, encoding: 'utf8' }).trim();

/**
 * A real repository on `main` with two small services (messages, notifications), one spec already
 * delivered (001), and a folder for worktrees.
 */
export async function fixtureRepo(): Promise<{ repo: string; worktrees: string }> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-repo-'));
  // The sandbox user must be able to reach the worktrees below (mkdtemp makes the folder 0700).
  await chmod(root, 0o755);
  const repo = join(root, 'repo');
  await mkdir(join(repo, 'specs', '001-existing-feature'), { recursive: true });
  await writeFile(join(repo, 'specs', '001-existing-feature', 'spec.md'), '# old\n');
  await writeFile(join(repo, 'README.md'), '# fixture\n');
  for (const service of ['messages', 'notifications']) {
    await mkdir(join(repo, 'services', service, 'api'), { recursive: true });
    await writeFile(join(repo, 'services', service, 'api', `${service}.proto`), `syntax = "proto3";\npackage ${service}.v1;\nservice ${service[0]?.toUpperCase()}${service.slice(1)} {}\n`);
    await writeFile(join(repo, 'services', service, 'Makefile'), 'test:\n\t@echo ok\n');
  }
  git(repo, 'init', '-q', '-b', 'main');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'initial');
  return { repo, worktrees: join(root, 'worktrees') };
}
