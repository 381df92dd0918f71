/**
 * Finds a working bubblewrap already on this machine: PATH first, then the tool cache (where
 * scripts/bubblewrap.ts unpacks Debian's package at start-up). Never installs anything.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../../config/toolCache';

const run = promisify(execFile);

/** Where bwrap sits inside Debian's package. */
export const BWRAP_IN_PACKAGE = 'usr/bin/bwrap';

export async function bwrapWorks(binary: string): Promise<boolean> {
  return run(binary, ['--version'], { timeout: 10_000, env: {} }).then(
    () => true,
    () => false,
  );
}

/** The absolute path of `name` on PATH, as the shell would pick it. */
async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  return undefined;
}

/**
 * A working bwrap already on this machine (PATH first, then the cache), as an absolute path, or
 * undefined. Never downloads: activities may call it.
 */
export async function locateBubblewrap(): Promise<string | undefined> {
  const fromPath = await onPath('bwrap');
  if (fromPath !== undefined && (await bwrapWorks(fromPath))) return fromPath;
  const tools = join(cacheDir(), 'tools');
  const cached = (await readdir(tools).catch(() => [] as string[])).filter((d) => d.startsWith('bubblewrap-') && !d.includes('.partial-')).sort().reverse();
  for (const dir of cached) {
    const binary = join(tools, dir, BWRAP_IN_PACKAGE);
    if (await bwrapWorks(binary)) return binary;
  }
  return undefined;
}

