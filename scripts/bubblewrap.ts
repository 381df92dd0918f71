/**
 * bubblewrap (`bwrap`), the sandbox every command from a run's branch runs in, installed by the
 * project itself: reused from PATH when it works, else Debian's `bubblewrap` package is downloaded
 * with apt-get and unpacked (not installed) into the per-user cache, keyed by its version.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readdir } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { unpackDebianPackage } from './debian';
import { cacheDir } from './temporal';

const run = promisify(execFile);
const BINARY = 'usr/bin/bwrap';

async function works(binary: string): Promise<boolean> {
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
  if (fromPath !== undefined && (await works(fromPath))) return fromPath;
  const tools = join(cacheDir(), 'tools');
  const cached = (await readdir(tools).catch(() => [] as string[])).filter((d) => d.startsWith('bubblewrap-') && !d.includes('.partial-')).sort().reverse();
  for (const dir of cached) {
    const binary = join(tools, dir, BINARY);
    if (await works(binary)) return binary;
  }
  return undefined;
}

/** A working bwrap, fetching Debian's package into the cache (once) when none is found. */
export async function ensureBubblewrap(log: (line: string) => void = console.log): Promise<string> {
  const found = await locateBubblewrap();
  if (found !== undefined) return found;
  log(`slipway: fetching Debian's bubblewrap package into ${join(cacheDir(), 'tools')} (once) ...`);
  try {
    return join(await unpackDebianPackage('bubblewrap', (folder) => works(join(folder, BINARY))), BINARY);
  } catch (err) {
    throw new Error(`${(err as Error).message}; install the bubblewrap package or put bwrap on PATH`);
  }
}

if (require.main === module) {
  ensureBubblewrap()
    .then((binary) => console.log(binary))
    .catch((err: Error) => {
      console.error(`slipway: ${err.message}`);
      process.exit(1);
    });
}
