import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const git = (cwd: string, ...args: string[]): string =>
  execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@localhost', ...args], { cwd, encoding: 'utf8' }).trim();

/**
 * A real repository on `main` with two small services (messages, notifications), one spec already
 * delivered (001), and a folder for worktrees.
 */
export async function fixtureRepo(): Promise<{ repo: string; worktrees: string }> {
  const root = await mkdtemp(join(tmpdir(), 'slipway-repo-'));
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
