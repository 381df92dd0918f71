/**
 * bubblewrap (`bwrap`), the sandbox every command from a run's branch runs in, installed by the
 * project itself: reused from PATH when it works, else Debian's `bubblewrap` package is downloaded
 * with apt-get and unpacked (not installed) into the per-user cache, keyed by its version.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
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
  const tools = join(cacheDir(), 'tools');
  log(`slipway: fetching Debian's bubblewrap package into ${tools} (once) ...`);
  const scratch = await mkdtemp(join(tmpdir(), 'slipway-bubblewrap-'));
  let partial: string | undefined;
  try {
    const download = () => run('apt-get', ['download', 'bubblewrap'], { cwd: scratch, maxBuffer: 16 * 1024 * 1024 });
    try {
      await download();
    } catch {
      // A machine that never ran `apt-get update` has no package lists yet.
      await run('apt-get', ['update', '-qq'], { maxBuffer: 16 * 1024 * 1024 });
      await download();
    }
    const deb = (await readdir(scratch)).find((f) => f.endsWith('.deb'));
    if (deb === undefined) throw new Error('apt-get download bubblewrap produced no .deb');
    const version = deb.replace(/^bubblewrap_/, '').replace(/_[^_]+\.deb$/, '').replace(/[^A-Za-z0-9.+-]/g, '_');
    await mkdir(tools, { recursive: true });
    const target = join(tools, `bubblewrap-${version}`);
    // Unpack beside the target and move it in whole, so a cut-off unpack never looks installed.
    partial = await mkdtemp(`${target}.partial-`);
    await run('dpkg-deb', ['-x', join(scratch, deb), partial]);
    if (!(await works(join(partial, BINARY)))) throw new Error(`the unpacked ${join(partial, BINARY)} does not run (missing libselinux1 or libcap2?)`);
    await rm(target, { recursive: true, force: true });
    await rename(partial, target);
    partial = undefined;
    return join(target, BINARY);
  } catch (err) {
    throw new Error(
      `could not install bubblewrap from Debian's package (${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}); install the bubblewrap package or put bwrap on PATH`,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
    if (partial !== undefined) await rm(partial, { recursive: true, force: true });
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
